"""What the person attached to their records: statements (自主解释) and extension
applications (申请延期), released with the record they cite and never on their own.

Whoever a query releases a record to sees what the person attached to it; a querier
that may not see the record sees nothing of the attachment either. The text is free
text the person wrote, and may name others: it is released as the record's own
narratives are to that party, in clear only where the party reads a free-text field of
the record in clear, else through its masking profile's free-text rule (the scan
operator masks ID, mobile and card numbers, addresses and names inside it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from gateway.catalogue.registry import Category
from gateway.crypto.fields import FieldCipher
from gateway.protect.profiles import MaskContext, MaskingProfiles
from gateway.protect.release import CLEAR, MASKED, field_value, person_names
from gateway.records.lifecycle import in_use
from gateway.records.model import StoredRecord
from gateway.records.store import RecordStore

#: Attachment categories -> the field that names the record they are about.
ATTACHMENTS = {"personal_statement": "about_record_id",
               "extension_application": "about_record_id"}
TEXT_FIELD = "statement"
UNTIL_FIELD = "requested_until"
FREE_TEXT = "free_text"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One statement or extension application, as released with its record."""

    record_id: str
    kind: str
    text: str
    requested_until: str = ""
    #: CLEAR, or MASKED when the text went through the audience's free-text rule.
    disclosure: str = CLEAR

    def __repr__(self) -> str:
        return f"Attachment(record_id={self.record_id!r}, kind={self.kind!r})"


def attachments_for(store: RecordStore, cipher: FieldCipher, indexes: Sequence[str],
                    released: Collection[str], today: date) -> dict[str, list[Attachment]]:
    """The attachments in use of the person's records in ``released``, by record id, as
    stored (see `protect_attachments` before they leave)."""
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
            text=field_value(rec, TEXT_FIELD, cipher),
            requested_until=(until.plain or "") if until is not None else ""))
    return dict(out)


def statement_level(category: Category, access: Mapping[str, str]) -> str:
    """How the person's text on a record of this category is released to a party with
    this field access: CLEAR only where it reads one of the record's free-text fields in
    clear, MASKED otherwise (a category with no narrative of its own included)."""
    clear = any(spec.kind == FREE_TEXT and access.get(code) == CLEAR
                for code, spec in category.fields.items())
    return CLEAR if clear else MASKED


def protect_attachments(attached: Mapping[str, Sequence[Attachment]],
                        records: Mapping[str, StoredRecord], *,
                        categories: Mapping[str, Category],
                        access: Mapping[str, Mapping[str, str]], cipher: FieldCipher,
                        profiles: MaskingProfiles, audience: str
                        ) -> dict[str, list[Attachment]]:
    """The attachments as the party may see them (see the module docstring); one the
    audience's profile drops is left out."""
    out: dict[str, list[Attachment]] = {}
    for record_id, items in attached.items():
        record = records[record_id]
        category = categories[record.category]
        if statement_level(category, access[record.category]) == CLEAR:
            out[record_id] = list(items)
            continue
        names = person_names(record, category, cipher)
        kept: list[Attachment] = []
        for a in items:
            masked = profiles.apply(audience, FREE_TEXT, a.text, context=MaskContext(
                field=f"{a.kind}.{TEXT_FIELD}", names=names))
            if masked is not None:
                kept.append(replace(a, text=masked, disclosure=MASKED))
        if kept:
            out[record_id] = kept
    return out
