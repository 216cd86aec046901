"""Complaints about an access (投诉): the person names an entry of their access report.

A person who believes a query in their access report was misuse files a complaint
through the citizen portal: an `access_complaint` record naming the audit entry
(audit_seq) and why. At intake the entry must be an allowed access to this very person
(it must be in their access report), so a complaint can neither probe the log nor name
someone else's lookup. The regulator lists complaints with the party complained about
and answers each within `complaint_answer_days` (catalogue) with a `complaint_answer`
record citing it; the person sees the answer with their records, and the supervision
figures count complaints filed, answered and overdue per party complained about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.audit.entry import AuditEntry
from gateway.crypto.blind_index import blind_indexes
from gateway.crypto.keyring import Keyring
from gateway.errors import CredgateError, InvalidArgument
from gateway.records.model import RecordSubmission, StoredRecord
from gateway.records.store import RecordStore

COMPLAINT = "access_complaint"
ANSWER = "complaint_answer"
SEQ_FIELD = "audit_seq"
CITES_FIELD = "complaint_record_id"
OUTCOME_FIELD = "outcome"
#: The audit actions that appear in a person's access report (services/subject.py).
ACCESS_ACTIONS = ("query.subject", "check.green_channel", "check.joint_punishment",
                  "check.incentive", "subject.credit_report")
DEFAULT_ANSWER_DAYS = 30


@dataclass(frozen=True, slots=True)
class ComplaintStatus:
    """A complaint as the regulator lists it: no personal data beyond the reason."""

    record_id: str
    filed_on: date
    due_on: date
    audit_seq: int
    party: str
    outcome: str  # "" while unanswered

    def overdue(self, today: date) -> bool:
        """Unanswered past its due date."""
        return not self.outcome and today > self.due_on


def check_complaints(batch: Iterable[RecordSubmission], *, read_entry: ReadEntry,
                     keyring: Keyring) -> None:
    """A complaint must name an allowed access to the same person; raises InvalidArgument
    (one message whatever the entry is, so the log cannot be probed)."""
    for record in batch:
        if record.category != COMPLAINT:
            continue
        problem = InvalidArgument(f"record {record.index}: audit_seq must name an access "
                                  "in the person's access report", reason="complaint_invalid")
        text = record.fields.get(SEQ_FIELD, "")
        if not text.isdigit() or len(text) > 18:
            raise problem
        entry = read_entry(int(text))
        if (entry is None or entry.decision != "allow" or entry.action not in ACCESS_ACTIONS
                or entry.subject_index not in blind_indexes(keyring,
                                                            record.subject.value)):
            raise problem


class ReadEntry:
    """Reads one audit entry by its sequence number (None when there is none), over a
    log's ``read(start=, limit=)``."""

    def __init__(self, read: Callable[..., list[tuple[int, AuditEntry]]]) -> None:
        self._read = read

    def __call__(self, seq: int) -> AuditEntry | None:
        try:
            found = self._read(start=seq, limit=1)
        except CredgateError:
            return None
        return found[0][1] if found and found[0][0] == seq else None


def complaint_statuses(store: RecordStore, read_entry: ReadEntry, *, answer_days: int
                       ) -> list[ComplaintStatus]:
    """Every complaint in use, with its due date, the party complained about and the
    regulator's outcome if answered."""
    answers: dict[str, str] = {}
    for rec in _all(store, ANSWER):
        cited, outcome = rec.fields.get(CITES_FIELD), rec.fields.get(OUTCOME_FIELD)
        if cited is not None and cited.plain and outcome is not None:
            answers[cited.plain] = outcome.plain or ""
    out = []
    for rec in _all(store, COMPLAINT):
        seq_value = rec.fields.get(SEQ_FIELD)
        seq = int(seq_value.plain) if seq_value is not None and seq_value.plain else 0
        entry = read_entry(seq) if seq else None
        filed = date.fromisoformat(rec.submitted_at[:10])
        out.append(ComplaintStatus(
            record_id=rec.record_id, filed_on=filed,
            due_on=filed + timedelta(days=answer_days), audit_seq=seq,
            party=entry.requester if entry is not None else "",
            outcome=answers.get(rec.record_id, "")))
    return out


def _all(store: RecordStore, category: str) -> Sequence[StoredRecord]:
    out: list[StoredRecord] = []
    after = ""
    while True:
        page = store.records_in_categories([category], after=after, limit=500)
        if not page:
            return out
        out.extend(page)
        after = page[-1].record_id
