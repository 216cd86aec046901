"""The public disclosure feed: publishable records, masked by the public profile, reviewed.

Only records the catalogue flags public, in use (within their display period, not
repaired, withdrawn or removed) and not under objection are considered
(`gateway.records.lifecycle.publishable`). Each is decrypted in memory, desensitised
by the public masking profile (a field with no public rule stops the run, naming the
field), and the whole batch goes through the privacy review gate before anything is
released: no output value may contain an ID number, a mobile or bank card number or
the full name of any subject of the run (every batch is checked against all of them,
so the batch size changes nothing). Records of people who were under 18 on the event
date are never published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.catalogue.registry import NAME_TYPES, Catalogue
from gateway.crypto.fields import FieldCipher
from gateway.disclosure.gate import GateResult, Subjects, review_batch, subjects_of
from gateway.pii.idnumber import parse_id_number
from gateway.protect.profiles import MaskingProfiles
from gateway.protect.release import field_value, person_names
from gateway.records.intake import open_subject
from gateway.records.model import StoredRecord

PUBLIC = "public"
ADULT_AGE = 18


@dataclass(frozen=True, slots=True)
class PublishedRecord:
    """A record as the public website receives it."""

    record_id: str
    category: str
    category_name_zh: str
    severity: str
    event_date: str
    display_end: str
    provider: str
    provider_name_zh: str
    fields: dict[str, str]

    def to_json(self) -> dict[str, object]:
        """Plain data for the JSON export."""
        return {"record_id": self.record_id, "category": self.category,
                "category_name_zh": self.category_name_zh, "severity": self.severity,
                "event_date": self.event_date, "display_end": self.display_end,
                "provider": self.provider, "provider_name_zh": self.provider_name_zh,
                "fields": dict(sorted(self.fields.items()))}


@dataclass(frozen=True, slots=True)
class PublishedBatch:
    """One batch of the feed and the privacy review's verdict on it."""

    records: tuple[PublishedRecord, ...]
    review: GateResult


def _a_minor(subject_id: str, record: StoredRecord) -> bool:
    """Whether the person was under 18 on the record's event date: never published."""
    subject = parse_id_number(subject_id, today=record.event_date)
    return subject.age_on(record.event_date) < ADULT_AGE


def run_subjects(records: Iterable[StoredRecord], *, catalogue: Catalogue,
                 cipher: FieldCipher) -> Subjects:
    """The names and ID numbers of every record of a run, for each batch's review."""
    names: list[str] = []
    subject_ids: list[str] = []
    for record in records:
        names.extend(person_names(record, catalogue.categories[record.category], cipher))
        subject_ids.append(open_subject(record, cipher))
    return subjects_of(names, subject_ids)


def publish_batch(records: Sequence[StoredRecord], *, catalogue: Catalogue,
                  profiles: MaskingProfiles, cipher: FieldCipher,
                  run: Subjects | None = None) -> PublishedBatch:
    """Desensitise a batch by the public profile and review it (``run``: see review_batch).

    Records of people who were minors on the event date are left out. Raises
    UnpublishableField when a field has no public rule (the run must stop) and
    DecryptionError when a stored value cannot be decrypted.
    """
    out: list[PublishedRecord] = []
    names: list[str] = []
    subject_ids: list[str] = []
    # Per category: a value cache only ever serves one category's fields.
    seen: dict[str, dict[tuple[str, str], str]] = {}
    for record in records:
        subject_id = open_subject(record, cipher)
        if _a_minor(subject_id, record):
            continue
        category = catalogue.categories[record.category]
        values = {name: field_value(record, name, cipher) for name in record.fields}
        subject_ids.append(subject_id)
        types = {name: spec.type for name, spec in category.fields.items()}
        record_names = [v for n, v in values.items() if types.get(n) in NAME_TYPES and v]
        names.extend(record_names)
        masked = profiles.apply_record(PUBLIC, record.category, values, types,
                                       names=record_names,
                                       seen=seen.setdefault(record.category, {}))
        provider = catalogue.parties.get(record.provider)
        out.append(PublishedRecord(
            record_id=record.record_id, category=record.category,
            category_name_zh=category.name_zh, severity=record.severity,
            event_date=record.event_date.isoformat(),
            display_end=record.display_end.isoformat() if record.display_end else "",
            provider=record.provider, provider_name_zh=provider.name_zh if provider else "",
            fields=masked))
    review = review_batch([r.fields for r in out], subject_names=names,
                          subject_ids=subject_ids, run=run)
    return PublishedBatch(records=tuple(out), review=review)
