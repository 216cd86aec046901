"""Stored rows of the record lifecycle: objections, repair applications, the blacklist.

Free text a person or a department writes (an objection's reason, a repair statement,
an answer) may name people, so rows hold it only as field ciphertext; nothing here
holds an ID number, only its blind index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.clock import local_date, parse_rfc3339

OPEN = "open"
ANSWERED = "answered"
UPHELD, CORRECTED, WITHDRAWN = "upheld", "corrected", "withdrawn"
OUTCOMES = (UPHELD, CORRECTED, WITHDRAWN)

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


@dataclass(frozen=True, slots=True)
class ObjectionRow:
    """An objection (异议) to one record, from filing to answer."""

    objection_id: str
    record_id: str
    provider: str
    category: str
    subject_index: str
    filed_at: str
    #: The last day of the answer period (ISO date).
    due_date: str
    reason_ciphertext: bytes
    status: str = OPEN
    outcome: str = ""
    answered_at: str | None = None
    answered_by: str = ""
    answer_ciphertext: bytes = b""
    #: The corrected version, when the outcome is "corrected".
    new_record_id: str = ""
    #: At the origin: the peer platform that forwarded the person's objection ("" when
    #: filed here). At a receiver: the origin's objection id (the record came from there).
    forwarded_by: str = ""
    origin_objection_id: str = ""

    def __repr__(self) -> str:
        return f"ObjectionRow(objection_id={self.objection_id!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class RepairRow:
    """An application for credit repair (信用修复) of one record, and its decision."""

    repair_id: str
    record_id: str
    provider: str
    approver: str
    category: str
    subject_index: str
    applied_at: str
    statement_ciphertext: bytes
    status: str = PENDING
    decided_at: str | None = None
    decided_by: str = ""
    decision_ciphertext: bytes = b""

    def __repr__(self) -> str:
        return f"RepairRow(repair_id={self.repair_id!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class BlacklistRow:
    """One listing of a party on the blacklist (违规经营黑名单), lifted or not."""

    party: str
    listed_at: str
    listed_by: str
    reason: str
    lifted_at: str | None = None
    lifted_by: str = ""
    lift_reason: str = ""
    entry_id: int = 0

    @property
    def active(self) -> bool:
        """Whether the listing is in force."""
        return self.lifted_at is None


# ------------------------------------------------------------------ columns (both stores)

OBJECTION_COLUMNS = (
    "objection_id, record_id, provider, category, subject_index, filed_at, due_date, "
    "reason_ct, status, outcome, answered_at, answered_by, answer_ct, new_record_id, "
    "forwarded_by, origin_objection_id"
)
REPAIR_COLUMNS = (
    "repair_id, record_id, provider, approver, category, subject_index, applied_at, "
    "statement_ct, status, decided_at, decided_by, decision_ct"
)
BLACKLIST_COLUMNS = (
    "party, listed_at, listed_by, reason, lifted_at, lifted_by, lift_reason, entry_id"
)


def objection_from_row(row: Sequence[Any]) -> ObjectionRow:
    """An ObjectionRow from OBJECTION_COLUMNS."""
    return ObjectionRow(
        objection_id=row[0], record_id=row[1], provider=row[2], category=row[3],
        subject_index=row[4], filed_at=row[5], due_date=row[6], reason_ciphertext=bytes(row[7]),
        status=row[8], outcome=row[9], answered_at=row[10], answered_by=row[11],
        answer_ciphertext=bytes(row[12]), new_record_id=row[13], forwarded_by=row[14],
        origin_objection_id=row[15])


def repair_from_row(row: Sequence[Any]) -> RepairRow:
    """A RepairRow from REPAIR_COLUMNS."""
    return RepairRow(
        repair_id=row[0], record_id=row[1], provider=row[2], approver=row[3],
        category=row[4], subject_index=row[5], applied_at=row[6],
        statement_ciphertext=bytes(row[7]), status=row[8], decided_at=row[9],
        decided_by=row[10], decision_ciphertext=bytes(row[11]))


def blacklist_from_row(row: Sequence[Any]) -> BlacklistRow:
    """A BlacklistRow from BLACKLIST_COLUMNS."""
    return BlacklistRow(party=row[0], listed_at=row[1], listed_by=row[2], reason=row[3],
                        lifted_at=row[4], lifted_by=row[5], lift_reason=row[6],
                        entry_id=int(row[7]))


def submission_lag(submitted_at: str, event_date: date | str) -> int:
    """Days from the event to its submission, both as the city's dates."""
    event = event_date if isinstance(event_date, date) else date.fromisoformat(event_date)
    return (local_date(parse_rfc3339(submitted_at)) - event).days
