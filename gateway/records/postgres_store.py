"""The shared back end of the record store: PostgreSQL, for several gateway instances.

Same store as on SQLite (:class:`gateway.records.sql_store.SqlStore`); this module only
adapts it. Every table lives in one schema (``credgate`` by default), created and
migrated on start under an advisory lock; each pooled connection (``psycopg_pool``)
finds the tables through its ``search_path``, runs in autocommit mode, and a method
that needs several statements opens one transaction. TCP keepalives and
``idle_in_transaction_session_timeout`` keep a dead client from holding row locks.

Error messages handed to callers never include row values: a database error is
reported as its class, SQLSTATE and primary message only (the DETAIL part of a
PostgreSQL error may quote key values).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from gateway.clock import SystemClock, rfc3339
from gateway.errors import ConfigurationError, StoreUnavailable
from gateway.records.migrations import LATEST, POSTGRES_TYPES, migrate, schema_version
from gateway.records.sql_dialect import Row, Sql, SubjectCache
from gateway.records.sql_store import SqlStore

T = TypeVar("T")
Conn = psycopg.Connection[Any]

#: PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
_MAX_IDENTIFIER_BYTES = 63
#: How long a transaction may sit idle before the server ends it (and its locks).
IDLE_IN_TRANSACTION_TIMEOUT = "30s"


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


@lru_cache(maxsize=1024)
def _pg(text: str) -> str:
    """The store's SQL in psycopg's placeholder style (no literal ? or % is ever used)."""
    return text.replace("%", "%%").replace("?", "%s")


class _PostgresSql:
    """The dialect's statements on one psycopg connection."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def one(self, text: str, params: Sequence[Any] = ()) -> Row | None:
        return self._conn.execute(_pg(text), tuple(params)).fetchone()

    def all(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(_pg(text), tuple(params)).fetchall()

    def run(self, text: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(_pg(text), tuple(params)).rowcount

    def each_returning(self, text: str, rows: Sequence[Sequence[Any]]) -> list[Row | None]:
        # One round trip for the whole batch (psycopg pipelines executemany).
        out: list[Row | None] = []
        with self._conn.cursor() as cur:
            cur.executemany(_pg(text), [tuple(r) for r in rows], returning=True)
            for _ in rows:
                out.append(cur.fetchone())
                cur.nextset()
        return out

    def column_names(self, table: str) -> set[str]:
        return {row[0] for row in self._conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s", (table,))}


class PostgresDatabase:
    """The PostgreSQL back end of the store (gateway.records.sql_dialect.Database)."""

    for_update = " FOR UPDATE"
    cache: SubjectCache | None = None  # other instances write too: every read goes to the database

    def __init__(self, conninfo: str, *, schema: str, pool_size: int,
                 connect_timeout: int, pool_timeout: float) -> None:
        if not schema or len(schema.encode("utf-8")) > _MAX_IDENTIFIER_BYTES or "\x00" in schema:
            raise ConfigurationError(
                f"schema name must be 1 to {_MAX_IDENTIFIER_BYTES} bytes long")
        if pool_size < 1:
            raise ConfigurationError("pool_size must be at least 1")
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError("invalid PostgreSQL conninfo",
                                     detail=type(exc).__name__) from None
        self.conninfo = conninfo
        self.schema = schema
        defaults: dict[str, Any] = {
            "connect_timeout": connect_timeout, "application_name": "credgate",
            # A peer that vanished is noticed within about a minute, not hours.
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        self._kwargs = {k: v for k, v in defaults.items() if k not in params}
        self._kwargs["autocommit"] = True
        self._set_up = pgsql.SQL(
            "SET search_path TO {}; SET idle_in_transaction_session_timeout = {}"
        ).format(pgsql.Identifier(schema), pgsql.Literal(IDLE_IN_TRANSACTION_TIMEOUT))
        # Migrate on a connection of its own first: an unreachable server fails the
        # start at once instead of after the pool's wait.
        self._migrate()
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo, kwargs=self._kwargs, min_size=1, max_size=pool_size,
            timeout=pool_timeout, configure=self._configure,
            check=ConnectionPool.check_connection, open=False, name=f"credgate-{schema}")
        self._pool.open(wait=False)
        self._listener: Conn | None = None

    def _configure(self, conn: Conn) -> None:
        conn.execute(self._set_up)

    def _migrate(self) -> None:
        now = rfc3339(SystemClock().now())
        try:
            with psycopg.connect(self.conninfo, **self._kwargs) as conn:
                conn.execute(pgsql.SQL("SET search_path TO {}").format(
                    pgsql.Identifier(self.schema)))
                if schema_version(_PostgresSql(conn)) == LATEST:
                    # Nothing to do, and no DDL: a role without it can run the gateway
                    # once the owner has migrated the schema.
                    return
            with psycopg.connect(self.conninfo, **self._kwargs) as conn, conn.transaction():
                # The advisory lock serialises instances starting together: concurrent
                # CREATE ... IF NOT EXISTS of the same object can otherwise fail.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"credgate-schema:{self.schema}",))
                conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pgsql.Identifier(self.schema)))
                conn.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(
                    pgsql.Identifier(self.schema)))
                migrate(_PostgresSql(conn), POSTGRES_TYPES, now=now)
        except psycopg.errors.InsufficientPrivilege:
            raise StoreUnavailable(
                "record store unavailable",
                detail=f"the schema is not at version {LATEST} and this database role may "
                       "not change it: run `credgate db migrate` as the schema's owner "
                       "first") from None
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    def grant_to(self, role: str) -> None:
        """Let a role read and write the store's tables, and nothing more (no DDL).

        Tables whose names start with ``tlog_`` belong to the audit log, which grants
        its own (gateway.audit.backend.PostgresBackend.grant_to).
        """
        who = pgsql.Identifier(role)
        try:
            with psycopg.connect(self.conninfo, **self._kwargs) as conn, conn.transaction():
                conn.execute(pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    pgsql.Identifier(self.schema), who))
                tables = [r[0] for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s "
                    "AND tablename NOT LIKE 'tlog\\_%%' ORDER BY tablename",
                    (self.schema,))]
                for table in tables:
                    conn.execute(pgsql.SQL(
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON {}.{} TO {}").format(
                        pgsql.Identifier(self.schema), pgsql.Identifier(table), who))
                conn.execute(pgsql.SQL(
                    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    pgsql.Identifier(self.schema), who))
        except psycopg.Error as exc:
            raise _unavailable(exc) from None

    def _run(self, work: Callable[[_PostgresSql], T], *, transaction: bool,
             durable: bool = True) -> T:
        # Reads run once more on another connection when theirs broke under them (the
        # server restarted): repeating a read is safe; a write may have committed.
        attempts = 1 if transaction else 2
        for attempt in range(1, attempts + 1):
            try:
                with self._pool.connection() as conn:
                    try:
                        if not transaction:
                            return work(_PostgresSql(conn))
                        with conn.transaction():
                            if not durable:
                                conn.execute("SET LOCAL synchronous_commit = off")
                            return work(_PostgresSql(conn))
                    except psycopg.Error:
                        if attempt < attempts and conn.broken:
                            continue
                        raise
            except psycopg.Error as exc:
                raise _unavailable(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, work: Callable[[_PostgresSql], T]) -> T:
        """Run reads on a pooled connection; raises StoreUnavailable."""
        return self._run(work, transaction=False)

    def write(self, work: Callable[[_PostgresSql], T], *, durable: bool = True,
              records: bool = True) -> T:
        """Run work in one transaction on a pooled connection; raises StoreUnavailable.

        `records` (whether the work may change a record) matters only to a back end
        with a record cache; PostgreSQL keeps none."""
        return self._run(work, transaction=True, durable=durable)

    def _channel(self, channel: str) -> str:
        # Per schema: instances on other schemas of the same database must not wake.
        return f"{channel}_{hashlib.sha256(self.schema.encode()).hexdigest()[:16]}"

    def notify(self, sql: Sql, channel: str) -> None:
        """NOTIFY the listeners of `channel` when this transaction commits."""
        sql.run("SELECT pg_notify(?, '')", (self._channel(channel),))

    def wait_for_notice(self, channel: str, timeout: float, stop: threading.Event) -> None:
        """LISTEN on a connection of its own; reconnects at the next wait after a failure
        (notices sent meanwhile are lost, which is why the callers also poll)."""
        deadline = time.monotonic() + timeout
        try:
            if self._listener is None or self._listener.closed:
                conn = psycopg.connect(self.conninfo, **self._kwargs)
                conn.execute(pgsql.SQL("LISTEN {}").format(
                    pgsql.Identifier(self._channel(channel))))
                self._listener = conn
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # Short slices, so that a stop is noticed soon.
                for _ in self._listener.notifies(timeout=min(left, 0.2), stop_after=1):
                    return
        except psycopg.Error:
            self._close_listener()
            stop.wait(max(0.0, deadline - time.monotonic()))

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(psycopg.Error):
                listener.close()

    def close(self) -> None:
        """Close the pool (and the listening connection); later calls raise
        StoreUnavailable."""
        self._close_listener()
        self._pool.close()


class PostgresStore(SqlStore):
    """RecordStore on PostgreSQL: the one SQL store over PostgresDatabase."""

    def __init__(self, conninfo: str, *, schema: str = "credgate", pool_size: int = 8,
                 connect_timeout: int = 5, pool_timeout: float = 10.0) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.database = PostgresDatabase(conninfo, schema=schema, pool_size=pool_size,
                                         connect_timeout=connect_timeout,
                                         pool_timeout=pool_timeout)
        super().__init__(self.database)
