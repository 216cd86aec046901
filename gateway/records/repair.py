"""Credit repair (信用修复): after the minimum display period the person applies; the
deciding department approves or rejects.

The catalogue says per category and severity how many months a record must have been
shown before repair may be applied for, and which party decides (the provider unless
another is named). From approval on the record is "repaired": no longer shown, shared,
disclosed or counted, and kept as evidence. Categories without a repair rule (court
listings, the PBOC's financial records) cannot be repaired through the gateway.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.catalogue.registry import Catalogue
from gateway.clock import local_date, rfc3339
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.errors import FailedPrecondition
from gateway.records.lifecycle import in_use, repair_opens
from gateway.records.lifecycle_rows import RepairRow
from gateway.records.model import StoredRecord

MAX_STATEMENT_CHARS = 2000
_SEAL_CATEGORY = "repair"


def approver_of(catalogue: Catalogue, record: StoredRecord) -> str | None:
    """The party that decides a repair of this record; None when it cannot be repaired."""
    category = catalogue.categories.get(record.category)
    if category is None or category.repair is None:
        return None
    return category.repair.approver_for(record.provider)


OBJECTION_OPEN_MESSAGE = ("an objection to this record is open: the providing department "
                          "answers it first")


def check_repairable(catalogue: Catalogue, record: StoredRecord, now: datetime) -> str:
    """The approver, once the record may be repaired today; raises FailedPrecondition."""
    today = local_date(now)
    if not in_use(record, today):
        raise FailedPrecondition("the record is no longer shown or used",
                                 reason="record_not_in_use")
    if record.disputed:
        # Repairing would leave the objection without a record to correct or withdraw.
        raise FailedPrecondition(OBJECTION_OPEN_MESSAGE, reason="objection_open")
    category = catalogue.categories[record.category]
    opens = repair_opens(category, record)
    approver = approver_of(catalogue, record)
    if opens is None or approver is None:
        raise FailedPrecondition(f"records of {record.category} at this severity cannot be "
                                 "repaired", reason="not_repairable")
    if today < opens:
        raise FailedPrecondition(f"repair may be applied for from {opens.isoformat()}, "
                                 "after the minimum display period",
                                 reason="minimum_display_period")
    return approver


def repair_field(repair_id: str, field: str) -> FieldContext:
    """What a repair's free text is sealed to: the application and the field."""
    return FieldContext(repair_id, _SEAL_CATEGORY, field)


def seal_text(cipher: FieldCipher, repair_id: str, field: str, text: str) -> bytes:
    """Encrypt a repair's free text, bound to the application and the field."""
    return cipher.seal(repair_field(repair_id, field), text)


def open_text(cipher: FieldCipher, repair_id: str, field: str, blob: bytes) -> str:
    """Decrypt a repair's free text ("" when none); raises DecryptionError."""
    if not blob:
        return ""
    return cipher.open(repair_field(repair_id, field), blob)


def new_repair(record: StoredRecord, *, statement: str, catalogue: Catalogue,
               cipher: FieldCipher, now: datetime) -> RepairRow:
    """An application for repair of a record; raises FailedPrecondition when not allowed."""
    approver = check_repairable(catalogue, record, now)
    repair_id = f"rep-{uuid.uuid4()}"
    return RepairRow(
        repair_id=repair_id, record_id=record.record_id, provider=record.provider,
        approver=approver, category=record.category, subject_index=record.subject_index,
        applied_at=rfc3339(now),
        statement_ciphertext=seal_text(cipher, repair_id, "statement", statement))
