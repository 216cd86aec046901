"""Cosigned checkpoints (C2SP tlog-cosignature, cosignature/v1 with Ed25519).

A regulator's mirror (gateway.audit.mirror) only ever holds a checkpoint it verified to
extend the one before: the log's signature, a consistency proof, and the entries giving
the signed root. That is a witness's job, so the mirror can say so in a form any C2SP
client reads: a cosignature line on the checkpoint, meaning "as of this time, this is
the largest consistent tree I have seen of this log". A department or a court that holds
a checkpoint cosigned by a quorum of regulators knows that the gateway did not show
them a log different from the one the regulators see (a split view).

The signed message is ``cosignature/v1\\n``, ``time <seconds>\\n`` and the checkpoint's
whole note body; the signature line carries the key ID (SHA-256 of the name, 0x0A, 0x04
and the public key, first 4 bytes) and the 8-byte big-endian time before the 64-byte
signature.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_key_name,
    parse_checkpoint,
)
from gateway.crypto.signatures import SigningKey, VerifyKey, cosigner_key_hash, sign, verify
from gateway.errors import BadSignature

__all__ = ["Witness", "combine", "cosign", "cosigned_message", "verify_cosignatures"]

_EM_DASH = "\u2014"
_HEADER = "cosignature/v1\n"
_MAX_TIME = 2**63 - 1


@dataclass(frozen=True)
class Witness:
    """A cosigner: its key name (a schema-less URL, e.g. regulator.example/w1) and key."""

    name: str
    key: SigningKey


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header, the time line and the note body."""
    if not 0 <= timestamp <= _MAX_TIME:
        raise CheckpointError("cosignature time out of range", reason="bad_cosignature")
    return f"{_HEADER}time {timestamp}\n{body}".encode()


def cosign(checkpoint: Checkpoint, witness: Witness, timestamp: int) -> str:
    """The checkpoint's note with the witness's cosignature line added (any older line of
    the same witness is replaced)."""
    check_key_name(witness.name)
    key_id = cosigner_key_hash(witness.name, witness.key.verify_key)
    signature = sign(witness.key, cosigned_message(checkpoint.body, timestamp))
    blob = key_id + struct.pack(">Q", timestamp) + signature
    lines = [line for line in checkpoint.note[len(checkpoint.body) + 1:].splitlines()
             if not _is_line_of(line, witness.name, key_id)]
    lines.append(f"{_EM_DASH} {witness.name} {base64.b64encode(blob).decode('ascii')}")
    return checkpoint.body + "\n" + "\n".join(lines) + "\n"


def verify_cosignatures(note: str, witnesses: Mapping[str, VerifyKey], quorum: int,
                        *, latest: int | None = None) -> dict[str, int]:
    """The witnesses (by name) whose valid cosignature the note carries, with its time.

    Lines of other keys are ignored, as C2SP asks. Raises CheckpointError when fewer than
    `quorum` of the given witnesses cosigned it, or when a cosignature of a configured
    witness is malformed, invalid or (with `latest`, Unix seconds) from the future.
    """
    if not 1 <= quorum <= len(witnesses):
        raise CheckpointError("the quorum must be between 1 and the number of witnesses",
                              reason="bad_quorum")
    checkpoint = parse_checkpoint(note)
    found: dict[str, int] = {}
    for sig in checkpoint.signatures:
        key = witnesses.get(sig.name)
        if key is None or sig.key_id != cosigner_key_hash(sig.name, key):
            continue  # another key, or the log's own signature
        if len(sig.signature) != 8 + 64:
            raise CheckpointError(f"the cosignature of {sig.name} is malformed",
                                  reason="bad_cosignature")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if timestamp > _MAX_TIME or (latest is not None and timestamp > latest):
            raise CheckpointError(f"the cosignature of {sig.name} is from the future",
                                  reason="bad_cosignature")
        try:
            verify(key, cosigned_message(checkpoint.body, timestamp), sig.signature[8:])
        except BadSignature:
            raise CheckpointError(f"the cosignature of {sig.name} does not verify",
                                  reason="bad_cosignature") from None
        found[sig.name] = timestamp
    if len(found) < quorum:
        raise CheckpointError(f"{len(found)} of the {quorum} cosignatures needed",
                              reason="no_quorum")
    return found


def combine(notes: Sequence[str]) -> str:
    """One note with every signature line of several notes of the same checkpoint (each
    witness cosigns its own copy); raises CheckpointError when the bodies differ."""
    if not notes:
        raise CheckpointError("no checkpoint to combine", reason="malformed")
    checkpoints = [parse_checkpoint(note) for note in notes]
    body = checkpoints[0].body
    if any(cp.body != body for cp in checkpoints):
        raise CheckpointError("the notes are not of the same checkpoint", reason="mismatch")
    lines: list[str] = []
    for cp in checkpoints:
        for line in cp.note[len(body) + 1:].splitlines():
            if line not in lines:
                lines.append(line)
    return body + "\n" + "\n".join(lines) + "\n"


def _is_line_of(line: str, name: str, key_id: bytes) -> bool:
    """Whether a signature line is the given cosigner's."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != _EM_DASH or parts[1] != name:
        return False
    try:
        return base64.b64decode(parts[2], validate=True)[:4] == key_id
    except ValueError:
        return False
