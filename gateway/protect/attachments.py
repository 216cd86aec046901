"""What the person attached to their records: statements (自主解释) and extension
applications (申请延期), released with the record they cite and never on their own.

Whoever a query releases a record to sees what the person attached to it; a querier
that may not see the record sees nothing of the attachment either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.crypto.keyring import Keyring
from gateway.protect.release import field_value
from gateway.records.lifecycle import in_use
from gateway.records.store import RecordStore

#: Attachment categories -> the field that names the record they are about.
ATTACHMENTS = {"personal_statement": "about_record_id",
               "extension_application": "about_record_id"}
TEXT_FIELD = "statement"
UNTIL_FIELD = "requested_until"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One statement or extension application, as released with its record."""

    record_id: str
    kind: str
    text: str
    requested_until: str = ""

    def __repr__(self) -> str:
        return f"Attachment(record_id={self.record_id!r}, kind={self.kind!r})"


def attachments_for(store: RecordStore, keyring: Keyring, indexes: Sequence[str],
                    released: Collection[str], today: date) -> dict[str, list[Attachment]]:
    """The attachments in use of the person's records in ``released``, by record id."""
    if not released:
        return {}
    out: dict[str, list[Attachment]] = defaultdict(list)
    for rec in store.find_records(list(indexes), list(ATTACHMENTS)):
        about = rec.fields.get(ATTACHMENTS[rec.category])
        cited = about.plain if about is not None else None
        if not in_use(rec, today) or cited is None or cited not in released:
            continue
        until = rec.fields.get(UNTIL_FIELD)
        out[cited].append(Attachment(
            record_id=rec.record_id, kind=rec.category,
            text=field_value(rec, TEXT_FIELD, keyring),
            requested_until=(until.plain or "") if until is not None else ""))
    return dict(out)
