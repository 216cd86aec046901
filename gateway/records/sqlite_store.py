"""The embedded store: one SQLite file in WAL mode with synchronous=FULL."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

from gateway.errors import AlreadyExists, ConsentRefused, NotFound, StoreUnavailable
from gateway.records.lifecycle import ACTIVE
from gateway.records.model import PutResult, StoredRecord, StoredValue
from gateway.records.sqlite_lifecycle import (
    DISPUTED_SQL,
    LIFECYCLE_SCHEMA,
    SqliteLifecycle,
    migrate_records,
)
from gateway.records.store import ConsentRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id         TEXT PRIMARY KEY,
    provider          TEXT NOT NULL,
    source_record_id  TEXT NOT NULL,
    subject_index     TEXT NOT NULL,
    subject_ct        BLOB NOT NULL,
    category          TEXT NOT NULL,
    severity          TEXT NOT NULL,
    event_date        TEXT NOT NULL,
    display_end       TEXT,
    submitted_at      TEXT NOT NULL,
    submission_digest TEXT NOT NULL,
    fields            TEXT NOT NULL,
    UNIQUE (provider, source_record_id)
);
CREATE INDEX IF NOT EXISTS records_by_subject ON records (subject_index, category);
CREATE TABLE IF NOT EXISTS consents (
    consent_id    TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    grantee       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    not_before    TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    max_uses      INTEGER NOT NULL,
    artefact_ct   BLOB NOT NULL,
    signature     BLOB NOT NULL,
    issued_at     TEXT NOT NULL,
    uses          INTEGER NOT NULL DEFAULT 0,
    revoked_at    TEXT,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
"""


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


def _row_to_record(row: sqlite3.Row | tuple) -> StoredRecord:
    return StoredRecord(
        record_id=row[0],
        provider=row[1],
        source_record_id=row[2],
        subject_index=row[3],
        subject_ciphertext=bytes(row[4]),
        category=row[5],
        severity=row[6],
        event_date=date.fromisoformat(row[7]),
        display_end=date.fromisoformat(row[8]) if row[8] else None,
        submitted_at=row[9],
        submission_digest=row[10],
        fields=decode_fields(row[11]),
        # The lifecycle columns (gateway.records.sqlite_lifecycle) and the disputed mark.
        domain=row[12], occupation=row[13], state=row[14], state_at=row[15],
        state_ref=row[16], replaces=row[17], disputed=bool(row[18]),
    )


_RECORD_COLUMNS = (
    "record_id, provider, source_record_id, subject_index, subject_ct, category, severity, "
    "event_date, display_end, submitted_at, submission_digest, fields, "
    "domain, occupation, state, state_at, state_ref, replaces"
)
_SELECT_RECORD = f"SELECT {_RECORD_COLUMNS}, {DISPUTED_SQL} FROM records"
_CONSENT_COLUMNS = (
    "consent_id, issuer, grantee, purpose, subject_index, not_before, not_after, max_uses, "
    "artefact_ct, signature, issued_at, uses, revoked_at, revoke_reason"
)


def _row_to_consent(row: tuple) -> ConsentRow:
    return ConsentRow(
        consent_id=row[0], issuer=row[1], grantee=row[2], purpose=row[3],
        subject_index=row[4], not_before=row[5], not_after=row[6], max_uses=row[7],
        artefact_ciphertext=bytes(row[8]), signature=bytes(row[9]), issued_at=row[10],
        uses=row[11], revoked_at=row[12], revoke_reason=row[13],
    )


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; a failing rollback must not mask the cause."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class SqliteStore(SqliteLifecycle):
    """RecordStore on a SQLite file; one connection per thread, writes serialised."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000,
                 cache_subjects: int = 10_000) -> None:
        self.path = Path(path)
        self._cache: OrderedDict[str, tuple[StoredRecord, ...]] = OrderedDict()
        self._cache_size = cache_subjects
        self._cache_lock = threading.Lock()
        self._generation = 0
        # A connection of its own that only reads PRAGMA data_version (see the cache).
        self._watch: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # executescript commits on its own, so the schema is not run inside _write().
        with self._write_lock:
            try:
                conn = self._conn()
                conn.executescript(SCHEMA)
                migrate_records(conn)
                conn.executescript(LIFECYCLE_SCHEMA)
            except sqlite3.Error as exc:
                raise StoreUnavailable("record store unavailable", detail=str(exc)) from None

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("record store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
            try:
                yield conn
            except BaseException:
                _rollback(conn)
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    _rollback(conn)
                    raise StoreUnavailable("record store unavailable",
                                           detail=str(exc)) from None

    def put_records(self, records: Sequence[StoredRecord]) -> list[PutResult]:
        """Store a batch atomically, idempotent per (provider, source_record_id)."""
        results: list[PutResult] = []
        self._invalidate({r.subject_index for r in records})
        try:
            with self._write() as conn:
                for index, rec in enumerate(records):
                    existing = conn.execute(
                        "SELECT record_id, submission_digest FROM records "
                        "WHERE provider = ? AND source_record_id = ?",
                        (rec.provider, rec.source_record_id),
                    ).fetchone()
                    if existing is not None:
                        if existing[1] != rec.submission_digest:
                            raise AlreadyExists(
                                f"record {index}: source_record_id was submitted before "
                                "with different content",
                                reason="conflicting_resubmission",
                            )
                        results.append(PutResult(index, existing[0], False))
                        continue
                    self._insert_record(conn, rec)
                    results.append(PutResult(index, rec.record_id, True))
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        finally:
            # Also after the commit: a read between the first invalidation and the
            # commit must not stay cached.
            self._invalidate({r.subject_index for r in records})
        return results

    def _insert_record(self, conn: sqlite3.Connection, rec: StoredRecord) -> None:
        conn.execute(
            f"INSERT INTO records ({_RECORD_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.record_id, rec.provider, rec.source_record_id,
                rec.subject_index, rec.subject_ciphertext, rec.category,
                rec.severity, rec.event_date.isoformat(),
                rec.display_end.isoformat() if rec.display_end else None,
                rec.submitted_at, rec.submission_digest, encode_fields(rec.fields),
                rec.domain, rec.occupation, rec.state, rec.state_at, rec.state_ref,
                rec.replaces,
            ),
        )

    def _load_record(self, conn: sqlite3.Connection, where: str,
                     params: Sequence[object]) -> StoredRecord | None:
        row = conn.execute(f"{_SELECT_RECORD} WHERE {where}", tuple(params)).fetchone()
        return _row_to_record(row) if row else None

    def find_records(
        self, subject_indexes: Sequence[str], categories: Collection[str], *,
        archived: bool = False,
    ) -> list[StoredRecord]:
        """Records of a subject in the given categories, oldest event first.

        Only live ("active") records unless `archived`; expiry is the caller's check.
        """
        if not subject_indexes or not categories:
            return []
        wanted = set(categories)
        found: list[StoredRecord] = []
        for index in subject_indexes:
            found.extend(r for r in self._subject_records(index)
                         if r.category in wanted and (archived or r.state == ACTIVE))
        if len(subject_indexes) > 1:
            found.sort(key=lambda r: (r.event_date, r.record_id))
        return found

    def _subject_records(self, subject_index: str) -> tuple[StoredRecord, ...]:
        """All records of one blind index, from the cache or the database.

        The cache holds stored (encrypted) records only. It is exact: every write of
        this store bumps the generation and drops the subjects it touched, a read that
        raced a write is not cached, and a commit by any other connection to the file
        (another process, a tool) changes SQLite's data_version, which empties it.
        """
        with self._cache_lock:
            self._drop_cache_if_written_elsewhere()
            cached = self._cache.get(subject_index)
            if cached is not None:
                self._cache.move_to_end(subject_index)
                return cached
            generation = self._generation
        try:
            rows = self._conn().execute(
                f"{_SELECT_RECORD} WHERE subject_index = ? "
                "ORDER BY event_date, record_id",
                (subject_index,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        records = tuple(_row_to_record(r) for r in rows)
        if self._cache_size:
            with self._cache_lock:
                if generation == self._generation:
                    self._cache[subject_index] = records
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return records

    def records_in_categories(self, categories: Collection[str], *, after: str = "",
                              limit: int = 500) -> list[StoredRecord]:
        """Active records of any subject in the categories, by record id after `after`."""
        if not categories:
            return []
        marks = ",".join("?" * len(categories))
        try:
            rows = self._conn().execute(
                f"{_SELECT_RECORD} WHERE category IN ({marks}) AND state = 'active' "
                "AND record_id > ? ORDER BY record_id LIMIT ?",
                (*categories, after, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        return [_row_to_record(r) for r in rows]

    def _drop_cache_if_written_elsewhere(self) -> None:
        """Empty the cache when the file changed under another connection (cache lock held)."""
        if not self._cache_size:
            return
        try:
            if self._watch is None:
                self._watch = sqlite3.connect(self.path, isolation_level=None,
                                              check_same_thread=False)
            version = self._watch.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        if version != self._data_version:
            # Also after this store's own writes (they use other connections): cheap,
            # and what matters is that no other writer's change is ever missed.
            self._data_version = version
            self._generation += 1
            self._cache.clear()

    def _invalidate(self, subject_indexes: Collection[str]) -> None:
        with self._cache_lock:
            self._generation += 1
            for index in subject_indexes:
                self._cache.pop(index, None)

    def put_consent(self, row: ConsentRow) -> bool:
        """Register a consent; False when the same artefact was registered before."""
        try:
            with self._write() as conn:
                existing = conn.execute(
                    "SELECT signature FROM consents WHERE consent_id = ?", (row.consent_id,)
                ).fetchone()
                if existing is not None:
                    if bytes(existing[0]) != row.signature:
                        raise AlreadyExists("a different consent with this id exists",
                                            reason="consent_id_taken")
                    return False
                conn.execute(
                    f"INSERT INTO consents ({_CONSENT_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        row.consent_id, row.issuer, row.grantee, row.purpose,
                        row.subject_index, row.not_before, row.not_after, row.max_uses,
                        row.artefact_ciphertext, row.signature, row.issued_at, row.uses,
                        row.revoked_at, row.revoke_reason,
                    ),
                )
                return True
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        """The consent with this id, or None."""
        try:
            row = self._conn().execute(
                f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE consent_id = ?", (consent_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        return _row_to_consent(row) if row else None

    def revoke_consent(self, consent_id: str, *, at: str, reason: str) -> ConsentRow:
        """Mark a consent revoked; revoking twice keeps the first time."""
        try:
            with self._write() as conn:
                updated = conn.execute(
                    "UPDATE consents SET revoked_at = COALESCE(revoked_at, ?), "
                    "revoke_reason = CASE WHEN revoked_at IS NULL THEN ? ELSE revoke_reason END "
                    "WHERE consent_id = ?",
                    (at, reason, consent_id),
                ).rowcount
                if not updated:
                    raise NotFound("no consent with this id", reason="consent_unknown")
                row = conn.execute(
                    f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE consent_id = ?",
                    (consent_id,),
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        return _row_to_consent(row)

    def use_consent(self, consent_id: str) -> int:
        """Count one use atomically; refuses a revoked or used-up consent."""
        try:
            with self._write() as conn:
                updated = conn.execute(
                    "UPDATE consents SET uses = uses + 1 WHERE consent_id = ? "
                    "AND revoked_at IS NULL AND uses < max_uses",
                    (consent_id,),
                ).rowcount
                row = conn.execute(
                    "SELECT uses, revoked_at FROM consents WHERE consent_id = ?", (consent_id,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable("record store unavailable", detail=str(exc)) from None
        if row is None:
            raise ConsentRefused("consent is not registered", reason="consent_unknown")
        if not updated:
            if row[1] is not None:
                raise ConsentRefused("consent has been revoked", reason="consent_revoked")
            raise ConsentRefused("consent has been used up", reason="consent_used_up")
        return int(row[0])

    def close(self) -> None:
        """Close every connection opened by any thread; later calls are refused."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        with self._cache_lock:
            if self._watch is not None:
                with suppress(sqlite3.Error):
                    self._watch.close()
                self._watch = None
            self._cache.clear()
        self._local = threading.local()
