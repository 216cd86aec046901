"""The shared store: PostgreSQL, for several gateway instances sharing state.

Same contract as :class:`gateway.records.sqlite_store.SqliteStore` (see
:class:`gateway.records.store.RecordStore`). Every table lives in one schema
(``credgate`` by default), created if absent. Connections come from a small
thread-safe pool of our own; each connection runs in autocommit mode and a
method that needs several statements opens an explicit transaction.

Error messages handed to callers never include row values: a database error is
reported as its class, SQLSTATE and primary message only (the DETAIL part of a
PostgreSQL error may quote key values).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from gateway.errors import (
    AlreadyExists,
    ConfigurationError,
    ConsentRefused,
    NotFound,
    StoreUnavailable,
)
from gateway.records.model import PutResult, StoredRecord
from gateway.records.postgres_lifecycle import DISPUTED_SQL, LIFECYCLE_DDL, PostgresLifecycle
from gateway.records.sqlite_store import decode_fields, encode_fields
from gateway.records.store import ConsentRow

T = TypeVar("T")

#: Schema DDL; ``{schema}`` is replaced by the quoted schema identifier.
#: Text columns that take part in ordering use the "C" collation so that the
#: order matches SQLite's binary comparison whatever the database's locale.
_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.records (
    record_id         TEXT COLLATE "C" PRIMARY KEY,
    provider          TEXT NOT NULL,
    source_record_id  TEXT NOT NULL,
    subject_index     TEXT NOT NULL,
    subject_ct        BYTEA NOT NULL,
    category          TEXT NOT NULL,
    severity          TEXT NOT NULL,
    event_date        DATE NOT NULL,
    display_end       DATE,
    submitted_at      TEXT NOT NULL,
    submission_digest TEXT NOT NULL,
    fields            TEXT NOT NULL,
    UNIQUE (provider, source_record_id)
);
CREATE INDEX IF NOT EXISTS records_by_subject ON {schema}.records (subject_index, category);
CREATE TABLE IF NOT EXISTS {schema}.consents (
    consent_id    TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    grantee       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    subject_index TEXT NOT NULL,
    not_before    TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    max_uses      BIGINT NOT NULL,
    artefact_ct   BYTEA NOT NULL,
    signature     BYTEA NOT NULL,
    issued_at     TEXT NOT NULL,
    uses          BIGINT NOT NULL DEFAULT 0,
    revoked_at    TEXT,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
"""

_RECORD_COLUMNS = (
    "record_id, provider, source_record_id, subject_index, subject_ct, category, severity, "
    "event_date, display_end, submitted_at, submission_digest, fields, "
    "domain, occupation, state, state_at, state_ref, replaces"
)
_CONSENT_COLUMNS = (
    "consent_id, issuer, grantee, purpose, subject_index, not_before, not_after, max_uses, "
    "artefact_ct, signature, issued_at, uses, revoked_at, revoke_reason"
)

#: PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = 63


def _unavailable(exc: psycopg.Error) -> StoreUnavailable:
    """StoreUnavailable for a database error, without any row values in the detail."""
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    if not primary:
        text = str(exc).strip()
        primary = text.splitlines()[0] if text else ""
    sqlstate = getattr(exc, "sqlstate", None)
    code = f" [{sqlstate}]" if sqlstate else ""
    return StoreUnavailable("record store unavailable",
                            detail=f"{type(exc).__name__}{code}: {primary}")


def _row_to_record(row: Sequence[Any]) -> StoredRecord:
    return StoredRecord(
        record_id=row[0],
        provider=row[1],
        source_record_id=row[2],
        subject_index=row[3],
        subject_ciphertext=bytes(row[4]),
        category=row[5],
        severity=row[6],
        event_date=row[7],
        display_end=row[8],
        submitted_at=row[9],
        submission_digest=row[10],
        fields=decode_fields(row[11]),
        # The lifecycle columns (gateway.records.postgres_lifecycle) and the disputed mark.
        domain=row[12], occupation=row[13], state=row[14], state_at=row[15],
        state_ref=row[16], replaces=row[17], disputed=bool(row[18]),
    )


def _record_params(rec: StoredRecord) -> tuple[Any, ...]:
    """The values of _RECORD_COLUMNS for an INSERT."""
    return (
        rec.record_id, rec.provider, rec.source_record_id, rec.subject_index,
        rec.subject_ciphertext, rec.category, rec.severity, rec.event_date,
        rec.display_end, rec.submitted_at, rec.submission_digest,
        encode_fields(rec.fields), rec.domain, rec.occupation, rec.state, rec.state_at,
        rec.state_ref, rec.replaces,
    )


def _row_to_consent(row: Sequence[Any]) -> ConsentRow:
    return ConsentRow(
        consent_id=row[0], issuer=row[1], grantee=row[2], purpose=row[3],
        subject_index=row[4], not_before=row[5], not_after=row[6], max_uses=int(row[7]),
        artefact_ciphertext=bytes(row[8]), signature=bytes(row[9]), issued_at=row[10],
        uses=int(row[11]), revoked_at=row[12], revoke_reason=row[13],
    )


class _ConnectionPool:
    """A small thread-safe pool: at most ``size`` connections, opened lazily.

    Connections are in autocommit mode. A connection that comes back broken,
    closed or inside a transaction is discarded. A connection that sat idle for
    longer than ``check_after`` seconds, or that was idle when another one was
    found broken, is pinged before it is handed out.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        size: int,
        timeout: float,
        check_after: float,
    ) -> None:
        if size < 1:
            raise ConfigurationError("pool_size must be at least 1")
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._check_after = check_after
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        self._opened = 0
        self._closed = False
        self._cond = threading.Condition()

    def _acquire(self) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + self._timeout
        conn: psycopg.Connection[Any] | None
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        raise StoreUnavailable("record store unavailable",
                                               detail="the store has been closed")
                    if self._idle:
                        conn, since = self._idle.pop()
                        break
                    if self._opened < self._size:
                        self._opened += 1
                        conn, since = None, 0.0
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._cond.wait(remaining):
                        raise StoreUnavailable(
                            "record store unavailable",
                            detail=f"no database connection free within {self._timeout:g} s",
                        )
            if conn is None:
                try:
                    return self._connect()
                except psycopg.Error as exc:
                    self._forget()
                    raise _unavailable(exc) from None
                except BaseException:
                    self._forget()
                    raise
            if time.monotonic() - since < self._check_after:
                return conn
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                self._discard(conn)
                continue  # try the next idle connection or open a new one
            return conn

    def _release(self, conn: psycopg.Connection[Any]) -> None:
        healthy = (
            not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        with self._cond:
            if healthy and not self._closed:
                self._idle.append((conn, time.monotonic()))
                self._cond.notify()
                return
            if conn.broken:
                # The server may have restarted: ping the other idle connections
                # before handing them out, instead of failing one request each.
                self._idle = [(idle, float("-inf")) for idle, _ in self._idle]
        self._discard(conn)

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        with suppress(psycopg.Error):
            conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._cond:
            self._opened -= 1
            self._cond.notify()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for conn, _ in idle:
            self._discard(conn)


class PostgresStore(PostgresLifecycle):
    """RecordStore on PostgreSQL; a pool of connections, one transaction per batch."""

    _insert_columns = _RECORD_COLUMNS

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "credgate",
        pool_size: int = 8,
        connect_timeout: int = 5,
        pool_timeout: float = 30.0,
    ) -> None:
        if not schema or len(schema.encode("utf-8")) > _MAX_IDENTIFIER_BYTES or "\x00" in schema:
            raise ConfigurationError(
                f"schema name must be 1 to {_MAX_IDENTIFIER_BYTES} bytes long"
            )
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError("invalid PostgreSQL conninfo",
                                     detail=type(exc).__name__) from None
        self.conninfo = conninfo
        self.schema = schema
        extra: dict[str, Any] = {}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = connect_timeout
        if "application_name" not in params:
            extra["application_name"] = "credgate"

        def connect() -> psycopg.Connection[Any]:
            return psycopg.connect(conninfo, autocommit=True, **extra)

        self._pool = _ConnectionPool(connect, size=pool_size, timeout=pool_timeout,
                                     check_after=30.0)
        self._build_queries()
        try:
            self._create_schema()
        except BaseException:
            self._pool.close()
            raise

    # -- set-up -------------------------------------------------------------------

    def _build_queries(self) -> None:
        s = sql.Identifier(self.schema)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(schema=s)

        self._q_ddl = q(_DDL)
        self._q_insert_record = q(
            f"INSERT INTO {{schema}}.records ({_RECORD_COLUMNS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (provider, source_record_id) DO NOTHING RETURNING record_id"
        )
        self._q_existing_records = q(
            "SELECT r.provider, r.source_record_id, r.record_id, r.submission_digest "
            "FROM {schema}.records AS r "
            "JOIN unnest(%s::text[], %s::text[]) AS k(provider, source_record_id) "
            "ON r.provider = k.provider AND r.source_record_id = k.source_record_id"
        )
        self._q_find_records = q(
            f"SELECT {_RECORD_COLUMNS}, {DISPUTED_SQL} FROM {{schema}}.records AS r "
            "WHERE subject_index = ANY(%s::text[]) AND category = ANY(%s::text[]) "
            "AND (%s OR state = 'active') ORDER BY event_date, record_id"
        )
        self._q_records_in_categories = q(
            f"SELECT {_RECORD_COLUMNS}, {DISPUTED_SQL} FROM {{schema}}.records AS r "
            "WHERE category = ANY(%s::text[]) AND state = 'active' AND record_id > %s "
            "ORDER BY record_id LIMIT %s"
        )
        self._q_lifecycle_ddl = q(LIFECYCLE_DDL)
        self._q_insert_consent = q(
            f"INSERT INTO {{schema}}.consents ({_CONSENT_COLUMNS}) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (consent_id) DO NOTHING RETURNING consent_id"
        )
        self._q_consent_signature = q(
            "SELECT signature FROM {schema}.consents WHERE consent_id = %s"
        )
        self._q_get_consent = q(
            f"SELECT {_CONSENT_COLUMNS} FROM {{schema}}.consents WHERE consent_id = %s"
        )
        # In an UPDATE every SET expression sees the old row, so the CASE tests the
        # revocation time from before this statement: the first revocation is kept.
        self._q_revoke_consent = q(
            "UPDATE {schema}.consents SET revoked_at = COALESCE(revoked_at, %s), "
            "revoke_reason = CASE WHEN revoked_at IS NULL THEN %s ELSE revoke_reason END "
            f"WHERE consent_id = %s RETURNING {_CONSENT_COLUMNS}"
        )
        # Under READ COMMITTED a concurrent UPDATE of the same row makes this one wait
        # and then re-check its WHERE clause against the new row: no lost update,
        # never more than max_uses successes.
        self._q_use_consent = q(
            "UPDATE {schema}.consents SET uses = uses + 1 WHERE consent_id = %s "
            "AND revoked_at IS NULL AND uses < max_uses RETURNING uses"
        )
        self._q_consent_state = q(
            "SELECT uses, revoked_at FROM {schema}.consents WHERE consent_id = %s"
        )

    def _create_schema(self) -> None:
        # The advisory lock serialises instances starting together: concurrent
        # CREATE ... IF NOT EXISTS of the same object can otherwise fail.
        lock_key = f"credgate-schema:{self.schema}"
        self._run(lambda conn: self._ddl(conn, lock_key))

    def _ddl(self, conn: psycopg.Connection[Any], lock_key: str) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key,))
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            conn.execute(self._q_ddl)
            self._migrate_records(conn)
            conn.execute(self._q_lifecycle_ddl)

    def _run(self, work: Callable[[psycopg.Connection[Any]], T], *, retry: bool = False) -> T:
        """Run ``work`` on a pooled connection, mapping database errors.

        With ``retry`` (only for work that is safe to repeat: reads and idempotent
        updates), work that failed because its connection broke runs once more on
        another connection.
        """
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                with self._pool.connection() as conn:
                    try:
                        return work(conn)
                    except psycopg.Error:
                        if attempt < attempts and conn.broken:
                            continue
                        raise
            except psycopg.Error as exc:
                raise _unavailable(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- records ------------------------------------------------------------------

    def put_records(self, records: Sequence[StoredRecord]) -> list[PutResult]:
        """Store a batch atomically, idempotent per (provider, source_record_id)."""
        if not records:
            return []
        return self._run(lambda conn: self._put_records(conn, records))

    def _put_records(
        self, conn: psycopg.Connection[Any], records: Sequence[StoredRecord]
    ) -> list[PutResult]:
        # Insert in key order (stable, so earlier batch entries go first among equal
        # keys): two batches that share keys then lock them in the same order and
        # cannot deadlock on each other.
        order = sorted(range(len(records)),
                       key=lambda i: (records[i].provider, records[i].source_record_id))
        params = [_record_params(records[i]) for i in order]
        created: set[int] = set()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(self._q_insert_record, params, returning=True)
            for i in order:
                if cur.fetchone() is not None:
                    created.add(i)
                cur.nextset()
            missing = [i for i in range(len(records)) if i not in created]
            existing: dict[tuple[str, str], tuple[str, str]] = {}
            if missing:
                cur.execute(
                    self._q_existing_records,
                    ([records[i].provider for i in missing],
                     [records[i].source_record_id for i in missing]),
                )
                for provider, source_id, record_id, digest in cur.fetchall():
                    existing[(provider, source_id)] = (record_id, digest)
            results: list[PutResult] = []
            for index, rec in enumerate(records):
                if index in created:
                    results.append(PutResult(index, rec.record_id, True))
                    continue
                found = existing.get((rec.provider, rec.source_record_id))
                if found is None:  # the conflicting row vanished: nothing ever deletes
                    raise StoreUnavailable(
                        "record store unavailable",
                        detail=f"record {index}: conflicting row not found",
                    )
                if found[1] != rec.submission_digest:
                    # Leaving the transaction block by an exception rolls it back.
                    raise AlreadyExists(
                        f"record {index}: source_record_id was submitted before "
                        "with different content",
                        reason="conflicting_resubmission",
                    )
                results.append(PutResult(index, found[0], False))
        return results

    def _record_params(self, rec: StoredRecord) -> tuple[Any, ...]:
        return _record_params(rec)

    def _record_from_row(self, row: Sequence[Any]) -> StoredRecord:
        return _row_to_record(row)

    def find_records(
        self, subject_indexes: Sequence[str], categories: Collection[str], *,
        archived: bool = False,
    ) -> list[StoredRecord]:
        """Records of a subject in the given categories, oldest event first.

        Only live ("active") records unless `archived`; expiry is the caller's check.
        """
        if not subject_indexes or not categories:
            return []
        args = (list(subject_indexes), list(categories), archived)
        rows = self._run(
            lambda conn: conn.execute(self._q_find_records, args).fetchall(), retry=True
        )
        return [_row_to_record(r) for r in rows]

    def records_in_categories(self, categories: Collection[str], *, after: str = "",
                              limit: int = 500) -> list[StoredRecord]:
        """Active records of any subject in the categories, by record id after `after`."""
        if not categories:
            return []
        args = (list(categories), after, limit)
        rows = self._run(
            lambda conn: conn.execute(self._q_records_in_categories, args).fetchall(),
            retry=True)
        return [_row_to_record(r) for r in rows]

    # -- consents -----------------------------------------------------------------

    def put_consent(self, row: ConsentRow) -> bool:
        """Register a consent; False when the same artefact was registered before."""
        args = (
            row.consent_id, row.issuer, row.grantee, row.purpose, row.subject_index,
            row.not_before, row.not_after, row.max_uses, row.artefact_ciphertext,
            row.signature, row.issued_at, row.uses, row.revoked_at, row.revoke_reason,
        )

        def work(conn: psycopg.Connection[Any]) -> bool:
            if conn.execute(self._q_insert_consent, args).fetchone() is not None:
                return True
            existing = conn.execute(self._q_consent_signature, (row.consent_id,)).fetchone()
            if existing is None:  # nothing ever deletes a consent
                raise StoreUnavailable("record store unavailable",
                                       detail="conflicting consent not found")
            if bytes(existing[0]) != row.signature:
                raise AlreadyExists("a different consent with this id exists",
                                    reason="consent_id_taken")
            return False

        return self._run(work)

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        """The consent with this id, or None."""
        row = self._run(
            lambda conn: conn.execute(self._q_get_consent, (consent_id,)).fetchone(),
            retry=True,
        )
        return _row_to_consent(row) if row else None

    def revoke_consent(self, consent_id: str, *, at: str, reason: str) -> ConsentRow:
        """Mark a consent revoked; revoking twice keeps the first time and reason."""
        row = self._run(
            lambda conn: conn.execute(
                self._q_revoke_consent, (at, reason, consent_id)
            ).fetchone(),
            retry=True,  # idempotent: the first revocation is kept
        )
        if row is None:
            raise NotFound("no consent with this id", reason="consent_unknown")
        return _row_to_consent(row)

    def use_consent(self, consent_id: str) -> int:
        """Count one use atomically; refuses a revoked or used-up consent."""

        def work(conn: psycopg.Connection[Any]) -> tuple[int | None, Any]:
            used = conn.execute(self._q_use_consent, (consent_id,)).fetchone()
            if used is not None:
                return int(used[0]), None
            # Refused: read the state after the refusal (a fresh snapshot) for the reason.
            return None, conn.execute(self._q_consent_state, (consent_id,)).fetchone()

        uses, state = self._run(work)
        if uses is not None:
            return uses
        if state is None:
            raise ConsentRefused("consent is not registered", reason="consent_unknown")
        if state[1] is not None:
            raise ConsentRefused("consent has been revoked", reason="consent_revoked")
        raise ConsentRefused("consent has been used up", reason="consent_used_up")

    def close(self) -> None:
        """Close the pool's connections; later calls raise StoreUnavailable."""
        self._pool.close()
