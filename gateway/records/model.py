"""Domain values for personal credit records, independent of storage and of gRPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from gateway.clock import parse_rfc3339
from gateway.pii.idnumber import IdNumber


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
    #: Key domain and occupational group codes of the catalogue ("" when not given).
    domain: str = ""
    occupation: str = ""
    #: The county (县区) the record belongs to (catalogue [counties]); "" city-wide.
    county: str = ""

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
    domain: str = ""
    occupation: str = ""
    #: Lifecycle state (gateway.records.lifecycle): only "active" records are ever shown
    #: or used; the others are kept as evidence.
    state: str = "active"
    #: When the record left use (RFC 3339), and the objection, repair or record id why.
    state_at: str | None = None
    state_ref: str = ""
    #: The record id this one corrects (a new version after an objection), else "".
    replaces: str = ""
    #: An objection to the record is open (read from the objections, never stored here;
    #: for a record from a peer, the mark its origin announced).
    disputed: bool = False
    #: The county (县区) the record belongs to; "" for a city-wide record.
    county: str = ""
    #: The peer platform the record came from ("" when submitted here): read-only here.
    origin: str = ""
    #: The party that provided it at its origin.
    origin_provider: str = ""

    def __repr__(self) -> str:
        return f"StoredRecord(record_id={self.record_id!r}, category={self.category!r})"


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """A record stored by a submission whose outcome is not known yet
    (lifecycle.AWAITING_ALLOW)."""

    record_id: str
    #: The requests that submitted it, as stored: "request-id@time" separated by spaces.
    owners: str
    #: When it was last submitted (RFC 3339, as stored).
    since: str

    def requests(self) -> dict[str, datetime]:
        """Each request that submitted the record, with when it did; the record becomes
        active if any of them has an allow entry."""
        out: dict[str, datetime] = {}
        for owner in self.owners.split():
            request_id, _, at = owner.rpartition("@")
            out[request_id] = parse_rfc3339(at)
        return out


def pending_owner(request_id: str, at: str) -> str:
    """How a pending record names a request that submitted it (PendingRecord.owners)."""
    return f"{request_id}@{at}"


@dataclass(frozen=True, slots=True)
class PutResult:
    """Outcome of storing one submitted record."""

    index: int
    record_id: str
    created: bool


@dataclass(frozen=True, slots=True)
class CountyRecordRow:
    """What supervision counts of a record that belongs to a county (no personal data)."""

    county: str
    state: str
    display_end: date | None
    replaces: str
    disputed: bool
