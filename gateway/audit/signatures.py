"""Re-verifying the callers' request signatures that audit entries keep.

An entry of a signed call keeps ``request_signature`` ("v2 <time> <digest> <sig>"): the
caller's signature over (method, party, time, digest) (gateway.identify.request_signing; entries of
the retired scheme v1 read "v1 ..." and signed (method, time, digest)). With the
parties' registered public keys anyone can check it again, so forging an entry that
names a party needs that party's private key, not just write access to the log.

The entry names its action ("query.subject"), not the gRPC method the caller signed.
Which method each action belongs to is read from the servicers' own ``audited_call``
lines, so the table cannot drift from the code; an action not found there is tried
against every known method.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources

from gateway.audit.entry import AuditEntry
from gateway.crypto.signatures import PartyVerifyKey as VerifyKey
from gateway.errors import BadSignature, CredgateError

_AUDITED_CALL = re.compile(
    r'audited_call\(\s*[\w.]+\s*,\s*\w+\s*,\s*"([A-Za-z0-9_.]+/[A-Za-z0-9_]+)"\s*,\s*'
    r'"([a-z0-9_.]+)"')
# A servicer class over a generated base, and its methods under @audited("action").
_SERVICER = re.compile(r"^class \w+\(rpc\.(\w+)Servicer\):", re.MULTILINE)
_AUDITED = re.compile(r'@audited\("([a-z0-9_.]+)"\)\s+def (\w+)\(')
_PACKAGE = "credgate.v1"


class EntrySignatureError(CredgateError):
    """An audit entry's request signature does not verify under its requester's key."""

    status = "DATA_LOSS"

    def __init__(self, message: str, *, seq: int, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.seq = seq


@cache
def action_methods() -> dict[str, tuple[str, ...]]:
    """Each audited action and the gRPC method(s) whose calls it records."""
    found: dict[str, set[str]] = {}
    for item in resources.files("gateway.services").iterdir():
        if not item.name.endswith(".py"):
            continue
        text = item.read_text(encoding="utf-8")
        # Callers sign the full gRPC path, with its leading slash.
        for method, action in _AUDITED_CALL.findall(text):
            found.setdefault(action, set()).add(f"/{method}")
        classes = list(_SERVICER.finditer(text))
        ends = [c.start() for c in classes[1:]] + [len(text)] if classes else []
        for cls, end in zip(classes, ends, strict=True):
            for action, name in _AUDITED.findall(text, cls.end(), end):
                found.setdefault(action, set()).add(f"/{_PACKAGE}.{cls.group(1)}/{name}")
    return {action: tuple(sorted(methods)) for action, methods in found.items()}


def _all_methods() -> tuple[str, ...]:
    return tuple(sorted({m for ms in action_methods().values() for m in ms}))


#: A party's registered key, or its keys: the current one and any it replaced (a
#: replaced key still verifies the requests it signed before).
PartyKeys = Mapping[str, VerifyKey | Sequence[VerifyKey]]


def verify_entry_signature(seq: int, entry: AuditEntry, keys: PartyKeys) -> bool:
    """Check one entry's request signature; False when it has none or no key is known.

    Raises EntrySignatureError when there is a key and the signature does not verify.
    """
    text = entry.request_signature
    if not text:
        return False
    found = keys.get(entry.requester)
    if not found:
        return False
    # One key (Ed25519 or SM2), or a sequence of them.
    candidates = tuple(found) if isinstance(found, Sequence) else (found,)
    methods = action_methods().get(entry.action) or _all_methods()
    for key in candidates:
        for method in methods:
            try:
                _verify_text(key, method, text, entry.requester)
                return True
            except BadSignature:
                continue
    raise EntrySignatureError(
        f"the request signature of entry {seq} does not verify under the registered key of "
        f"{entry.requester}", seq=seq, reason="request_signature_invalid")


def verify_entry_signatures(entries: Iterable[tuple[int, AuditEntry]],
                            keys: PartyKeys) -> tuple[int, int]:
    """Check every entry; return (verified, unverifiable); raises at the first bad one."""
    verified = unknown = 0
    for seq, entry in entries:
        if verify_entry_signature(seq, entry, keys):
            verified += 1
        elif entry.request_signature:
            unknown += 1
    return verified, unknown


def _verify_text(key: VerifyKey, method: str, text: str, party: str) -> None:
    from gateway.identify.request_signing import verify_audit_text

    verify_audit_text(key, method, text, party=party)
