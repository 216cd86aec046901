"""Signed checkpoints of the audit tree (C2SP tlog-checkpoint over C2SP signed-note).

A checkpoint is a signed note (c2sp.org/signed-note) whose text is (c2sp.org/tlog-checkpoint,
"Note text")::

    credgate.example/audit-log          origin: names the log, also the signing key name
    1048576                             tree size: ASCII decimal, no leading zeros
    eSTl0F0ZIFwd5qJ6Qs0q1Fz0wI3eLQm5tU9xKqQ2b2M=   root hash: base64 of MTH (RFC 6962)
    time 2024-05-01T08:30:00Z           optional extension line, see below

followed by a blank line and one signature line per signer::

    — credgate.example/audit-log <base64(key ID (4 bytes) || Ed25519 signature (64 bytes))>

The em dash is U+2014; the key ID is SHA-256(key name || 0x0A || 0x01 || public key)[:4]
(signed-note, "Ed25519 signatures"); the signature covers the note text including its
final newline. The key name is the origin (tlog-checkpoint, "Signatures": it SHOULD match).
Under the gm suite the log key is SM2: the signature is the DER SM2 signature, and the
signature type in the key ID is 0xff || "credgate/sm2" (signed-note's escape for types
it does not assign), so the key ID itself records the algorithm.

Extension lines are opaque, optional and non-empty; the spec calls them NOT RECOMMENDED
because monitors cannot audit them. credgate writes at most one, ``time <RFC 3339 UTC,
second precision, "Z">``: the gateway clock when it signed, for people reading the log.
Nothing relies on it for security; it can be turned off (``time=None``). Parsing keeps
unknown extension lines verbatim in ``Checkpoint.extensions``.

Verification follows signed-note, "Signatures": signatures whose (key name, key ID) do not
both match the trusted key are ignored; a matching one that fails rejects the note; a
note with no valid signature from the trusted key is rejected.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.audit.merkle import HASH_SIZE
from gateway.clock import parse_rfc3339, rfc3339
from gateway.crypto.signatures import (
    SIGNATURE_SIZE,
    AnySigningKey,
    AnyVerifyKey,
    note_key_hash,
    sign,
    signature_algorithm,
    verify,
)
from gateway.errors import BadSignature, ConfigurationError, CredgateError

logger = logging.getLogger(__name__)

DEFAULT_ORIGIN = "credgate.example/audit-log"
TIME_EXTENSION = "time "
MAX_SIGNATURES = 64  # signed-note: verifiers MUST accept at least 16
ANCHORS = 1024  # stored checkpoints compared at start-up (the newest always among them)
_EM_DASH = "\u2014"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class CheckpointError(CredgateError):
    """A checkpoint is malformed, not signed by the expected key, or its signature fails."""

    status = "DATA_LOSS"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A parsed checkpoint; ``note`` is the complete signed-note text it came from."""

    origin: str
    size: int
    root: bytes
    time: datetime | None
    extensions: tuple[str, ...]
    signatures: tuple[NoteSignature, ...] = field(repr=False)
    note: str = field(repr=False)

    @property
    def body(self) -> str:
        """The note text (what the signatures cover), ending in a newline."""
        return self.note[: self.note.rindex("\n\n") + 1]


def _strict_b64(text: str) -> bytes:
    """Decode standard base64 (RFC 4648 §4), refusing any non-canonical spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("checkpoint has invalid base64", reason="bad_base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError("checkpoint has non-canonical base64", reason="bad_base64")
    return raw


def check_key_name(name: str) -> None:
    # signed-note, "Format": non-empty, no Unicode spaces, no plus.
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise CheckpointError("note key name is empty or has a space or '+'",
                              reason="bad_key_name")


def checkpoint_body(origin: str, size: int, root: bytes, time: datetime | None = None) -> str:
    """The note text of a checkpoint; raises CheckpointError for an unusable origin/size/root."""
    check_key_name(origin)
    if not isinstance(size, int) or not 0 <= size < 2**63:
        raise CheckpointError("checkpoint size out of range", reason="bad_size")
    if len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root is not a SHA-256 hash", reason="bad_root")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii")]
    if time is not None:
        lines.append(TIME_EXTENSION + rfc3339(time))
    return "\n".join(lines) + "\n"


def sign_checkpoint(origin: str, size: int, root: bytes, time: datetime | None,
                    signing_key: AnySigningKey, key_name: str | None = None) -> str:
    """A signed checkpoint note (key name defaults to the origin); raises CheckpointError."""
    name = origin if key_name is None else key_name
    check_key_name(name)
    body = checkpoint_body(origin, size, root, time)
    key_id = note_key_hash(name, signing_key.verify_key)
    signature = sign(signing_key, body.encode("utf-8"))
    line = f"{_EM_DASH} {name} {base64.b64encode(key_id + signature).decode('ascii')}\n"
    return body + "\n" + line


def parse_note(text: str | bytes) -> tuple[str, tuple[NoteSignature, ...]]:
    """Split a signed note into its text and signature lines; raises CheckpointError."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("note is not UTF-8", reason="malformed") from None
    if not isinstance(text, str) or _CONTROL.search(text):
        raise CheckpointError("note has control characters", reason="malformed")
    # signed-note, "Format": text, a blank line, signature lines; split at the LAST blank line.
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise CheckpointError("note has no signature block", reason="malformed")
    return text[: split + 1], _parse_signatures(text[split + 2:])


def verify_note(text: str | bytes, verify_key: AnyVerifyKey, key_name: str) -> str:
    """The text of a note signed by (key_name, verify_key); raises CheckpointError otherwise."""
    body, signatures = parse_note(text)
    _verify_signatures(body, signatures, verify_key, key_name)
    return body


def _verify_signatures(body: str, signatures: Sequence[NoteSignature],
                       verify_key: AnyVerifyKey, name: str) -> None:
    """signed-note, "Signatures": ignore unknown keys, reject on a bad or missing known one."""
    try:
        key_id = note_key_hash(name, verify_key)
    except ConfigurationError:
        raise CheckpointError("note key name is unusable", reason="bad_key_name") from None
    message = body.encode("utf-8")
    verified = False
    for sig in signatures:
        if sig.name != name or sig.key_id != key_id:
            continue  # another key (witness, rotated key): ignored, as signed-note requires
        if signature_algorithm(verify_key) == "ed25519" and \
                len(sig.signature) != SIGNATURE_SIZE:
            raise CheckpointError("note signature has the wrong length", reason="bad_signature")
        try:
            verify(verify_key, message, sig.signature)
        except BadSignature:
            raise CheckpointError("note signature does not verify",
                                  reason="bad_signature") from None
        verified = True
    if not verified:
        raise CheckpointError(f"note is not signed by key {name!r} (wrong key or key hash)",
                              reason="no_known_signature")


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint, signatures unchecked; raises CheckpointError if malformed."""
    body, signatures = parse_note(text)
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise CheckpointError("checkpoint needs origin, size and root lines, none empty",
                              reason="malformed")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text) or int(size_text) >= 2**63:
        raise CheckpointError("checkpoint size is not a plain decimal", reason="bad_size")
    root = _strict_b64(root_text)
    if len(root) != HASH_SIZE:
        raise CheckpointError("checkpoint root is not a SHA-256 hash", reason="bad_root")
    time = None
    others = []
    for line in extensions:
        if line.startswith(TIME_EXTENSION):
            stamp = line[len(TIME_EXTENSION):]
            if time is not None or not _TIME.fullmatch(stamp):
                raise CheckpointError("checkpoint time line is malformed", reason="bad_time")
            try:
                time = parse_rfc3339(stamp)
            except ValueError:
                raise CheckpointError("checkpoint time is invalid", reason="bad_time") from None
        else:
            others.append(line)
    return Checkpoint(origin=origin, size=int(size_text), root=root, time=time,
                      extensions=tuple(others), signatures=signatures, note=text)


def _parse_signatures(block: str) -> tuple[NoteSignature, ...]:
    if not block.endswith("\n"):
        raise CheckpointError("checkpoint signature block is malformed", reason="malformed")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("checkpoint has too many signatures", reason="malformed")
    out = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _EM_DASH:
            raise CheckpointError("checkpoint signature line is malformed", reason="malformed")
        check_key_name(parts[1])
        raw = _strict_b64(parts[2])
        if len(raw) < 5:
            raise CheckpointError("checkpoint signature is too short", reason="malformed")
        out.append(NoteSignature(parts[1], raw[:4], raw[4:]))
    return tuple(out)


def verify_checkpoint(text: str | bytes, verify_key: AnyVerifyKey,
                      key_name: str | None = None) -> Checkpoint:
    """Parse and check the signature by (key_name, verify_key); raises CheckpointError.

    The key name defaults to the checkpoint's own origin.
    """
    cp = parse_checkpoint(text)
    _verify_signatures(cp.body, cp.signatures, verify_key,
                       cp.origin if key_name is None else key_name)
    return cp
