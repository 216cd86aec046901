"""This gateway's channel to a peer: mTLS with its platform certificate, signed calls.

The channel trusts only the peer's own anchors (its bundle's ca.crt), presents the
certificate ``keys/parties/<platform_id>.crt`` that this gateway's CA issued, signs every
call with ``keys/parties/<platform_id>.sign.key`` and checks the peer's signed answers
against the bundle's ``answer.pub``. A caller signs first (``sign``), so that its own
audit entry names the signature before the call carries anything away.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from gateway.api import pb
from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import Clock
from gateway.crypto.signatures import load_party_signing_key
from gateway.crypto.signers import Verifier, load_verifier
from gateway.errors import BadSignature, ConfigurationError
from gateway.identify.request_signing import (
    HEADER_SIGNATURE,
    HEADER_TIME,
    RequestSignature,
    sign_request_bytes,
)
from gateway.identify.trust import PeerBundle
from gateway.respond.answers import verify_answer_bytes

PUSH_METHOD = "/credgate.v1.PeerService/PushChanges"


@dataclass(frozen=True)
class SignedPush:
    """A push signed before it is sent: its bytes, its headers, its signature."""

    body: bytes
    headers: list[tuple[str, str]]
    signature: RequestSignature


def platform_credentials(keys_dir: Path, platform_id: str, bundle: PeerBundle
                         ) -> PartyCredentials:
    """The files this gateway uses to call a peer as ``platform_id``."""
    party_dir = keys_dir / "parties"
    return PartyCredentials(party=platform_id, ca=bundle.ca_file,
                            cert=party_dir / f"{platform_id}.crt",
                            key=party_dir / f"{platform_id}.key",
                            signing_key=party_dir / f"{platform_id}.sign.key",
                            answer_key=bundle.answer_key_file)


class PeerClient:
    """A signed, verified channel to one peer gateway; raises ConfigurationError when the
    bundle gives no address or answer key, or this gateway has no platform identity."""

    def __init__(self, keys_dir: Path, platform_id: str, bundle: PeerBundle, *,
                 clock: Clock) -> None:
        if not platform_id:
            raise ConfigurationError("set platform_id: this gateway's party id at its peers")
        address = bundle.address()
        if address is None:
            raise ConfigurationError(f"the trust bundle of {bundle.peer} gives no target "
                                     "(peer.toml)")
        if bundle.answer_key_file is None:
            raise ConfigurationError(f"the trust bundle of {bundle.peer} has no answer.pub")
        credentials = platform_credentials(keys_dir, platform_id, bundle)
        self.peer = bundle.peer
        self.party = platform_id
        self._clock = clock
        self._key = load_party_signing_key(credentials.signing_key)
        self._answer_key: Verifier = load_verifier(bundle.answer_key_file)
        self.client = CredgateClient(address.target, credentials,
                                     server_name=address.server_name, clock=clock,
                                     verify_answers=False)  # verified here, by digest

    def sign(self, request: pb.PushChangesRequest) -> SignedPush:
        """Sign a push now, over the exact bytes that will be sent."""
        body = request.SerializeToString(deterministic=True)
        signed = sign_request_bytes(self._key, method=PUSH_METHOD, party=self.party,
                                    body=body, now=self._clock.now())
        headers = dict(signed.headers)
        return SignedPush(body=body, headers=signed.headers, signature=RequestSignature(
            method=PUSH_METHOD, time=headers[HEADER_TIME], digest=signed.digest,
            signature=base64.b64decode(headers[HEADER_SIGNATURE])))

    def push(self, signed: SignedPush, *, timeout: float = 30.0) -> pb.PushChangesResponse:
        """Send a signed push; the peer's answer, its signature checked over the bytes
        received. Raises grpc.RpcError, BadSignature."""
        self.client.peers.PushChanges(signed.body, metadata=signed.headers, timeout=timeout)
        raw = self.client.signer.last.answer
        if raw is None:
            raise BadSignature("the answer is not signed")
        answer, _ = verify_answer_bytes(raw, pb.PushChangesResponse, self._answer_key,
                                        method=PUSH_METHOD, party=self.party,
                                        request_digest=signed.signature.digest)
        assert isinstance(answer, pb.PushChangesResponse)
        return answer

    def close(self) -> None:
        """Close the channel."""
        self.client.close()
