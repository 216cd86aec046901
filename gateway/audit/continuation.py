"""A log that continues another: its first entry names the other's final checkpoint.

When the log key rotates (``credgate keys rotate log``), or per-instance logs move to
the shared log, the old log is closed: a last entry (``audit.log_closed``) says where
the log goes on, and a final checkpoint covers it. The new log, under a new origin and
key, begins with ``audit.log_started``, whose reason names the old log's origin, size,
root and the id of the key that signed it. The new log's checkpoints cover that entry,
so the chain of evidence has no gap: a regulator verifies the old export with the old
public key, the new export with the new one, and the link between them with
``check_continuation`` (``credgate audit verify --continues``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from gateway.audit.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from gateway.audit.entry import AuditEntry
from gateway.crypto.signatures import AnyVerifyKey, key_id
from gateway.errors import CredgateError

__all__ = ["LOG_CLOSED", "LOG_STARTED", "ContinuationError", "check_continuation",
           "closed_entry", "first_entry_of_export", "started_entry", "verify_final"]

LOG_STARTED = "audit.log_started"
LOG_CLOSED = "audit.log_closed"


class ContinuationError(CredgateError):
    """A log's first entry does not name the final checkpoint of the log it continues."""

    status = "DATA_LOSS"


def _gateway_entry(time: datetime, action: str, reason: str) -> AuditEntry:
    return AuditEntry(
        time=time, trace_id="", requester="gateway", action=action, purpose="",
        subject_index="", categories=(), fields_released=(), consent_id="", policy_rule="",
        policy_version="", decision="allow", reason=reason, request_id="", record_count=0)


def _names(old: Checkpoint) -> str:
    root = base64.b64encode(old.root).decode("ascii")
    return f"continues {old.origin} at size {old.size} root {root}"


def verify_final(text: str, keys: Sequence[AnyVerifyKey]) -> tuple[Checkpoint, AnyVerifyKey]:
    """The old log's final checkpoint and the key (of several) that signed it; raises
    ContinuationError when none does."""
    for key in keys:
        try:
            return verify_checkpoint(text, key), key
        except CheckpointError:
            continue
    raise ContinuationError("the previous log's final checkpoint is not signed by a known "
                            "log key", reason="previous_checkpoint_unverified")


def started_entry(old: Checkpoint, old_key: AnyVerifyKey, time: datetime) -> AuditEntry:
    """The first entry of a log that continues the log of ``old``."""
    return _gateway_entry(time, LOG_STARTED, f"{_names(old)} key {key_id(old_key)}")


def closed_entry(new_origin: str, new_key: AnyVerifyKey, time: datetime) -> AuditEntry:
    """The last entry of a log that goes on as ``new_origin`` under ``new_key``."""
    return _gateway_entry(time, LOG_CLOSED,
                          f"closed for log-key rotation; goes on as {new_origin} "
                          f"key {key_id(new_key)}")


def check_continuation(first: AuditEntry, previous_text: str,
                       previous_keys: Sequence[AnyVerifyKey]) -> Checkpoint:
    """Check that a log's first entry names this final checkpoint of the previous log,
    signed by one of its keys; returns that checkpoint or raises ContinuationError."""
    old, key = verify_final(previous_text, previous_keys)
    # Logs continued before key ids were named say only origin, size and root.
    named = (_names(old), f"{_names(old)} key {key_id(key)}")
    if first.action != LOG_STARTED or first.requester != "gateway" or first.reason not in named:
        raise ContinuationError(
            f"the log's first entry does not name the final checkpoint of {old.origin} "
            f"(size {old.size})", reason="continuation_mismatch")
    return old


def first_entry_of_export(path: Path) -> AuditEntry:
    """Seq 1 of an audit export; raises ContinuationError when the export starts later
    or cannot be read."""
    try:
        with Path(path).open("rb") as f:
            header = json.loads(f.readline())
            line = f.readline().rstrip(b"\n")
        if not isinstance(header, dict) or header.get("first_seq") != 1 or not line:
            raise ValueError
        return AuditEntry.from_canonical(line)
    except (OSError, ValueError, CredgateError):
        raise ContinuationError("the export must start at seq 1 to show what it continues",
                                reason="continuation_unreadable") from None
