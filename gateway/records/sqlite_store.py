"""The embedded back end of the record store: one SQLite file, WAL mode, synchronous=FULL.

One connection per thread; writes take the process's write lock and ``BEGIN
IMMEDIATE``, which is also the row lock (SQLite has one writer at a time, across
processes). Records per subject are cached, exactly (see :class:`SqliteRecordCache`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from gateway.clock import SystemClock, rfc3339
from gateway.errors import StoreUnavailable
from gateway.records.migrations import SQLITE_TYPES, migrate
from gateway.records.model import StoredRecord
from gateway.records.sql_dialect import Row, Sql, SubjectCache
from gateway.records.sql_rows import decode_fields, encode_fields
from gateway.records.sql_store import SqlStore
from gateway.sqlite_wal import use_wal

__all__ = ["SqliteStore", "decode_fields", "encode_fields"]

T = TypeVar("T")


def _unavailable(exc: sqlite3.Error) -> StoreUnavailable:
    # SQLite's messages name tables and columns, never row values.
    return StoreUnavailable("record store unavailable", detail=str(exc))


class _SqliteSql:
    """The dialect's statements on one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def one(self, text: str, params: Sequence[Any] = ()) -> Row | None:
        # fetchall: a statement left half-read would keep the transaction from committing.
        rows = self._conn.execute(text, tuple(params)).fetchall()
        return rows[0] if rows else None

    def all(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(text, tuple(params)).fetchall()

    def run(self, text: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(text, tuple(params)).rowcount

    def each_returning(self, text: str, rows: Sequence[Sequence[Any]]) -> list[Row | None]:
        return [self.one(text, row) for row in rows]

    def column_names(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}


class SqliteRecordCache:
    """Stored (encrypted) records per blind index, exact under every writer.

    Every write of this store bumps the generation, and a read that raced a write is not
    cached. A commit by any connection to the file (this store's own write connections,
    another process, a tool) changes SQLite's ``data_version`` as seen by the watch
    connection, and that empties the cache.

    Writes that touch no record (the replay memory, consent-use settling: one per call)
    run on the watch connection itself (:meth:`write_beside`). SQLite's ``data_version``
    does not move for a connection's own commits, so these leave the cache warm, while
    every other connection's commit still empties it (issue 12: before, each call's
    replay-memory row emptied the cache and every call read its records again).
    """

    def __init__(self, path: Path, size: int, busy_timeout_ms: int = 5000) -> None:
        self._path = path
        self._size = size
        self.busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[StoredRecord, ...]] = OrderedDict()
        self._generation = 0
        self._watch: sqlite3.Connection | None = None
        self._data_version: int | None = None
        # Guards the watch connection; taken after `_lock` where both are held.
        self._watch_lock = threading.Lock()

    def records(self, subject_indexes: Sequence[str],
                load: Callable[[Sequence[str]], dict[str, tuple[StoredRecord, ...]]],
                ) -> dict[str, tuple[StoredRecord, ...]]:
        """The records of each index: all from the cache, or all from one `load`.

        Never a mix: entries left after the data_version check all show the file as of
        that check, and one load is one snapshot, but the two together could show a
        record twice or not at all if a write (a key rotation moving records from one
        index to another) fell between them.
        """
        if not self._size:
            return load(subject_indexes)
        with self._lock:
            self._drop_if_written()
            hits = {i: self._entries[i] for i in subject_indexes if i in self._entries}
            if len(hits) == len(subject_indexes):
                for index in subject_indexes:
                    self._entries.move_to_end(index)
                return hits
            generation = self._generation
        loaded = load(subject_indexes)
        with self._lock:
            if generation == self._generation:
                for index, records in loaded.items():
                    self._entries[index] = records
                    self._entries.move_to_end(index)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return loaded

    def written(self) -> None:
        """A write of this store begins or has ended: no read from before is cached."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _drop_if_written(self) -> None:
        """Empty the cache when the file changed since the last look (lock held)."""
        try:
            with self._watch_lock:
                version = self._watch_conn().execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise _unavailable(exc) from None
        if version != self._data_version:
            self._data_version = version
            self._generation += 1
            self._entries.clear()

    def _watch_conn(self) -> sqlite3.Connection:
        """The watch connection (watch lock held), opened on first use."""
        if self._watch is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            self._watch = conn
        return self._watch

    def write_beside(self, work: Callable[[sqlite3.Connection], T], *, durable: bool) -> T:
        """Run a write that changes no record on the watch connection (module docstring of
        the class): its commit does not empty the cache. Raises sqlite3.Error."""
        with self._watch_lock:
            conn = self._watch_conn()
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result

    def close(self) -> None:
        """Drop the entries and the watch connection."""
        with self._lock, self._watch_lock:
            if self._watch is not None:
                with suppress(sqlite3.Error):
                    self._watch.close()
                self._watch = None
            self._entries.clear()


class SqliteDatabase:
    """The SQLite back end of the store (gateway.records.sql_dialect.Database)."""

    for_update = ""  # BEGIN IMMEDIATE already holds the file's write lock

    def __init__(self, path: Path, *, busy_timeout_ms: int, cache_subjects: int) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._cache = SqliteRecordCache(path, cache_subjects, busy_timeout_ms)
        self.cache: SubjectCache | None = self._cache if cache_subjects else None
        path.parent.mkdir(parents=True, exist_ok=True)
        now = rfc3339(SystemClock().now())
        self.write(lambda sql: migrate(sql, SQLITE_TYPES, now=now))

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("record store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
                use_wal(conn, self._busy_timeout_ms / 1000)
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise _unavailable(exc) from None
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def read(self, work: Callable[[_SqliteSql], T]) -> T:
        """Run reads on this thread's connection; raises StoreUnavailable."""
        try:
            return work(_SqliteSql(self._conn()))
        except sqlite3.Error as exc:
            raise _unavailable(exc) from None

    def write(self, work: Callable[[_SqliteSql], T], *, durable: bool = True,
              records: bool = True) -> T:
        """Run work in one BEGIN IMMEDIATE transaction under the write lock.

        With `records` False the caller promises the work changes no record, so the
        record cache stays warm (SqliteRecordCache.write_beside).
        """
        if not records and self.cache is not None:
            if self._closed:
                raise StoreUnavailable("record store is closed")
            with self._write_lock:
                try:
                    return self._cache.write_beside(lambda conn: work(_SqliteSql(conn)),
                                                    durable=durable)
                except sqlite3.Error as exc:
                    raise _unavailable(exc) from None
        conn = self._conn()
        with self._write_lock:
            self._cache.written()
            try:
                if not durable:  # WAL with NORMAL: no fsync at this commit
                    conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(_SqliteSql(conn))
                except BaseException:
                    self._rollback(conn)
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(conn)
                raise _unavailable(exc) from None
            finally:
                if not durable:
                    with suppress(sqlite3.Error):
                        conn.execute("PRAGMA synchronous=FULL")
                # Also after the commit: a read between the first mark and the commit
                # must not stay cached.
                self._cache.written()
        return result

    def notify(self, sql: Sql, channel: str) -> None:
        """Nothing to send: every instance on the file polls."""

    def wait_for_notice(self, channel: str, timeout: float, stop: threading.Event) -> None:
        """Wait out the poll interval (or until `stop`)."""
        stop.wait(timeout)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        """Roll back if a transaction is open; a failing rollback must not mask the cause."""
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close every connection opened by any thread; later calls are refused."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._cache.close()
        self._local = threading.local()


class SqliteStore(SqlStore):
    """RecordStore on a SQLite file: the one SQL store over SqliteDatabase."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000,
                 cache_subjects: int = 10_000) -> None:
        self.path = Path(path)
        super().__init__(SqliteDatabase(self.path, busy_timeout_ms=busy_timeout_ms,
                                        cache_subjects=cache_subjects))
