"""Online key rotation: a new active key, then every stored value moved under it.

1. ``rotate_key_file`` (``credgate keys rotate master|index``) adds a fresh key to
   data-keys.toml (in the PKCS#11 token when the active key lives there) and makes it
   active; the old keys stay, so everything stored still opens and is still found.
2. Each serving instance takes the new keys in place (``Gateway.reload_keys``, on
   SIGHUP); the change is an audit entry. Lookups already try every index key.
3. ``reencrypt_store`` (``credgate keys reencrypt``) walks the records by id and, for
   each one not yet under the active keys, re-wraps every data key, re-seals values of
   the other suite, and recomputes the blind index (then the same for the consents:
   their sealed artefact and revocation reason, and their blind index, taken from the
   artefact), then writes the record back with a
   compare-and-set: a record changed meanwhile (by another re-encryption, on another
   instance) is re-read, never overwritten. A killed run is resumed by running it
   again: records already under the active keys are recognised from their key ids
   alone and skipped.

Run step 3 only once every instance serves the new keys: an instance still on the old
keyring does not find a record whose blind index was rewritten under the new key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from gateway.consent.artefacts import consent_field, parse_artefact
from gateway.crypto.blind_index import blind_index
from gateway.crypto.fields import FieldCipher, FieldContext
from gateway.crypto.key_files import MARKER_FILE, _write
from gateway.crypto.keyring import DATA_KEYS_FILE, Keyring, keyring_toml, load_keyring, new_key_id
from gateway.crypto.suites import INTERNATIONAL
from gateway.crypto.token import TokenKey
from gateway.errors import ConfigurationError, CredgateError, DecryptionError
from gateway.records.intake import SUBJECT_FIELD, open_subject, rekeyed_submission_digest
from gateway.records.model import StoredRecord, StoredValue
from gateway.records.sql_rekey import SealedRow, sealed_key
from gateway.records.store import ConsentRow, RecordStore
from gateway.rotation.reencrypt_sealed import SEALED, rekeyed_sealed, sealed_current

Row = TypeVar("Row")

__all__ = ["Progress", "reencrypt_store", "rekeyed", "rekeyed_consent", "rotate_key_file",
           "under_active_keys"]

KINDS = ("master", "index")
#: Later than any change is staged.
_EVER = datetime.max.replace(tzinfo=UTC)


def rotate_key_file(keys_dir: Path, kind: str) -> tuple[Keyring, str]:
    """Make a fresh master or blind-index key active in keys_dir/data-keys.toml.

    Returns the new keyring and the new key's id. The key is made in the token when the
    active key of that kind lives in one. Raises ConfigurationError.
    """
    if kind not in KINDS:
        raise ConfigurationError("rotate master or index")
    keyring = load_keyring(keys_dir)
    key_id = new_key_id("mk" if kind == "master" else "bi")
    keys = keyring.master_keys if kind == "master" else keyring.index_keys
    active = keys[keyring.active_master_id if kind == "master" else keyring.active_index_id]
    if isinstance(active, TokenKey):
        if kind == "master":
            active.token.create_aes_key(key_id)
            rotated = keyring._replace(
                master_keys={**keyring.master_keys,
                             key_id: TokenKey(active.token, key_id, "aes")},
                active_master_id=key_id,
                master_suites={**keyring.master_suites, key_id: INTERNATIONAL})
        else:
            active.token.create_hmac_key(key_id)
            rotated = keyring._replace(
                index_keys={**keyring.index_keys, key_id: TokenKey(active.token, key_id, "hmac")},
                active_index_id=key_id,
                index_suites={**keyring.index_suites, key_id: INTERNATIONAL})
    elif kind == "master":
        rotated = keyring.with_new_master(key_id)
    else:
        rotated = keyring.with_new_index_key(key_id)
    development = (Path(keys_dir) / MARKER_FILE).exists()
    _write(Path(keys_dir) / DATA_KEYS_FILE,
           keyring_toml(rotated, development=development).encode("utf-8"), private=True)
    return rotated, key_id


def _index_current(keyring: Keyring, value: str) -> bool:
    """Whether a blind index or keyed digest ("<key id>:<hex>") is under the active key."""
    return value.startswith(f"{keyring.active_index_id}:")


def under_active_keys(keyring: Keyring, record: StoredRecord) -> bool:
    """Whether a record's index, submission digest and every ciphertext already use the
    active keys."""
    if not (record.subject_index or record.subject_ciphertext or record.fields):
        return True  # a peer's record that left use: it keeps nothing to re-encrypt
    if not (_index_current(keyring, record.subject_index)
            and _index_current(keyring, record.submission_digest)):
        return False
    cipher = FieldCipher(keyring)
    if not cipher.is_current(record.subject_ciphertext):
        return False
    return all(v.ciphertext is None or cipher.is_current(v.ciphertext)
               for v in record.fields.values())


def rekeyed(keyring: Keyring, record: StoredRecord) -> StoredRecord:
    """The record under the active keys; raises DecryptionError when a value does not open."""
    cipher = FieldCipher(keyring)

    def again(field: str, blob: bytes) -> bytes:
        if cipher.is_current(blob):
            return blob
        return cipher.rotate(FieldContext.for_record(record, field), blob)

    subject = open_subject(record, cipher)
    fields = {name: value if value.ciphertext is None
              else StoredValue(ciphertext=again(name, value.ciphertext))
              for name, value in record.fields.items()}
    digest = record.submission_digest
    if not _index_current(keyring, digest):
        clear = {name: value.plain if value.ciphertext is None else cipher.open(
            FieldContext.for_record(record, name), value.ciphertext)
            for name, value in record.fields.items()}
        digest = rekeyed_submission_digest(keyring, record, subject,
                                           {k: v for k, v in clear.items() if v is not None})
    return replace(record, subject_index=blind_index(keyring, subject),
                   subject_ciphertext=again(SUBJECT_FIELD, record.subject_ciphertext),
                   fields=fields, submission_digest=digest)


def _consent_current(keyring: Keyring, row: ConsentRow) -> bool:
    cipher = FieldCipher(keyring)
    if not row.subject_index.startswith(f"{keyring.active_index_id}:"):
        return False
    if not cipher.is_current(row.artefact_ciphertext):
        return False
    return not row.revoke_reason or cipher.is_current(_reason_blob(row.revoke_reason))


def _reason_blob(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise DecryptionError() from None


def rekeyed_consent(keyring: Keyring, row: ConsentRow) -> ConsentRow:
    """A consent row under the active keys; raises DecryptionError when it does not open."""
    cipher = FieldCipher(keyring)

    def again(field: str, blob: bytes) -> bytes:
        if cipher.is_current(blob):
            return blob
        return cipher.rotate(consent_field(row.consent_id, field), blob)

    artefact = cipher.open_bytes(consent_field(row.consent_id, "artefact"),
                                 row.artefact_ciphertext)
    try:
        terms = parse_artefact(artefact)
    except CredgateError:
        raise DecryptionError() from None
    reason = row.revoke_reason
    if reason:
        reason = base64.b64encode(again("revoke_reason", _reason_blob(reason))).decode("ascii")
    return replace(row, subject_index=blind_index(keyring, terms.subject_id),
                   artefact_ciphertext=again("artefact", row.artefact_ciphertext),
                   revoke_reason=reason)


@dataclass
class Progress:
    """What a re-encryption did so far (records and consents together)."""

    seen: int = 0
    rekeyed: int = 0
    already: int = 0
    #: Rows another writer changed first; re-read and finished (or left to it).
    raced: int = 0
    #: Rows whose values did not open under any key (left as they were).
    failed: int = 0
    #: Changes staged for their call's allow entry when the run ended
    #: (gateway.records.changes): sealed under the keys of their call, they are made
    #: within minutes, and a second run moves them.
    awaiting: int = 0


@dataclass(frozen=True)
class _Table(Generic[Row]):
    page: Callable[..., list[Row]]
    current: Callable[[Keyring, Row], bool]
    rekey: Callable[[Keyring, Row], Row]
    write: Callable[[Sequence[tuple[Row, Row]]], list[bool]]
    get: Callable[[str], Row | None]
    key: Callable[[Row], str]


def _reencrypt(table: _Table[Row], keyring: Keyring, progress: Progress, batch: int,
               on_progress: Callable[[Progress], None] | None) -> None:
    after = ""
    while True:
        page = table.page(after=after, limit=batch)
        if not page:
            return
        progress.seen += len(page)
        pending = page
        for _attempt in range(3):
            changes = []
            for row in pending:
                if table.current(keyring, row):
                    progress.already += 1
                    continue
                try:
                    moved = table.rekey(keyring, row)
                except DecryptionError:
                    progress.failed += 1
                    continue
                if moved == row:  # nothing could move (a digest not reproduced): as it was
                    progress.already += 1
                else:
                    changes.append((row, moved))
            done = table.write(changes)
            progress.rekeyed += sum(done)
            lost = [table.key(old) for (old, _), ok in zip(changes, done, strict=True) if not ok]
            progress.raced += len(lost)
            # Changed by another writer meanwhile: read again, and finish or skip it.
            pending = [r for r in (table.get(k) for k in lost) if r is not None]
            if not pending:
                break
        after = table.key(page[-1])
        if on_progress is not None:
            on_progress(progress)


def reencrypt_store(store: RecordStore, keyring: Keyring, *, batch: int = 200,
                    on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Move every record and consent under the active keys, safely beside serving and
    other runs (see the module's docstring)."""
    progress = Progress()
    records: _Table[StoredRecord] = _Table(
        store.records_page, under_active_keys, rekeyed, store.rekey_records,
        store.get_record, lambda r: r.record_id)
    consents: _Table[ConsentRow] = _Table(
        store.consents_page, _consent_current, rekeyed_consent, store.rekey_consents,
        store.get_consent, lambda r: r.consent_id)
    _reencrypt(records, keyring, progress, batch, on_progress)
    _reencrypt(consents, keyring, progress, batch, on_progress)
    for name in SEALED:
        _reencrypt(_sealed_table(store, name), keyring, progress, batch, on_progress)
    progress.awaiting = len(store.pending_changes(pending_before=_EVER))
    return progress


def _sealed_table(store: RecordStore, name: str) -> _Table[SealedRow]:
    return _Table(
        lambda **page: store.sealed_page(name, **page),
        lambda keyring, row: sealed_current(keyring, name, row),
        lambda keyring, row: rekeyed_sealed(keyring, store, name, row),
        lambda changes: store.rekey_sealed(name, changes),
        lambda key: store.get_sealed(name, key),
        lambda row: sealed_key(name, row))
