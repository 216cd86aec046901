"""Re-encryption of the lifecycle's sealed rows (part of ``credgate keys reencrypt``).

Objections and repair applications keep free text sealed to their own id and the
subject's blind index (taken from the record they are about); blacklist listings keep
the officers' reasons sealed to the party and the listing time, as base64 text, and
no index. Each
row moves under the active keys: every ciphertext re-wrapped (re-sealed if of the other
suite), the blind index recomputed from the record's subject. See ``gateway.rotation.reencrypt``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gateway.crypto.blind_index import blind_index, blind_indexes
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.keyring import Keyring
from gateway.errors import DecryptionError
from gateway.records.blacklist import listing_field
from gateway.records.intake import open_subject
from gateway.records.lifecycle_rows import BlacklistRow
from gateway.records.objections import objection_field
from gateway.records.repair import repair_field
from gateway.records.sql_rekey import SealedRow
from gateway.records.store import RecordStore

__all__ = ["SEALED", "rekeyed_sealed", "sealed_current"]


@dataclass(frozen=True)
class _Seals:
    """Where a table's ciphertexts are, and what their associated data binds them to."""

    #: (row attribute, field name) of each ciphertext column.
    fields: tuple[tuple[str, str], ...]
    #: The context a field of a row is sealed to (the owning module's derivation).
    context: Callable[[Any, str], FieldContext]
    #: Ciphertexts kept as base64 text (the blacklist's), not bytes.
    as_text: bool = False


SEALED: dict[str, _Seals] = {
    "objections": _Seals((("reason_ciphertext", "reason"), ("answer_ciphertext", "answer")),
                         lambda r, field: objection_field(r.objection_id, field)),
    "repairs": _Seals((("statement_ciphertext", "statement"),
                       ("decision_ciphertext", "decision")),
                      lambda r, field: repair_field(r.repair_id, field)),
    "blacklist": _Seals((("reason", "reason"), ("lift_reason", "lift_reason")),
                        lambda r, field: listing_field(r.party, r.listed_at, field),
                        as_text=True),
}


def _blob(seals: _Seals, value: Any) -> bytes:
    if not seals.as_text:
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise DecryptionError() from None


def sealed_current(keyring: Keyring, table: str, row: SealedRow) -> bool:
    """Whether a sealed row's index and ciphertexts already use the active keys."""
    seals, cipher = SEALED[table], FieldCipher(keyring)
    if not isinstance(row, BlacklistRow) and not row.subject_index.startswith(
            f"{keyring.active_index_id}:"):
        return False
    blobs = (getattr(row, attribute) for attribute, _ in seals.fields)
    return all(not value or cipher.is_current(_blob(seals, value)) for value in blobs)


def rekeyed_sealed(keyring: Keyring, store: RecordStore, table: str, row: SealedRow
                   ) -> SealedRow:
    """The row under the active keys; raises DecryptionError when a value does not open
    or its record's subject does not give its blind index."""
    seals, cipher = SEALED[table], FieldCipher(keyring)
    changes: dict[str, Any] = {}
    for attribute, field in seals.fields:
        value = getattr(row, attribute)
        if not value or cipher.is_current(_blob(seals, value)):
            continue
        moved = cipher.rotate(seals.context(row, field), _blob(seals, value))
        changes[attribute] = base64.b64encode(moved).decode("ascii") if seals.as_text \
            else moved
    if not isinstance(row, BlacklistRow):  # the others name the subject by blind index
        changes["subject_index"] = _subject_index(keyring, cipher, store, row)
    return replace(row, **changes)


def _subject_index(keyring: Keyring, cipher: FieldCipher, store: RecordStore, row: Any
                   ) -> str:
    record = store.get_record(row.record_id)
    if record is None:
        raise DecryptionError()
    subject = open_subject(record, cipher)
    if row.subject_index not in blind_indexes(keyring, subject):
        raise DecryptionError()  # not this record's subject: left as it is
    return blind_index(keyring, subject)
