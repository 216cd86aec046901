"""Objections (异议): the person contests a record, its provider answers within the deadline.

Filing marks the record disputed at once (queriers see the mark; the public feed leaves
it out). The providing department answers within the catalogue's
`objection_answer_days` (20 by the credit reporting regulation): uphold, correct (a new
version replaces the record; the old one is kept for evidence) or withdraw. An
objection still open after its due date is overdue and listed for regulators.

The person's reason and the department's answer are free text that may name people:
they are stored only encrypted, bound to the objection, and never logged or audited.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from gateway.catalogue.registry import Catalogue
from gateway.clock import local_date, rfc3339
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.errors import FailedPrecondition
from gateway.records.lifecycle import in_use
from gateway.records.lifecycle_rows import (
    CORRECTED,
    OPEN,
    UPHELD,
    WITHDRAWN,
    ObjectionRow,
)
from gateway.records.model import StoredRecord

MAX_REASON_CHARS = 2000
_SEAL_CATEGORY = "objection"


def due_date(filed: date, answer_days: int) -> date:
    """The last day of the answer period: `answer_days` calendar days after filing."""
    return filed + timedelta(days=answer_days)


def is_overdue(row: ObjectionRow, today: date) -> bool:
    """Whether an objection is still open after its due date."""
    return row.status == OPEN and today > date.fromisoformat(row.due_date)


def objection_field(objection_id: str, field: str) -> FieldContext:
    """What an objection's free text is sealed to: the objection and the field."""
    return FieldContext(objection_id, _SEAL_CATEGORY, field)


def seal_text(cipher: FieldCipher, objection_id: str, field: str, text: str) -> bytes:
    """Encrypt an objection's free text, bound to the objection and the field."""
    return cipher.seal(objection_field(objection_id, field), text)


def open_text(cipher: FieldCipher, objection_id: str, field: str, blob: bytes) -> str:
    """Decrypt an objection's free text ("" when none was given); raises DecryptionError."""
    if not blob:
        return ""
    return cipher.open(objection_field(objection_id, field), blob)


def new_objection(record: StoredRecord, *, reason: str, catalogue: Catalogue,
                  cipher: FieldCipher, now: datetime) -> ObjectionRow:
    """An objection to a record in use; raises FailedPrecondition when it is not in use."""
    if not in_use(record, local_date(now)):
        raise FailedPrecondition("the record is no longer shown or used",
                                 reason="record_not_in_use")
    objection_id = f"obj-{uuid.uuid4()}"
    days = catalogue.lifecycle.objection_answer_days
    return ObjectionRow(
        objection_id=objection_id, record_id=record.record_id, provider=record.provider,
        category=record.category, subject_index=record.subject_index, filed_at=rfc3339(now),
        due_date=due_date(local_date(now), days).isoformat(),
        reason_ciphertext=seal_text(cipher, objection_id, "reason", reason))


#: ObjectionOutcome enum values of the wire contract -> stored outcome.
OUTCOME_NAMES = {1: UPHELD, 2: CORRECTED, 3: WITHDRAWN}
