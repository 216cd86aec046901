"""Where the shared audit log lives: one embedded SQLite file or one PostgreSQL schema.

The log's logic (``gateway.audit.shared``) is written once; this module holds what
differs between the two databases: connecting, the schema and its triggers, taking the
single tree-state row lock, and the one statement that inserts a whole group.

Tables (the same on both):

* ``tlog_entries(seq, entry, leaf)``: canonical entry bytes and their RFC 9162 leaf
  hash; seq is gapless from 1. Triggers refuse UPDATE and DELETE, and refuse an INSERT
  that is not ``max(seq) + 1`` or lies beyond the size the tree-state row announces
  (so a row cannot be planted without also rewriting the authenticated state row).
* ``tlog_state``: the single row every group commit locks: origin, size, Merkle
  frontier (compact range), root, and a MAC over (origin, size, root) under a key only
  the gateway instances hold. Its size never shrinks and it cannot be deleted.
* ``tlog_checkpoints(id, size, note)``: signed checkpoints, append-only, sizes never
  shrinking. ``tlog_signer``: the row a signer locks, with the time of the last signing.
* ``tlog_request_digests(digest, seen_at)``: the replay memory of signed requests whose
  digest is remembered in the transaction of their audit entry (gateway.audit.shared):
  durable exactly when the entry is, shared by every instance on the log. Rows older
  than twice the signature window are pruned.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from gateway.errors import AuditUnavailable, ConfigurationError
from gateway.sqlite_wal import use_wal

#: How long a writer waits for the tree-state row lock before failing closed.
LOCK_TIMEOUT_MS = 5000

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tlog_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL, size INTEGER NOT NULL,
    frontier BLOB NOT NULL, root BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_entries (
    seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_checkpoints (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_signer (
    id INTEGER PRIMARY KEY CHECK (id = 1), signed_at REAL NOT NULL);
INSERT OR IGNORE INTO tlog_signer (id, signed_at) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS tlog_request_digests (
    digest TEXT PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tlog_request_digests_by_time ON tlog_request_digests (seen_at);
CREATE TRIGGER IF NOT EXISTS tlog_entries_no_update BEFORE UPDATE ON tlog_entries
BEGIN SELECT RAISE(ABORT, 'tlog_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_entries_no_delete BEFORE DELETE ON tlog_entries
BEGIN SELECT RAISE(ABORT, 'tlog_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_entries_next_seq BEFORE INSERT ON tlog_entries
WHEN NEW.seq IS NULL OR NEW.seq <> (SELECT coalesce(max(seq), 0) + 1 FROM tlog_entries)
  OR NEW.seq > (SELECT size FROM tlog_state WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'tlog_entries: seq must be max(seq) + 1 within the state size'); END;
CREATE TRIGGER IF NOT EXISTS tlog_state_no_delete BEFORE DELETE ON tlog_state
BEGIN SELECT RAISE(ABORT, 'tlog_state cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS tlog_state_no_shrink BEFORE UPDATE ON tlog_state
WHEN NEW.size < OLD.size OR NEW.origin <> OLD.origin
BEGIN SELECT RAISE(ABORT, 'tlog_state: size never shrinks, origin never changes'); END;
CREATE TRIGGER IF NOT EXISTS tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints
BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints
BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_checkpoints_append BEFORE INSERT ON tlog_checkpoints
WHEN NEW.id IS NULL OR NEW.id <> (SELECT coalesce(max(id), 0) + 1 FROM tlog_checkpoints)
  OR NEW.size < (SELECT coalesce(max(size), 0) FROM tlog_checkpoints)
BEGIN SELECT RAISE(ABORT, 'tlog_checkpoints: next id, size never shrinking'); END;
"""

# {s} is the quoted schema. Functions are created with CREATE OR REPLACE, triggers only
# when absent (PostgreSQL 13 has no CREATE OR REPLACE TRIGGER).
_PG_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.tlog_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL, size BIGINT NOT NULL,
    frontier BYTEA NOT NULL, root BYTEA NOT NULL, mac BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.tlog_entries (
    seq BIGINT PRIMARY KEY, entry BYTEA NOT NULL, leaf BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.tlog_checkpoints (
    id BIGINT PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.tlog_signer (
    id INTEGER PRIMARY KEY CHECK (id = 1), signed_at DOUBLE PRECISION NOT NULL);
INSERT INTO {s}.tlog_signer (id, signed_at) VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.tlog_request_digests (
    digest TEXT PRIMARY KEY, seen_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS tlog_request_digests_by_time ON {s}.tlog_request_digests (seen_at);
CREATE OR REPLACE FUNCTION {s}.tlog_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
CREATE OR REPLACE FUNCTION {s}.tlog_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE lo BIGINT; hi BIGINT; n BIGINT; top BIGINT; st BIGINT;
BEGIN
  -- Once per statement (a group is one statement): cheaper than a check per row.
  SELECT min(seq), max(seq), count(*) INTO lo, hi, n FROM new_rows;
  IF n = 0 THEN RETURN NULL; END IF;
  SELECT max(seq) INTO top FROM {s}.tlog_entries;
  SELECT size INTO st FROM {s}.tlog_state WHERE id = 1;
  IF lo < 1 OR hi - lo + 1 <> n OR top <> hi OR st IS NULL OR hi <> st
     OR (lo > 1 AND NOT EXISTS (SELECT 1 FROM {s}.tlog_entries WHERE seq = lo - 1)) THEN
    RAISE EXCEPTION 'tlog_entries: seqs must continue the log without a gap, up to the state size';
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION {s}.tlog_state_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size < OLD.size OR NEW.origin <> OLD.origin OR NEW.id <> OLD.id THEN
    RAISE EXCEPTION 'tlog_state: size never shrinks, origin never changes';
  END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION {s}.tlog_checkpoints_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id IS NULL
     OR NEW.id <> (SELECT coalesce(max(id), 0) + 1 FROM {s}.tlog_checkpoints)
     OR NEW.size < (SELECT coalesce(max(size), 0) FROM {s}.tlog_checkpoints) THEN
    RAISE EXCEPTION 'tlog_checkpoints: next id, size never shrinking';
  END IF;
  RETURN NEW;
END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = {lit} AND t.tgname = 'tlog_entries_append') THEN
    CREATE TRIGGER tlog_entries_no_change BEFORE UPDATE OR DELETE OR TRUNCATE
      ON {s}.tlog_entries FOR EACH STATEMENT EXECUTE FUNCTION {s}.tlog_refuse();
    CREATE TRIGGER tlog_entries_append AFTER INSERT ON {s}.tlog_entries
      REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION {s}.tlog_entries_check();
    CREATE TRIGGER tlog_state_no_delete BEFORE DELETE OR TRUNCATE ON {s}.tlog_state
      FOR EACH STATEMENT EXECUTE FUNCTION {s}.tlog_refuse();
    CREATE TRIGGER tlog_state_grow BEFORE UPDATE ON {s}.tlog_state
      FOR EACH ROW EXECUTE FUNCTION {s}.tlog_state_grow();
    CREATE TRIGGER tlog_checkpoints_no_change BEFORE UPDATE OR DELETE OR TRUNCATE
      ON {s}.tlog_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION {s}.tlog_refuse();
    CREATE TRIGGER tlog_checkpoints_append BEFORE INSERT ON {s}.tlog_checkpoints
      FOR EACH ROW EXECUTE FUNCTION {s}.tlog_checkpoints_next();
  END IF;
END $$;
"""


#: The log's tables in PostgreSQL: rows are only ever added to the first two, and the
#: single row of each of the others is only ever created and updated (gateway.cli.db
#: grants so).
APPEND_ONLY_TABLES = ("tlog_entries", "tlog_checkpoints")
STATE_TABLES = ("tlog_state", "tlog_signer")
#: The replay memory: rows are added and, once older than the window, pruned.
MEMORY_TABLES = ("tlog_request_digests",)

_STATE_SQL = ("SELECT size, frontier, root, mac, (SELECT coalesce(max(seq), 0) FROM "
              "{p}tlog_entries) FROM {p}tlog_state WHERE id = 1{lock}")
_UPDATE_SQL = ("UPDATE {p}tlog_state SET size = %s, frontier = %s, root = %s, mac = %s "
               "WHERE id = 1")
_PRUNE_SQL = "DELETE FROM {p}tlog_request_digests WHERE seen_at < %s"


class FileTicket:
    """An exclusive flock on a side file with a timeout, for one process's writer thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        """Wait up to timeout seconds; raises sqlite3.OperationalError when it passes."""
        if self._fd is None:
            self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        deadline = time.monotonic() + timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("audit writer lock timed out") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        """Release the lock (harmless when not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class Backend(Protocol):
    """The database-specific half of the shared log."""

    #: The parameter mark of the driver ("?" or "%s").
    mark: str
    #: Prefix of the table names ("" or '"schema".').
    prefix: str
    #: The database errors that mean "unavailable" (connection, lock timeout, I/O).
    errors: tuple[type[BaseException], ...]

    def connect(self, *, writer: bool) -> Any:
        """A new autocommit connection; raises AuditUnavailable."""
        ...

    def create_schema(self) -> None:
        """Create the tables and triggers if absent; raises AuditUnavailable."""
        ...

    def begin_locked(self, conn: Any, table: str) -> None:
        """Open a transaction that holds the write lock of one single-row table."""
        ...

    def lock_state(self, conn: Any) -> tuple[Any, ...] | None:
        """Begin, lock the tree-state row, return (size, frontier, root, mac, max seq)."""
        ...

    def remember_digests(self, conn: Any, digests: list[str], at: int,
                         prune_before: int | None) -> set[str]:
        """In the open transaction, insert request digests not remembered yet (first
        pruning rows seen before `prune_before`); returns those inserted."""
        ...

    def write_group(self, conn: Any, state: tuple[int, bytes, bytes, bytes], first: int,
                    datas: list[bytes], leaves: list[bytes]) -> None:
        """Store the new (size, frontier, root, mac), insert the group, COMMIT."""
        ...

    def unlock(self) -> None:
        """Release whatever lock_state took besides the transaction (after COMMIT/ROLLBACK)."""
        ...

    def describe(self) -> str:
        """Where the log lives, for operators (no password)."""
        ...


class SqliteBackend:
    """The log in one SQLite file shared by the worker processes of one machine.

    ``BEGIN IMMEDIATE`` takes SQLite's single write lock, which is the row lock here;
    ``busy_timeout`` bounds the wait, and then the group fails closed.
    """

    mark = "?"
    prefix = ""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, *, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._timeout_ms = lock_timeout_ms
        # Writer processes queue on a file lock before BEGIN IMMEDIATE: the kernel hands
        # it over at once, where SQLite's busy handler sleeps up to 100 ms between tries.
        self._ticket = FileTicket(self.path.with_name(self.path.name + ".writer-lock"))

    def connect(self, *, writer: bool) -> sqlite3.Connection:
        """A new autocommit connection (WAL, synchronous=FULL for the writer)."""
        try:
            if writer:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_ms)}")
            if writer:
                try:
                    use_wal(conn, self._timeout_ms / 1000)
                except sqlite3.Error:
                    conn.close()
                    raise
                # FULL: every commit fsyncs the WAL, so a returned seq survives power loss.
                conn.execute("PRAGMA synchronous = FULL")
            else:
                conn.execute("PRAGMA query_only = ON")
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable("audit log cannot be opened", reason="audit_open_failed",
                                   detail=f"{type(exc).__name__}: {exc}") from None
        return conn

    def create_schema(self) -> None:
        """Create the tables and triggers if absent."""
        conn = self.connect(writer=True)
        try:
            conn.executescript(_SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise AuditUnavailable("audit log schema cannot be created",
                                   reason="audit_open_failed", detail=str(exc)) from None
        finally:
            conn.close()

    def begin_locked(self, conn: sqlite3.Connection, table: str) -> None:
        """BEGIN IMMEDIATE: the database's one write lock covers every row."""
        conn.execute("BEGIN IMMEDIATE")

    def lock_state(self, conn: sqlite3.Connection) -> tuple[Any, ...] | None:
        """Take the writers' queue lock, BEGIN IMMEDIATE and read the state row."""
        self._ticket.acquire(self._timeout_ms / 1000)
        conn.execute("BEGIN IMMEDIATE")
        return conn.execute(_STATE_SQL.format(p="", lock="")).fetchone()

    def remember_digests(self, conn: sqlite3.Connection, digests: list[str], at: int,
                         prune_before: int | None) -> set[str]:
        """One INSERT over json_each; a digest already there (or twice) is left alone."""
        if prune_before is not None:
            conn.execute(_PRUNE_SQL.format(p="").replace("%s", "?"), (prune_before,))
        # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
        rows = conn.execute(
            "INSERT INTO tlog_request_digests (digest, seen_at) SELECT value, ? "
            "FROM json_each(?) WHERE true ON CONFLICT (digest) DO NOTHING RETURNING digest",
            (at, json.dumps(digests))).fetchall()
        return {row[0] for row in rows}

    def write_group(self, conn: sqlite3.Connection, state: tuple[int, bytes, bytes, bytes],
                    first: int, datas: list[bytes], leaves: list[bytes]) -> None:
        """UPDATE the state, INSERT the group, COMMIT."""
        conn.execute(_UPDATE_SQL.format(p="").replace("%s", "?"), state)
        self.insert_group(conn, first, datas, leaves)
        conn.execute("COMMIT")

    def unlock(self) -> None:
        """Let the next writer process in."""
        self._ticket.release()

    def insert_group(self, conn: sqlite3.Connection, first: int, datas: list[bytes],
                     leaves: list[bytes]) -> None:
        """One INSERT ... SELECT over json_each: one statement, whatever the group size."""
        # Row k gets seq first + k, bytes substr(?1, offset_k, len_k) (substr on a BLOB
        # counts bytes) and leaf substr(?3, 1 + 32 k, 32). One statement keeps the GIL
        # free while SQLite works (measured 3-5x faster than executemany under load).
        conn.execute(
            "INSERT INTO tlog_entries (seq, entry, leaf) "
            "SELECT ?4 + j.key, substr(?1, 1 + sum(j.value) OVER w - j.value, j.value), "
            "substr(?3, 1 + 32 * j.key, 32) FROM json_each(?2) AS j "
            "WINDOW w AS (ORDER BY j.key ROWS UNBOUNDED PRECEDING) ORDER BY j.key",
            (b"".join(datas), str(list(map(len, datas))), b"".join(leaves), first))

    def describe(self) -> str:
        """The file name."""
        return str(self.path)


class PostgresBackend:
    """The log in a PostgreSQL schema shared by every gateway instance."""

    mark = "%s"

    def __init__(self, conninfo: str, *, schema: str = "credgate",
                 lock_timeout_ms: int = LOCK_TIMEOUT_MS, connect_timeout: int = 5) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError("invalid PostgreSQL conninfo",
                                     detail=type(exc).__name__) from None
        if not schema or '"' in schema or "\x00" in schema or len(schema) > 63:
            raise ConfigurationError("schema name must be 1 to 63 characters, no quotes")
        self._psycopg = psycopg
        self.schema = schema
        self.prefix = f'"{schema}".'
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._host = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        # A dead host must not hold the row lock: TCP keepalives notice a vanished peer,
        # idle_in_transaction_session_timeout ends a transaction its client abandoned,
        # lock_timeout makes a writer stuck behind a lock fail closed.
        extra: dict[str, Any] = {
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
            "keepalives_count": 3, "connect_timeout": connect_timeout,
            "application_name": "credgate-audit",
            "options": (f"-c lock_timeout={int(lock_timeout_ms)} "
                        f"-c idle_in_transaction_session_timeout={2 * int(lock_timeout_ms)} "
                        "-c synchronous_commit=on"),
        }
        for key in params:
            extra.pop(key, None)  # what the operator wrote wins
        self._conninfo, self._extra = conninfo, extra

    def connect(self, *, writer: bool) -> Any:
        """A new autocommit connection; raises AuditUnavailable."""
        try:
            return self._psycopg.connect(self._conninfo, autocommit=True, **self._extra)
        except self._psycopg.Error as exc:
            raise AuditUnavailable("audit database is unreachable",
                                   reason="audit_unreachable",
                                   detail=type(exc).__name__) from None

    def create_schema(self) -> None:
        """Create the schema, tables, functions and triggers if absent.

        When they are all there this runs no DDL, so a gateway whose database role may
        not change the schema starts once `credgate db migrate` made it.
        """
        s = f'"{self.schema}"'
        lit = "'" + self.schema.replace("'", "''") + "'"
        with self._schema_work("audit log schema cannot be created") as conn:
            if self._schema_complete(conn):
                return
            with conn.transaction():
                # One creator at a time: instances starting together would race the DDL.
                conn.execute("SELECT pg_advisory_xact_lock(7315506263)")
                conn.execute(_PG_SCHEMA.replace("{s}", s).replace("{lit}", lit))

    def _schema_complete(self, conn: Any) -> bool:
        """Whether every table and trigger of the log exists already (a read, no DDL)."""
        tables = [f"{self.prefix}{t}"
                  for t in APPEND_ONLY_TABLES + STATE_TABLES + MEMORY_TABLES]
        row = conn.execute(
            "SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest(%s::text[]) AS t",
            (tables,)).fetchone()
        if not row or not row[0]:
            return False
        found = conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND t.tgname = 'tlog_entries_append'",
            (self.schema,)).fetchone()
        return bool(found and found[0])

    def grant_to(self, role: str) -> None:
        """Let a role write the log without changing or deleting what is in it.

        Entries and checkpoints: read and append only; the state and signer rows: read,
        create once and update (their triggers refuse a shrink or an origin change); the
        replay memory: read, add and prune. The
        role gets no DDL: it cannot drop or disable the triggers that keep the log
        append-only.
        """
        who = '"' + role.replace('"', '""') + '"'
        with self._schema_work("audit log privileges cannot be granted") as conn, \
                conn.transaction():
            conn.execute(f'GRANT USAGE ON SCHEMA "{self.schema}" TO {who}')
            for table in APPEND_ONLY_TABLES:
                conn.execute(f"REVOKE ALL ON {self.prefix}{table} FROM {who}")
                conn.execute(f"GRANT SELECT, INSERT ON {self.prefix}{table} TO {who}")
            for table in STATE_TABLES:
                conn.execute(f"REVOKE ALL ON {self.prefix}{table} FROM {who}")
                # INSERT: the first instance creates the state row (its id is 1, the
                # only one the table's CHECK allows, so never a second one).
                conn.execute(f"GRANT SELECT, INSERT, UPDATE ON {self.prefix}{table} TO {who}")
            for table in MEMORY_TABLES:
                conn.execute(f"REVOKE ALL ON {self.prefix}{table} FROM {who}")
                conn.execute(f"GRANT SELECT, INSERT, DELETE ON {self.prefix}{table} TO {who}")

    @contextmanager
    def _schema_work(self, failure: str) -> Iterator[Any]:
        """A connection for work on the schema; a database error becomes AuditUnavailable
        with `failure` as its message."""
        conn = self.connect(writer=True)
        try:
            yield conn
        except self._psycopg.errors.InsufficientPrivilege:
            raise AuditUnavailable(
                failure, reason="audit_open_failed",
                detail="this database role may not do it: run `credgate db migrate` as "
                       "the schema's owner first") from None
        except self._psycopg.Error as exc:
            raise AuditUnavailable(failure, reason="audit_open_failed",
                                   detail=type(exc).__name__) from None
        finally:
            conn.close()

    def begin_locked(self, conn: Any, table: str) -> None:
        """BEGIN and lock the single row of the table (waits at most lock_timeout)."""
        conn.execute("BEGIN")
        conn.execute(f"SELECT 1 FROM {self.prefix}{table} WHERE id = 1 FOR UPDATE")

    def lock_state(self, conn: Any) -> tuple[Any, ...] | None:
        """BEGIN, SELECT ... FOR UPDATE and the state read in one round trip (a pipeline)."""
        # The lock and the read are two statements: a statement that waited for a row
        # lock sees the row's new version but keeps its old snapshot for everything
        # else (READ COMMITTED), so max(seq) would be stale. The read after the lock gets
        # a fresh snapshot that includes the previous writer's commit.
        with conn.pipeline():
            conn.execute("BEGIN")
            conn.execute(f"SELECT 1 FROM {self.prefix}tlog_state WHERE id = 1 FOR UPDATE")
            cur = conn.execute(_STATE_SQL.format(p=self.prefix, lock=""))
        row: tuple[Any, ...] | None = cur.fetchone()
        return row

    def remember_digests(self, conn: Any, digests: list[str], at: int,
                         prune_before: int | None) -> set[str]:
        """One INSERT over unnest; a digest already there (or twice) is left alone."""
        with conn.pipeline():
            if prune_before is not None:
                conn.execute(_PRUNE_SQL.format(p=self.prefix), (prune_before,))
            cur = conn.execute(
                f"INSERT INTO {self.prefix}tlog_request_digests (digest, seen_at) "
                "SELECT d, %s FROM unnest(%s::text[]) AS d "
                "ON CONFLICT (digest) DO NOTHING RETURNING digest", (at, digests))
        return {row[0] for row in cur.fetchall()}

    def write_group(self, conn: Any, state: tuple[int, bytes, bytes, bytes], first: int,
                    datas: list[bytes], leaves: list[bytes]) -> None:
        """UPDATE, INSERT and COMMIT in one round trip (a pipeline)."""
        with conn.pipeline():
            conn.execute(_UPDATE_SQL.format(p=self.prefix), state)
            self.insert_group(conn, first, datas, leaves)
            conn.execute("COMMIT")

    def unlock(self) -> None:
        """Nothing: the row lock ends with the transaction."""

    def insert_group(self, conn: Any, first: int, datas: list[bytes],
                     leaves: list[bytes]) -> None:
        """One INSERT ... SELECT FROM unnest of two arrays."""
        conn.execute(
            f"INSERT INTO {self.prefix}tlog_entries (seq, entry, leaf) "
            "SELECT %s + o - 1, e, l FROM unnest(%s::bytea[], %s::bytea[]) "
            "WITH ORDINALITY AS t(e, l, o) ORDER BY o",
            (first, datas, leaves))

    def describe(self) -> str:
        """Host, port and schema."""
        return f"postgresql {self._host} schema {self.schema}"
