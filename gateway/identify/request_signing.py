"""Non-repudiable requests: each call is signed with the calling party's key.

The key is the one registered for the party: Ed25519, or SM2 under the gm suite. The
scheme (docs/request-signing.md, with test vectors in tests/vectors/request-signing/)
is portable: the signature covers the request body **exactly as sent on the wire** (the
serialised message gRPC frames, before compression), never a re-encoding, so a client
in any language signs the bytes its own protobuf library wrote. The client signs

    b"credgate/request/v2\\n" + method + b"\\n" + party + b"\\n" + time + b"\\n" + digest

where `method` is the full gRPC path, `party` the party its certificate names, `time`
RFC 3339 UTC to the second and `digest` the lowercase hex SHA-256 (SM3 for an SM2 key)
of a fresh random 32-byte salt followed by the body bytes. The salt travels with the
call but is not kept in the audit: the digest (which the audit keeps beside the
signature) then cannot be brute-forced back to an ID number, yet whoever holds the body
and the salt can show which request it was. The gateway refuses unsigned calls, the
retired scheme v1 (a signature over Python's deterministic re-encoding), bad signatures,
times outside a small window, and a digest it has already seen (a replay).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gateway.clock import Clock, parse_rfc3339, rfc3339
from gateway.crypto.signatures import PartySigningKey as SigningKey
from gateway.crypto.signatures import PartyVerifyKey as VerifyKey
from gateway.crypto.signatures import digest_hex, sign, verify
from gateway.errors import BadSignature, Unauthenticated

HEADER_SCHEME = "x-credgate-request-scheme"
HEADER_TIME = "x-credgate-request-time"
_REQUEST_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
HEADER_SALT = "x-credgate-request-salt"
HEADER_SIGNATURE = "x-credgate-request-signature"
#: The scheme this gateway accepts (the value of HEADER_SCHEME).
SCHEME = "v2"
DOMAIN = b"credgate/request/v2"
#: The retired scheme: still re-verified in audit entries it signed, refused on calls.
DOMAIN_V1 = b"credgate/request/v1"
SALT_BYTES = 32
DEFAULT_WINDOW = timedelta(seconds=120)
# A part of the signed message is one line: a method or party holding a line break
# could make two different calls sign the same bytes.
_LINE = re.compile(r"[\x21-\x7e]+")


def request_digest(salt: bytes, request_bytes: bytes,
                   key: SigningKey | VerifyKey | None = None) -> str:
    """Hex digest of the salt and the request body as sent: SHA-256, or SM3 when the
    party's key is SM2 (the gm suite)."""
    if key is None:
        return hashlib.sha256(salt + request_bytes).hexdigest()
    return digest_hex(key, salt + request_bytes)


def signed_message(method: str, party: str, time: str, digest: str) -> bytes:
    """The exact bytes a party signs for one call (scheme v2); raises ValueError when a
    part is not one line of printable ASCII."""
    parts = (method, party, time, digest)
    if not all(_LINE.fullmatch(part) for part in parts):
        raise ValueError("a signed part is not one line of printable ASCII")
    return b"\n".join((DOMAIN, *(part.encode("ascii") for part in parts)))


def signed_message_v1(method: str, time: str, digest: str) -> bytes:
    """The bytes the retired scheme v1 signed (re-verified in old audit entries only)."""
    return b"\n".join((DOMAIN_V1, method.encode("ascii"), time.encode("ascii"),
                       digest.encode("ascii")))


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """A verified request signature, as the audit keeps it."""

    method: str
    time: str
    digest: str
    signature: bytes

    def audit_text(self) -> str:
        """`v2 <time> <digest> <base64 signature>`: with the entry's method and requester,
        enough to re-verify the signature."""
        return f"{SCHEME} {self.time} {self.digest} {base64.b64encode(self.signature).decode()}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The headers that sign one call, and the digest a signed answer will name."""

    headers: list[tuple[str, str]]
    digest: str


def sign_request_bytes(key: SigningKey, *, method: str, party: str, body: bytes,
                       now: datetime, salt: bytes | None = None) -> SignedRequest:
    """Sign one call's body as it will be sent: the headers (scheme, time, salt,
    signature) and the request digest. Raises ValueError for a method or party that is
    not one line of printable ASCII."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"the salt must be {SALT_BYTES} bytes")
    time = rfc3339(now)
    digest = request_digest(salt, body, key)
    signature = sign(key, signed_message(method, party, time, digest))
    return SignedRequest(headers=[
        (HEADER_SCHEME, SCHEME),
        (HEADER_TIME, time),
        (HEADER_SALT, base64.b64encode(salt).decode("ascii")),
        (HEADER_SIGNATURE, base64.b64encode(signature).decode("ascii")),
    ], digest=digest)


def sign_request(key: SigningKey, method: str, request_bytes: bytes, *, party: str,
                 now: datetime) -> list[tuple[str, str]]:
    """The metadata that signs one call whose body is `request_bytes`, exactly as sent."""
    return sign_request_bytes(key, method=method, party=party, body=request_bytes,
                              now=now).headers


def digest_of_audit_text(text: str) -> str | None:
    """The request digest inside an audit entry's signature text, or None if there is none."""
    parts = text.split(" ")
    return parts[2] if len(parts) == 4 and parts[0] in ("v1", SCHEME) else None


def verify_audit_text(key: VerifyKey, method: str, text: str, *, party: str) -> None:
    """Re-verify a signature kept in an audit entry (`party` is its requester); raises
    BadSignature."""
    try:
        version, time, digest, encoded = text.split(" ")
        signature = base64.b64decode(encoded, validate=True)
        if version == SCHEME:
            message = signed_message(method, party, time, digest)
        elif version == "v1":
            message = signed_message_v1(method, time, digest)
        else:
            raise BadSignature("unknown request signature version")
    except ValueError:
        raise BadSignature("malformed request signature") from None
    verify(key, message, signature)


class ReplayMemory(Protocol):
    """Digests remembered by every instance on one database (the record store)."""

    def remember_request(self, digest: str, *, at: datetime, forget_before: datetime) -> bool:
        """Remember a digest; False when it is remembered already."""
        ...

    def remember_requests(self, seen: Sequence[tuple[str, datetime]]) -> None:
        """Re-seed with digests read back from the audit log."""
        ...


class RequestVerifier:
    """Checks request signatures against the parties' registered keys; remembers digests.

    Digests are remembered in this process and, given a `memory`, in the store every
    instance shares: a request served at one instance is a replay at all of them.
    """

    def __init__(self, *, keys: Mapping[str, VerifyKey], clock: Clock,
                 window: timedelta = DEFAULT_WINDOW, memory: ReplayMemory | None = None,
                 ) -> None:
        self._keys = dict(keys)
        self._clock = clock
        self._window = window
        self._memory = memory
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def use_keys(self, keys: Mapping[str, VerifyKey]) -> None:
        """Verify with these keys from now on (read afresh from the keys folder).

        A key replaced on disk (a compromised one) stops verifying at the next policy
        reload, and a party no longer in the catalogue loses its key with it.
        """
        self._keys = dict(keys)

    def verify(self, party: str, method: str, request_bytes: bytes,
               metadata: Mapping[str, str], *, shared: bool = True) -> RequestSignature:
        """Verify one call's signature over its body as received (scheme v2); raises
        Unauthenticated with a reason code.

        The digest is checked against this process's memory; with ``shared`` False the
        caller remembers it in the shared memory itself, in the transaction of the
        call's audit entry (SharedAuditLog.append with request_digest), and refuses the
        call there if another instance served it already.
        """
        scheme = metadata.get(HEADER_SCHEME)
        time_text = metadata.get(HEADER_TIME)
        salt_text = metadata.get(HEADER_SALT)
        signature_text = metadata.get(HEADER_SIGNATURE)
        if scheme is None and (time_text or salt_text or signature_text):
            # A client of the retired scheme: say so, rather than "bad signature".
            raise Unauthenticated(
                "request signature scheme v1 is retired: sign the request bytes as sent "
                f"and send {HEADER_SCHEME}: {SCHEME} (docs/request-signing.md)",
                reason="request_scheme_retired")
        if scheme is not None and scheme != SCHEME:
            raise Unauthenticated(f"unknown request signature scheme: this gateway accepts "
                                  f"{HEADER_SCHEME}: {SCHEME} (docs/request-signing.md)",
                                  reason="request_scheme_unknown")
        if not (time_text and salt_text and signature_text):
            raise Unauthenticated("the request is not signed", reason="request_unsigned")
        key = self._keys.get(party)
        if key is None:
            raise Unauthenticated("no signing key is registered for the caller",
                                  reason="request_signer_unknown")
        try:
            if not _REQUEST_TIME.fullmatch(time_text):
                # Exactly what sign_request writes: the text is kept in the audit entry.
                raise ValueError("request time is not YYYY-MM-DDTHH:MM:SSZ")
            salt = base64.b64decode(salt_text, validate=True)
            signature = base64.b64decode(signature_text, validate=True)
            sent_at = parse_rfc3339(time_text)
        except ValueError:
            raise Unauthenticated("malformed request signature headers",
                                  reason="request_malformed") from None
        if len(salt) != SALT_BYTES:
            raise Unauthenticated("malformed request signature headers",
                                  reason="request_malformed")
        digest = request_digest(salt, request_bytes, key)
        try:
            verify(key, signed_message(method, party, time_text, digest), signature)
        except (BadSignature, ValueError):
            raise Unauthenticated("the request signature does not verify",
                                  reason="request_bad_signature") from None
        now = self._clock.now()
        if abs(now - sent_at) > self._window:
            raise Unauthenticated("the request time is outside the accepted window",
                                  reason="request_stale")
        self._remember(digest, now, shared=shared)
        return RequestSignature(method=method, time=time_text, digest=digest,
                                signature=signature)

    def remember_earlier(self, seen: Iterable[tuple[str, datetime]]) -> None:
        """Remember request digests verified before this process started, oldest first.

        The gateway reads them back from its audit log at start-up, so a request signed
        just before a restart cannot be replayed just after it; the shared memory is
        re-seeded with them too (it may have been restored from an older backup).
        """
        earlier = list(seen)
        with self._lock:
            for digest, at in earlier:
                self._seen[digest] = at
        if self._memory is not None:
            self._memory.remember_requests(earlier)

    def _remember(self, digest: str, now: datetime, *, shared: bool = True) -> None:
        # A digest only needs remembering while its time is inside the window; older
        # ones would be refused as stale anyway.
        with self._lock:
            horizon = now - 2 * self._window
            while self._seen and next(iter(self._seen.values())) < horizon:
                self._seen.popitem(last=False)
            if digest in self._seen:
                raise replayed()
            self._seen[digest] = now
        if self._memory is None or not shared:
            return
        try:
            fresh = self._memory.remember_request(digest, at=now,
                                                  forget_before=now - 2 * self._window)
        except BaseException:
            # Not served (the call fails closed): the same request may be sent again.
            with self._lock:
                self._seen.pop(digest, None)
            raise
        if not fresh:
            raise replayed()


def replayed() -> Unauthenticated:
    """The refusal of a request received before (at this or any other instance)."""
    return Unauthenticated("the request was already received (replay)",
                           reason="request_replayed")
