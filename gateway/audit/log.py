"""The write-ahead audit log: every decision is durable before any data is released.

``SqliteAuditLog`` keeps the log in its own SQLite file (WAL, ``synchronous=FULL``) in
table ``audit_log(seq INTEGER PRIMARY KEY, entry BLOB NOT NULL)`` holding each entry's
canonical bytes (see ``gateway.audit.entry``). Triggers make the table append-only at the
database level: UPDATE and DELETE abort, and an INSERT must use ``seq = max(seq) + 1``,
so sequence numbers are gapless from 1 (the future Merkle leaf index is ``seq - 1``) and
``INSERT OR REPLACE`` cannot overwrite an entry.

Group commit: callers put their entries on a queue and sleep; one writer thread takes
everything queued (up to ``max_group`` entries), writes it in one transaction with one
commit (one fsync), calls ``on_commit`` and then wakes the callers with their sequence
numbers (as a relay: the writer wakes the first, each caller the next). If the
transaction fails nothing of the group is committed, every caller of the group gets
``AuditUnavailable`` and the writer goes on with the next group.
"""

from __future__ import annotations

import _thread
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from gateway.audit.entry import AuditEntry
from gateway.audit.tree import TamperDetected
from gateway.errors import AuditUnavailable, InvalidArgument
from gateway.sqlite_wal import use_wal

logger = logging.getLogger(__name__)
_allocate_lock = _thread.allocate_lock

#: Called by the writer after each successful commit with (first seq, canonical bytes),
#: before the group's callers are woken. It must not append to the same log (the writer
#: would wait for itself); what it raises is logged and counted, never propagated, except
#: TamperDetected, which fails the group and closes the log to further appends.
OnCommit = Callable[[int, Sequence[bytes]], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq   INTEGER PRIMARY KEY,
    entry BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_next_seq BEFORE INSERT ON audit_log
WHEN NEW.seq IS NULL OR NEW.seq <> (SELECT coalesce(max(seq), 0) + 1 FROM audit_log)
BEGIN SELECT RAISE(ABORT, 'audit_log seq must be max(seq) + 1'); END;
"""
# The insert trigger matters beyond gaplessness: REPLACE deletes the old row without
# firing DELETE triggers unless recursive_triggers is on, which no other client sets.

# Inserts a whole group: ?1 is the concatenated canonical bytes, ?2 a JSON array of
# their lengths. Row k gets seq max(seq) + 1 + k and bytes substr(?1, offset_k, len_k);
# substr on a BLOB counts bytes, so each entry is stored exactly. If SQLite ever
# produced the rows out of order the seq trigger would abort the statement: it fails
# closed, it cannot misnumber.
_INSERT_GROUP = """INSERT INTO audit_log (seq, entry)
SELECT b.base + 1 + j.key, substr(?1, 1 + sum(j.value) OVER w - j.value, j.value)
FROM json_each(?2) AS j, (SELECT coalesce(max(seq), 0) AS base FROM audit_log) AS b
WINDOW w AS (ORDER BY j.key ROWS UNBOUNDED PRECEDING)
"""
_MAX_READ = 10_000


class AuditLog(Protocol):
    """An append-only, durable log of audit entries numbered from 1."""

    def append(self, entry: AuditEntry) -> int:
        """Make one entry durable and return its seq; raises AuditUnavailable on failure."""
        ...

    def append_many(self, entries: Iterable[AuditEntry]) -> list[int]:
        """Make entries durable together; raises AuditUnavailable if any is not."""
        ...

    def read(self, *, start: int = 1, limit: int = 1000) -> list[tuple[int, AuditEntry]]:
        """Committed entries with seq >= start, in order, at most limit of them."""
        ...

    def size(self) -> int:
        """The number of committed entries (equal to the highest seq)."""
        ...

    def close(self) -> None:
        """Finish pending appends and release resources; later appends fail."""
        ...


class _Group:
    """Entries committed together, and one held lock per caller waiting for them."""

    __slots__ = ("datas", "error", "first_seq", "waiters")

    def __init__(self) -> None:
        self.datas: list[bytes] = []
        # A private lock per caller. The writer releases only the first; each caller,
        # once awake, releases the next (a relay). Releasing them all at once woke the
        # whole group to fight over the GIL: ~20 % fewer appends/s under 64 callers.
        self.waiters: list[_thread.LockType] = []
        self.first_seq = 0
        self.error: BaseException | None = None

    def wake(self) -> None:
        """Start the relay that lets every caller of the group continue."""
        if self.waiters:
            self.waiters[0].release()

    def wait(self, position: int) -> None:
        """Block the caller at ``position`` until the group is done, then wake the next."""
        waiter = self.waiters[position]
        try:
            waiter.acquire()
        except BaseException:
            # Interrupted (KeyboardInterrupt in the main thread): the relay must not stop
            # here, or the callers after this one would wait forever.
            threading.Thread(target=self._relay_when_done, args=(position,),
                             name="audit-relay", daemon=True).start()
            raise
        self._wake_next(position)

    def _relay_when_done(self, position: int) -> None:
        self.waiters[position].acquire()
        self._wake_next(position)

    def _wake_next(self, position: int) -> None:
        # The writer took the group off the queue before waking anyone: waiters is final.
        if position + 1 < len(self.waiters):
            self.waiters[position + 1].release()


class SqliteAuditLog:
    """``AuditLog`` on its own SQLite file, with group commit by a single writer thread.

    ``busy_timeout_ms`` bounds the wait for a write lock held elsewhere (then the append
    fails); ``max_group`` caps the entries per transaction; ``group_commit=False`` writes
    each call in its own transaction in the caller's thread (the benchmark baseline).
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 2000,
        max_group: int = 1024,
        group_commit: bool = True,
        on_commit: OnCommit | None = None,
    ) -> None:
        if busy_timeout_ms < 0 or max_group < 1:
            raise ValueError("busy_timeout_ms must be >= 0 and max_group >= 1")
        self._path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._max_group = max_group
        self._group_commit = group_commit
        self._on_commit = on_commit
        self._commits = 0
        self._on_commit_errors = 0
        self._closed = False
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # writer sleeps here when idle
        self._queue: deque[_Group] = deque()
        self._write_lock = threading.Lock()  # serialises writes when group_commit=False
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._conn = self._open_writer()
        self._writer: threading.Thread | None = None
        if group_commit:
            self._writer = threading.Thread(
                target=self._run_writer, name=f"audit-writer:{self._path.name}", daemon=True
            )
            self._writer.start()

    # -- public API ---------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The SQLite file of this log."""
        return self._path

    @property
    def commits(self) -> int:
        """How many transactions have committed since this object was opened."""
        return self._commits

    @property
    def on_commit_errors(self) -> int:
        """How many times the on_commit callback raised (each one is logged)."""
        return self._on_commit_errors

    def append(self, entry: AuditEntry) -> int:
        """Make one entry durable and return its seq; raises AuditUnavailable on failure."""
        return self._submit([entry.canonical_bytes()])

    def append_many(self, entries: Iterable[AuditEntry]) -> list[int]:
        """Commit entries in one transaction with consecutive seqs; raises AuditUnavailable."""
        datas = [e.canonical_bytes() for e in entries]
        if not datas:
            return []
        first = self._submit(datas)
        return list(range(first, first + len(datas)))

    def read(self, *, start: int = 1, limit: int = 1000) -> list[tuple[int, AuditEntry]]:
        """Committed entries with seq >= start; raises AuditUnavailable if unreadable."""
        rows = self.read_raw(start=start, limit=limit)
        # A row that does not parse raises MalformedAuditEntry: evidence is never skipped.
        return [(seq, AuditEntry.from_canonical(data)) for seq, data in rows]

    def read_raw(self, *, start: int = 1, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Committed canonical bytes with seq >= start; raises AuditUnavailable if unreadable."""
        if start < 1 or not 0 <= limit <= _MAX_READ:
            raise InvalidArgument(f"read needs start >= 1 and 0 <= limit <= {_MAX_READ}")
        sql = "SELECT seq, entry FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?"
        return [(seq, bytes(data)) for seq, data in self._query(sql, (start, limit))]

    def size(self) -> int:
        """The number of committed entries; raises AuditUnavailable if unreadable."""
        # max(seq) is one B-tree seek, count(*) a full scan; the insert trigger keeps
        # seqs gapless from 1 so both agree.
        return int(self._query("SELECT coalesce(max(seq), 0) FROM audit_log", ())[0][0])

    def close(self) -> None:
        """Commit what is already queued, stop the writer and close the files."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify()
        if self._writer is not None:
            self._writer.join()
        with self._write_lock:
            self._conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> SqliteAuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- appending ------------------------------------------------------------------

    def _submit(self, datas: list[bytes]) -> int:
        """Queue canonical bytes, wait until durable, return the first seq."""
        if not self._group_commit:
            return self._submit_alone(datas)
        waiter = _allocate_lock()
        waiter.acquire()
        with self._lock:
            if self._closed:
                raise AuditUnavailable("audit log is closed", reason="audit_closed")
            group = self._queue[-1] if self._queue else None
            if group is None or len(group.datas) + len(datas) > self._max_group:
                # A call larger than max_group gets a group of its own: append_many is atomic.
                group = _Group()
                self._queue.append(group)
                self._work.notify()
            index = len(group.datas)
            position = len(group.waiters)
            group.datas.extend(datas)
            group.waiters.append(waiter)
        group.wait(position)  # blocks until the writer has committed (or failed) the group
        if group.error is not None:
            raise AuditUnavailable(
                "audit entry could not be made durable",
                reason="audit_write_failed",
                detail=_describe(group.error),
            ) from None
        return group.first_seq + index

    def _submit_alone(self, datas: list[bytes]) -> int:
        """The baseline without group commit: one transaction per call, in the caller."""
        with self._write_lock:
            if self._closed:
                raise AuditUnavailable("audit log is closed", reason="audit_closed")
            try:
                return self._write_group(datas)
            except sqlite3.Error as exc:
                raise AuditUnavailable(
                    "audit entry could not be made durable",
                    reason="audit_write_failed",
                    detail=_describe(exc),
                ) from None

    def _run_writer(self) -> None:
        """The writer thread: take every queued group in turn and commit it."""
        try:
            while True:
                with self._lock:
                    while not self._queue and not self._closed:
                        self._work.wait()
                    if not self._queue:
                        return  # closed and drained
                    group = self._queue.popleft()
                try:
                    group.first_seq = self._write_group(group.datas)
                except BaseException as exc:
                    group.error = exc
                    if not isinstance(exc, sqlite3.Error):
                        raise
                finally:
                    group.wake()
        except BaseException:
            # A bug in the writer must not leave callers waiting forever: fail them all.
            logger.exception("audit writer stopped unexpectedly; failing pending appends")
            with self._lock:
                self._closed = True
                pending = list(self._queue)
                self._queue.clear()
            for group in pending:
                group.error = RuntimeError("audit writer stopped")
                group.wake()

    def _write_group(self, datas: Sequence[bytes]) -> int:
        """Write datas in one transaction, call on_commit; return the first seq.

        This is the only place that writes to the log, with or without group commit, so
        the on_commit hook (Merkle tree, checkpoints) sees every committed entry once and
        in order, before any caller of the group is woken.
        """
        # One autocommit statement is the whole transaction: SQLite takes the write lock,
        # inserts every row, commits and fsyncs inside one sqlite3_step, during which the
        # sqlite3 module releases the GIL. With BEGIN/INSERT.../COMMIT the writer has to
        # win the GIL back from the woken callers after every statement (or every row with
        # executemany), which measured 3-5x slower under 64 callers.
        conn = self._conn
        try:
            cur = conn.execute(_INSERT_GROUP, (b"".join(datas), str(list(map(len, datas)))))
            last = cur.lastrowid
            if last is None or cur.rowcount != len(datas):
                # Already committed, but the seqs cannot be told: refusing the callers is
                # the safe side (logged, not released).
                raise sqlite3.DatabaseError("audit insert reported an unexpected outcome")
        except BaseException:
            # A failed autocommit statement rolls itself back; this only guards against a
            # transaction somehow left open, which would swallow the next group's commit.
            if conn.in_transaction:
                conn.rollback()
            raise
        first = last - len(datas) + 1
        self._commits += 1
        if self._on_commit is not None:
            try:
                self._on_commit(first, datas)
            except TamperDetected:
                # The log no longer matches its evidence: nobody may be told an entry is
                # safe, now or later. The group fails and the log closes to appends.
                logger.critical("audit log tampering detected at seq %d: appends stop", first)
                with self._lock:
                    self._closed = True
                raise
            except Exception:
                self._on_commit_errors += 1
                logger.exception("audit on_commit callback failed (first seq %d)", first)
        return first

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: each write statement is one transaction
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            try:
                use_wal(conn, self._busy_timeout_ms / 1000)
                # FULL: every commit fsyncs the WAL, so a returned seq survives power loss.
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA temp_store = MEMORY")  # the group insert sorts a little
                conn.executescript(_SCHEMA)
                conn.execute("SELECT count(*) FROM json_each('[1]')")  # needs JSON1: fail now
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise AuditUnavailable(
                "audit log cannot be opened", reason="audit_open_failed", detail=_describe(exc)
            ) from None
        return conn

    def _query(self, sql: str, params: tuple[int, ...]) -> list[tuple[int, bytes]]:
        """Run a read on a pooled read-only connection (WAL readers never block the writer)."""
        with self._readers_lock:
            if self._closed:
                raise AuditUnavailable("audit log is closed", reason="audit_closed")
            conn = self._readers.pop() if self._readers else None
        try:
            if conn is None:
                conn = self._connect()
                conn.execute("PRAGMA query_only = ON")
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise AuditUnavailable(
                "audit log cannot be read", reason="audit_read_failed", detail=_describe(exc)
            ) from None
        with self._readers_lock:
            if self._closed:
                conn.close()
            else:
                self._readers.append(conn)
        return rows


def _describe(exc: BaseException) -> str:
    """An operator-facing description; SQLite messages carry no entry content."""
    return f"{type(exc).__name__}: {exc}"
