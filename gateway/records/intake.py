"""Turning a validated submission into a stored record: encrypt, index, date the display end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from gateway.catalogue.registry import Catalogue
from gateway.clock import rfc3339
from gateway.crypto.blind_index import blind_index, keyed_digest, keyed_digests
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.keyring import Keyring
from gateway.records.display import display_end
from gateway.records.model import RecordSubmission, StoredRecord, StoredValue
from gateway.records.store import RecordStore

SUBJECT_FIELD = "subject_id"


def open_subject(record: StoredRecord, cipher: FieldCipher) -> str:
    """A stored record's subject ID number, decrypted; raises DecryptionError."""
    return cipher.open(FieldContext.for_record(record, SUBJECT_FIELD), record.subject_ciphertext)


def submission_digest(keyring: Keyring, provider: str, sub: RecordSubmission) -> str:
    """A keyed digest of a submission's content, to tell a replay from a conflicting resend."""
    return keyed_digest(keyring, _submission_bytes(provider, sub))


def with_earlier_digest(store: RecordStore, keyring: Keyring, record: StoredRecord,
                        sub: RecordSubmission) -> StoredRecord:
    """The record with the digest its first submission got, when that was this content
    under an older index key: an honest replay during a key rotation stays a replay."""
    earlier = store.find_record_by_source(record.provider, record.source_record_id)
    if earlier is None or earlier.submission_digest == record.submission_digest:
        return record
    if earlier.submission_digest in keyed_digests(keyring,
                                                  _submission_bytes(record.provider, sub)):
        return replace(record, submission_digest=earlier.submission_digest)
    return record  # other content: the store refuses it as a conflicting resubmission


def _submission_bytes(provider: str, sub: RecordSubmission) -> bytes:
    """The canonical bytes of a submission's content that its digest is taken of."""
    return _content_bytes(provider, sub.source_record_id, sub.subject.value, sub.category,
                          sub.severity, sub.event_date.isoformat(), sub.fields,
                          _optional(sub))


def _optional(item: RecordSubmission | StoredRecord) -> dict[str, str]:
    """The content a submission has only when given (domain, occupation, county)."""
    return {"domain": item.domain, "occupation": item.occupation, "county": item.county}


def _content_bytes(provider: str, source: str, subject: str, category: str, severity: str,
                   event_date: str, fields: Mapping[str, str],
                   optional: Mapping[str, str]) -> bytes:
    doc = {
        "provider": provider,
        "source": source,
        "subject": subject,
        "category": category,
        "severity": severity,
        "event_date": event_date,
        "fields": dict(sorted(fields.items())),
    }
    # Only when given, so digests of records without them stay what they were.
    doc.update({name: value for name, value in optional.items() if value})
    canonical = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return canonical.encode("utf-8")


def rekeyed_submission_digest(keyring: Keyring, record: StoredRecord, subject: str,
                              fields: Mapping[str, str]) -> str:
    """A stored record's submission digest under the active index key (key rotation).

    The content is rebuilt from the record opened (``subject``, ``fields`` in clear);
    the digest moves only when that content gives the stored digest under its own key,
    so a replay of the first submission stays a replay. Otherwise it stays as it was.
    """
    content = _content_bytes(record.provider, record.source_record_id, subject,
                             record.category, record.severity, record.event_date.isoformat(),
                             fields, _optional(record))
    if record.submission_digest in keyed_digests(keyring, content):
        return keyed_digest(keyring, content)
    return record.submission_digest


def seal_submission(
    sub: RecordSubmission,
    *,
    provider: str,
    catalogue: Catalogue,
    keyring: Keyring,
    cipher: FieldCipher,
    now: datetime,
    replaces: str = "",
) -> StoredRecord:
    """Encrypt the sensitive fields and the ID number; nothing personal stays in clear.

    ``cipher`` seals the values; ``keyring`` keys the blind index and the digest.
    """
    record_id = f"rec-{uuid.uuid4()}"
    category = catalogue.categories[sub.category]
    fields: dict[str, StoredValue] = {}
    for name, value in sub.fields.items():
        if category.fields[name].sensitive:
            fields[name] = StoredValue(ciphertext=cipher.seal(
                FieldContext(record_id, sub.category, name), value))
        else:
            fields[name] = StoredValue(plain=value)
    return StoredRecord(
        record_id=record_id,
        provider=provider,
        source_record_id=sub.source_record_id,
        subject_index=blind_index(keyring, sub.subject.value),
        subject_ciphertext=cipher.seal(FieldContext(record_id, sub.category, SUBJECT_FIELD),
                                       sub.subject.value),
        category=sub.category,
        severity=sub.severity,
        event_date=sub.event_date,
        display_end=display_end(category, sub.severity, sub.event_date, sub.fields),
        submitted_at=rfc3339(now),
        submission_digest=submission_digest(keyring, provider, sub),
        fields=fields,
        domain=sub.domain,
        occupation=sub.occupation,
        county=sub.county,
        replaces=replaces,
    )
