"""Who is calling, whole: the certificate's party (gateway/identify/certificate.py), its
signature on these very bytes (request_signing.py), and no refusal standing against it.

The identify step of every RPC is `certificate.identify` then `check_caller`, in two calls so
that a refusal of the second is audited under the party the first found. Neither knows
anything of gRPC: the servicer hands over the TLS auth context, the call's metadata and
the body as received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.catalogue.registry import Party
from gateway.errors import Unauthenticated
from gateway.identify.request_signing import RequestSignature, RequestVerifier


@dataclass(frozen=True)
class Caller:
    """An identified caller: its party and its verified signature on this request."""

    party: Party
    signature: RequestSignature


def check_caller(party: Party, metadata: Mapping[str, str], *, method: str,
                 raw_request: bytes | None, requests: RequestVerifier,
                 refuse_party: Callable[[Party], None], shared: bool,
                 verified: Callable[[RequestSignature], None]) -> Caller:
    """The party signed ``raw_request`` for ``method`` and nothing refuses it.

    ``shared`` asks the other instances' replay memory now (a write of its own); without
    it the caller must remember the digest with its allow entry. ``verified`` is told the
    signature once it verifies, before the standing is checked: the refusal of a party
    refused on every call (``refuse_party`` raises for a blacklisted credit agency) is
    audited with the signature it sent, which is the evidence of what it asked and the
    digest the log's replay memory keeps. Raises Unauthenticated or what
    ``refuse_party`` raises.
    """
    if raw_request is None:
        # Only the bytes as sent are signed (docs/request-signing.md); a servicer reached
        # without them (gateway.validate.wire not in front) cannot check anything.
        raise Unauthenticated("the request body as sent is not available to verify its "
                              "signature", reason="request_bytes_missing")
    signature = requests.verify(party.id, method, raw_request, metadata, shared=shared)
    verified(signature)
    refuse_party(party)
    return Caller(party=party, signature=signature)
