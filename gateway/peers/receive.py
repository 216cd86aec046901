"""Receiving a peer's pushed changes: checked, sealed under this gateway's keys, stored
read-only with their origin.

What a peer may send is this catalogue's ``receive`` list for it (policies/sharing.toml);
anything else refuses the whole push (fail closed: the sender's outbox keeps it and the
operators see the mismatch). A received record is encrypted and blind-indexed exactly as
a submitted one, under a local id derived from its origin and origin id (the same on
every resend), carries its origin and origin provider, and counts in checks like any
record; only its origin changes it (gateway/records/sql_lifecycle.py refuses the rest).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from gateway.api import pb
from gateway.catalogue.registry import Catalogue, Category
from gateway.catalogue.sharing import SharingRule
from gateway.clock import rfc3339
from gateway.crypto.blind_index import blind_index, keyed_digest
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.keyring import Keyring
from gateway.errors import InvalidArgument, PermissionDenied
from gateway.pii.identifiers import check_identifier
from gateway.pii.idnumber import parse_id_number
from gateway.records.intake import SUBJECT_FIELD
from gateway.records.lifecycle import ACTIVE, REMOVED, STATES
from gateway.records.model import StoredRecord, StoredValue
from gateway.records.peer_rows import ReceivedChange
from gateway.validate.requests import check_clear_value

UPSERT, RETIRE = "upsert", "retire"
MAX_CHANGES = 1000
#: The reasons a record leaves use at its origin (its states but active, the end of its
#: display, and a category no longer shared); any other is kept here as "retired".
RETIREMENTS = frozenset(set(STATES) - {ACTIVE}) | {"expired", "not_shared"}
_ORIGIN_IDS = uuid.UUID("5f0c3d1e-8a43-4c38-9a57-6d2f3c1b7e21")


def local_record_id(origin: str, origin_record_id: str) -> str:
    """The id a record from a peer has here: the same for every resend of it."""
    return f"rec-{uuid.uuid5(_ORIGIN_IDS, f'{origin}/{origin_record_id}')}"


def _date(text: str, what: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{where}: {what} must be a date YYYY-MM-DD",
                              reason="bad_date") from None


def _category(change: pb.PeerChange, rule: SharingRule, catalogue: Catalogue,
              where: str) -> Category | None:
    if change.category not in catalogue.categories:
        if change.kind == RETIRE and not change.category:
            return None  # a record the origin no longer has at all
        raise InvalidArgument(f"{where}: unknown category", reason="unknown_category")
    if change.category not in rule.receive:
        raise PermissionDenied(f"{where}: this platform does not take the category from "
                               "the sender", reason="not_received")
    return catalogue.categories[change.category]


def _seal(change: pb.PeerChange, *, origin: str, category: Category, keyring: Keyring,
          cipher: FieldCipher, now: datetime, where: str) -> StoredRecord:
    """The record as stored here; raises InvalidArgument for a malformed change."""
    subject = parse_id_number(change.subject_id, today=now.date(), field=f"{where} subject_id")
    if change.severity not in category.severities:
        raise InvalidArgument(f"{where}: unknown severity", reason="unknown_severity")
    record_id = local_record_id(origin, change.record_id)
    fields: dict[str, StoredValue] = {}
    for position, f in enumerate(change.fields):
        spec = category.fields.get(f.name)
        if spec is None or f.name in fields:
            raise InvalidArgument(f"{where}: field {position} is not a field of the "
                                  "category, or comes twice", reason="unknown_field")
        if len(f.value) > spec.max_chars:
            raise InvalidArgument(f"{where}: field {position} is too long",
                                  reason="field_too_long")
        # Kept in clear: no personal number, as at intake (the sender's policy may have
        # released it in clear, the receiver's catalogue keeps it so), whatever its type:
        # a released value may be masked, so it is not checked against its type.
        check_clear_value(spec, f.value, where=where, typed=False)
        fields[f.name] = (StoredValue(ciphertext=cipher.seal(
            FieldContext(record_id, category.code, f.name), f.value))
            if spec.sensitive else StoredValue(plain=f.value))
    for value, what in ((change.provider, "provider"), (change.domain, "domain"),
                        (change.occupation, "occupation")):
        if value:
            # Kept as written with the record: no personal number, a mobile neither.
            check_identifier(value, what=what, where=where, logged=True)
    canonical = json.dumps({"origin": origin, "record": change.record_id,
                            "subject": subject.value, "category": category.code,
                            "severity": change.severity, "event_date": change.event_date,
                            "display_end": change.display_end, "disputed": change.disputed,
                            "fields": {f.name: f.value for f in change.fields}},
                           ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return StoredRecord(
        record_id=record_id, provider=origin, source_record_id=change.record_id,
        subject_index=blind_index(keyring, subject.value),
        subject_ciphertext=cipher.seal(FieldContext(record_id, category.code, SUBJECT_FIELD),
                                       subject.value),
        category=category.code, severity=change.severity,
        event_date=_date(change.event_date, "event_date", where),
        display_end=(_date(change.display_end, "display_end", where)
                     if change.display_end else None),
        submitted_at=rfc3339(now), submission_digest=keyed_digest(keyring, canonical.encode()),
        fields=fields, domain=change.domain, occupation=change.occupation,
        replaces=local_record_id(origin, change.replaces) if change.replaces else "",
        disputed=change.disputed, origin=origin, origin_provider=change.provider)


def received_changes(changes: Sequence[pb.PeerChange], *, origin: str, rule: SharingRule,
                     catalogue: Catalogue, keyring: Keyring, cipher: FieldCipher,
                     now: datetime) -> list[ReceivedChange]:
    """A push's changes checked and sealed, in order; raises InvalidArgument or
    PermissionDenied (naming the change by position, never a value)."""
    if len(changes) > MAX_CHANGES:
        raise InvalidArgument(f"at most {MAX_CHANGES} changes per push", reason="too_many")
    out: list[ReceivedChange] = []
    for index, change in enumerate(changes):
        where = f"change {index}"
        if change.seq <= 0:
            raise InvalidArgument(f"{where}: seq must be positive", reason="bad_seq")
        # The origin's record id is kept as written (the received record's source id).
        check_identifier(change.record_id, what="record_id", where=where, logged=True)
        if change.kind not in (UPSERT, RETIRE):
            raise InvalidArgument(f"{where}: kind must be upsert or retire", reason="bad_kind")
        category = _category(change, rule, catalogue, where)
        if change.kind == RETIRE or category is None:
            known = change.state in RETIREMENTS
            out.append(ReceivedChange(
                seq=change.seq, origin_record_id=change.record_id, record=None,
                state=change.state if known and change.state in STATES else REMOVED,
                at=rfc3339(now), reason=change.state if known else "retired"))
            continue
        out.append(ReceivedChange(seq=change.seq, origin_record_id=change.record_id,
                                  record=_seal(change, origin=origin, category=category,
                                               keyring=keyring, cipher=cipher, now=now,
                                               where=where)))
    return out
