"""Domain values for personal credit records, independent of storage and of gRPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from gateway.records.idnumber import IdNumber


@dataclass(frozen=True, slots=True)
class RecordSubmission:
    """A validated record as a department submitted it (plaintext, in memory only)."""

    index: int
    subject: IdNumber
    category: str
    severity: str
    event_date: date
    fields: Mapping[str, str]
    source_record_id: str

    def __repr__(self) -> str:  # fields may hold personal data
        return f"RecordSubmission(index={self.index}, category={self.category!r}, <redacted>)"


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A field as stored: ciphertext for sensitive fields, plain text otherwise."""

    plain: str | None = None
    ciphertext: bytes | None = None

    def __repr__(self) -> str:
        return "StoredValue(<encrypted>)" if self.ciphertext is not None else "StoredValue(...)"


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as the store holds it: subject only as blind index and ciphertext."""

    record_id: str
    provider: str
    source_record_id: str
    subject_index: str
    subject_ciphertext: bytes
    category: str
    severity: str
    event_date: date
    display_end: date | None
    submitted_at: str
    submission_digest: str
    fields: Mapping[str, StoredValue] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"StoredRecord(record_id={self.record_id!r}, category={self.category!r})"


@dataclass(frozen=True, slots=True)
class PutResult:
    """Outcome of storing one submitted record."""

    index: int
    record_id: str
    created: bool
