"""What the person attached to their records: statements (自主解释) and extension
applications (申请延期), released with the record they cite and never on their own.

Whoever a query releases a record to sees what the person attached to it; a querier
that may not see the record sees nothing of the attachment either. The text is free
text the person wrote, and may name others: it is released as the record's own
narratives are to that party, in clear only where the party reads a free-text field of
the record in clear, not at all where it reads none of them even masked, else through
its masking profile's free-text rule (the scan operator masks ID, mobile and card
numbers, addresses and names inside it). The
department's answer to an extension application (gateway.records.extensions) goes with
the application, its note released the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from gateway.catalogue.registry import Category
from gateway.crypto.fields import FieldCipher
from gateway.protect.profiles import MaskContext, MaskingProfiles
from gateway.protect.release import CLEAR, MASKED, WITHHELD, field_value, person_names
from gateway.records import extensions as ext
from gateway.records.lifecycle import in_use
from gateway.records.model import StoredRecord
from gateway.records.store import RecordStore

#: Attachment categories -> the field that names the record they are about.
ATTACHMENTS = {"personal_statement": "about_record_id",
               "extension_application": "about_record_id"}
TEXT_FIELD = "statement"
NOTE_FIELD = "note"
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
    #: An extension answer: the application it answers, granted or refused, until when.
    answers: str = ""
    outcome: str = ""
    granted_until: str = ""

    def __repr__(self) -> str:
        return f"Attachment(record_id={self.record_id!r}, kind={self.kind!r})"


def attachments_for(store: RecordStore, cipher: FieldCipher, indexes: Sequence[str],
                    released: Collection[str], today: date) -> dict[str, list[Attachment]]:
    """The attachments in use of the person's records in ``released``, by record id, as
    stored (see `protect_attachments` before they leave)."""
    if not released:
        return {}
    out: dict[str, list[Attachment]] = defaultdict(list)
    found = [r for r in store.find_records(list(indexes), [*ATTACHMENTS, ext.ANSWER])
             if in_use(r, today)]
    applications: dict[str, str] = {}  # application id -> the record it is about
    for rec in found:
        if rec.category == ext.ANSWER:
            continue
        cited = _plain(rec, ATTACHMENTS[rec.category])
        if cited not in released:
            continue
        if rec.category == ext.APPLICATION:
            applications[rec.record_id] = cited
        out[cited].append(Attachment(
            record_id=rec.record_id, kind=rec.category,
            text=field_value(rec, TEXT_FIELD, cipher),
            requested_until=_plain(rec, UNTIL_FIELD)))
    for rec in found:
        answered = _plain(rec, ext.APPLICATION_FIELD) if rec.category == ext.ANSWER else ""
        if answered in applications:
            out[applications[answered]].append(Attachment(
                record_id=rec.record_id, kind=rec.category,
                text=field_value(rec, NOTE_FIELD, cipher) if NOTE_FIELD in rec.fields else "",
                answers=answered, outcome=_plain(rec, ext.OUTCOME_FIELD),
                granted_until=_plain(rec, ext.UNTIL_FIELD)))
    return dict(out)


def _plain(record: StoredRecord, name: str) -> str:
    value = record.fields.get(name)
    return (value.plain or "") if value is not None else ""


def text_field(kind: str) -> str:
    """The field that holds an attachment's text: the person's statement, or the
    department's note on its answer."""
    return NOTE_FIELD if kind == ext.ANSWER else TEXT_FIELD


def statement_level(category: Category, access: Mapping[str, str]) -> str:
    """How the person's text on a record of this category is released to a party with
    this field access: CLEAR only where it reads one of the record's free-text fields in
    clear, WITHHELD where it reads none of them even masked (the text would otherwise
    reach a party the policy gives no narrative of the record), MASKED otherwise (a
    category with no narrative of its own included)."""
    levels = {access.get(code, WITHHELD) for code, spec in category.fields.items()
              if spec.kind == FREE_TEXT}
    if CLEAR in levels:
        return CLEAR
    if levels and MASKED not in levels:
        return WITHHELD
    return MASKED


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
        level = statement_level(category, access[record.category])
        if level == CLEAR:
            out[record_id] = list(items)
            continue
        if level == WITHHELD:
            continue
        names = person_names(record, category, cipher)
        kept: list[Attachment] = []
        for a in items:
            masked = profiles.apply(audience, FREE_TEXT, a.text, context=MaskContext(
                field=f"{a.kind}.{text_field(a.kind)}", names=names))
            if masked is not None:
                kept.append(replace(a, text=masked, disclosure=MASKED))
        if kept:
            out[record_id] = kept
    return out
