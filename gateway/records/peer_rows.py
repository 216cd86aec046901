"""Rows of the peer outbox and of changes received from peers (gateway.records.sql_peers)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.records.model import StoredRecord


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One queued change: its sequence number, the record and why it changed."""

    seq: int
    record_id: str
    change: str


@dataclass(frozen=True, slots=True)
class ReceivedChange:
    """A peer's change ready to apply: the sealed record (upsert) or the state (retire)."""

    seq: int
    origin_record_id: str
    #: The record as it is stored here (sealed under the local id); None to retire.
    record: StoredRecord | None
    #: For a retirement: the origin's state (superseded, withdrawn, repaired, ...).
    state: str = ""
    at: str = ""
    #: Why, as the origin said it (superseded, expired, not_shared, ...).
    reason: str = ""
