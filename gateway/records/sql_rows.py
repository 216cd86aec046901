"""Rows of the one SQL store: record and consent columns, their statements and conversions.

Shared by :mod:`gateway.records.sql_store` and :mod:`gateway.records.sql_lifecycle`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from gateway.records.model import StoredRecord, StoredValue
from gateway.records.sql_dialect import Row
from gateway.records.store import ConsentRow

RECORD_COLUMNS = (
    "record_id, provider, source_record_id, subject_index, subject_ct, category, severity, "
    "event_date, display_end, submitted_at, submission_digest, fields, "
    "domain, occupation, state, state_at, state_ref, replaces, county, origin, "
    "origin_provider"
)
#: Whether an objection to the record is open (here, or at the origin of a record from a
#: peer), as a column of a query over records AS r.
DISPUTED = ("(r.origin_disputed = 1 OR EXISTS (SELECT 1 FROM objections o "
            "WHERE o.record_id = r.record_id AND o.status = 'open'))")
SELECT_RECORD = f"SELECT {RECORD_COLUMNS}, {DISPUTED} FROM records AS r"
_DISPUTED_COLUMN = RECORD_COLUMNS.count(",") + 1
INSERT_RECORD = (
    f"INSERT INTO records ({RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (provider, source_record_id) DO NOTHING RETURNING record_id"
)
CONSENT_COLUMNS = (
    "consent_id, issuer, grantee, purpose, subject_index, not_before, not_after, max_uses, "
    "artefact_ct, signature, issued_at, uses, revoked_at, revoke_reason"
)


def encode_fields(fields: Mapping[str, StoredValue]) -> str:
    """Serialise stored field values to the JSON column format."""
    out: dict[str, dict[str, str]] = {}
    for name, value in fields.items():
        if value.ciphertext is not None:
            out[name] = {"c": base64.b64encode(value.ciphertext).decode("ascii")}
        elif value.plain is not None:
            out[name] = {"p": value.plain}
        else:
            raise ValueError("a stored field needs plain text or ciphertext")
    return json.dumps(out, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def decode_fields(text: str) -> dict[str, StoredValue]:
    """Parse the JSON column format back into stored field values."""
    out: dict[str, StoredValue] = {}
    for name, value in json.loads(text).items():
        if "c" in value:
            out[name] = StoredValue(ciphertext=base64.b64decode(value["c"]))
        else:
            out[name] = StoredValue(plain=value["p"])
    return out


def as_date(value: date | str | None) -> date | None:
    # A DATE column on PostgreSQL, ISO text on SQLite.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def record_from_row(row: Row) -> StoredRecord:
    """A StoredRecord from SELECT_RECORD's columns."""
    event_date = as_date(row[7])
    assert event_date is not None
    return StoredRecord(
        record_id=row[0], provider=row[1], source_record_id=row[2], subject_index=row[3],
        subject_ciphertext=bytes(row[4]), category=row[5], severity=row[6],
        event_date=event_date, display_end=as_date(row[8]), submitted_at=row[9],
        submission_digest=row[10], fields=decode_fields(row[11]),
        domain=row[12], occupation=row[13], state=row[14], state_at=row[15],
        state_ref=row[16], replaces=row[17], county=row[18], origin=row[19],
        origin_provider=row[20], disputed=bool(row[_DISPUTED_COLUMN]),
    )


def record_params(rec: StoredRecord) -> tuple[Any, ...]:
    """The values of RECORD_COLUMNS for INSERT_RECORD (dates as ISO text: both accept it)."""
    return (
        rec.record_id, rec.provider, rec.source_record_id, rec.subject_index,
        rec.subject_ciphertext, rec.category, rec.severity, rec.event_date.isoformat(),
        rec.display_end.isoformat() if rec.display_end else None, rec.submitted_at,
        rec.submission_digest, encode_fields(rec.fields), rec.domain, rec.occupation,
        rec.state, rec.state_at, rec.state_ref, rec.replaces, rec.county, rec.origin,
        rec.origin_provider,
    )


def consent_from_row(row: Row) -> ConsentRow:
    """A ConsentRow from CONSENT_COLUMNS."""
    return ConsentRow(
        consent_id=row[0], issuer=row[1], grantee=row[2], purpose=row[3],
        subject_index=row[4], not_before=row[5], not_after=row[6], max_uses=int(row[7]),
        artefact_ciphertext=bytes(row[8]), signature=bytes(row[9]), issued_at=row[10],
        uses=int(row[11]), revoked_at=row[12], revoke_reason=row[13],
    )
