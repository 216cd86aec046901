"""One audit log shared by every gateway instance and worker process, with no leader.

Any process appends. Callers queue their entries and sleep; one writer thread per
process takes everything queued and commits it as ONE transaction that

1. locks the single ``tlog_state`` row (``SELECT ... FOR UPDATE`` on PostgreSQL,
   ``BEGIN IMMEDIATE`` on SQLite) and checks it: its MAC, that its frontier folds to its
   root, that exactly ``size`` entries exist (a row nobody of ours wrote is caught here,
   before any checkpoint can cover it), and that it is not behind the newest checkpoint
   this instance has seen;
2. assigns the next gapless sequence numbers;
3. extends the Merkle frontier (an RFC 6962 compact range) with the group's leaf
   hashes and stores the new root, size and MAC in the state row;
4. inserts the entries with their leaf hashes (the insert trigger refuses a seq beyond
   the state's size, so rows cannot be planted without forging the state row);
5. remembers the request digests the entries name (the replay memory), in the same
   transaction: an allow entry whose digest is remembered already (by any instance, or
   before a crash) is left out of the group and its caller hears ``RequestReplayed``;
6. commits.

Only then are the callers woken (write-ahead: nothing leaves before its entry is
durable). A writer that dies mid-transaction leaves nothing behind: the transaction
rolls back and the lock passes on. A lock wait longer than the timeout fails the group
closed (``AuditUnavailable``). A failed check raises ``TamperDetected``, fails the group
and closes this log to further appends.

The MAC key comes with the log signing key, which every instance holds already
(``gateway.crypto.log_key``: derived from a file key, or an HMAC key beside a token key
in the token); whoever can write the database but not use the key cannot extend the log
unseen.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gateway.audit.backend import Backend
from gateway.audit.entry import AuditEntry
from gateway.audit.log import _allocate_lock, _Group
from gateway.audit.merkle import EMPTY_ROOT, HASH_SIZE, LEAF_PREFIX, CompactRange, ProofError
from gateway.audit.seen import SeenCheckpoint
from gateway.audit.tree import TamperDetected
from gateway.crypto.log_key import MacKey, log_mac
from gateway.crypto.log_key import state_mac_key as log_state_mac_key
from gateway.crypto.signatures import AnySigningKey as SigningKey
from gateway.errors import (
    AuditUnavailable,
    ConfigurationError,
    InvalidArgument,
    KeyStoreUnavailable,
)

logger = logging.getLogger(__name__)
_MAX_READ = 10_000
_sha256 = hashlib.sha256

#: Called with every TamperDetected the log raises (an alert hook; must not raise).
Alert = Callable[[TamperDetected], None]


def state_mac_key(signing_key: SigningKey) -> MacKey:
    """The key of the tree-state MAC that comes with the log signing key."""
    return log_state_mac_key(signing_key)


def state_mac(key: MacKey, origin: str, size: int, root: bytes) -> bytes:
    """HMAC-SHA256 over the origin, size and root of the tree state; raises
    AuditUnavailable when the key is in a token that failed."""
    return _tree_state_mac(key, b"credgate/tlog-state/v1", origin, size, root)


def closed_state_mac(key: MacKey, origin: str, size: int, root: bytes) -> bytes:
    """The MAC of the final state of a log closed for good (log-key rotation): the log
    can still be read and verified, never appended to."""
    return _tree_state_mac(key, b"credgate/tlog-state-closed/v1", origin, size, root)


def _tree_state_mac(key: MacKey, label: bytes, origin: str, size: int, root: bytes) -> bytes:
    msg = b"%s\n%s\n%d\n%s" % (label, origin.encode(), size, root)
    try:
        return log_mac(key, msg)
    except KeyStoreUnavailable:
        # The log key's token failed: the log is unusable, as if unreachable.
        raise AuditUnavailable("the audit log key is unavailable",
                               reason="log_key_unavailable") from None


#: How often (seconds) a writer prunes the replay memory, at most.
PRUNE_EVERY = 10.0


class RequestReplayed(Exception):
    """The request digest an entry names is remembered already: the entry was not made."""


class _ClaimGroup(_Group):
    """A group whose entries may name request digests; each entry gets its own seq.

    The writer wakes every caller itself once the group is committed. The relay of
    gateway.audit.log (each caller wakes the next) paid off with 64 callers per group;
    a gateway process has a few request threads (groups of at most a few), where the
    relay only added a thread hand-off per caller (issue 12).
    """

    __slots__ = ("claims", "seqs")

    def __init__(self) -> None:
        super().__init__()
        #: (entry index, digest, refuse if remembered already)
        self.claims: list[tuple[int, str, bool]] = []
        #: The seq of each entry after the commit; 0 for an entry left out (a replay).
        self.seqs: list[int] = []

    def wake(self) -> None:
        """Let every caller of the group continue."""
        for waiter in self.waiters:
            waiter.release()

    def wait(self, position: int) -> None:
        """Block the caller at ``position`` until the group is done."""
        self.waiters[position].acquire()


def _peaks(frontier: bytes) -> list[bytes]:
    return [frontier[i:i + HASH_SIZE] for i in range(0, len(frontier), HASH_SIZE)]


class LogClosed(AuditUnavailable):
    """The log was closed (its key rotated): appends are refused, reads still work."""


class LogBehind(AuditUnavailable):
    """The database is behind a checkpoint this instance has seen: appends are refused."""


class SharedAuditLog:
    """``AuditLog`` over a ``Backend``, safe for many processes and instances at once."""

    def __init__(self, backend: Backend, *, signing_key: SigningKey,
                 origin: str, seen: SeenCheckpoint, max_group: int = 1024,
                 alert: Alert | None = None, remember_for: float = 240.0) -> None:
        self.backend, self.origin, self.seen = backend, origin, seen
        # Digests older than this (twice the signature window) are pruned: a request
        # that old is refused as stale before its digest is looked at.
        self._remember_for = remember_for
        self._pruned_at = float("-inf")
        self._key = state_mac_key(signing_key)
        self._max_group = max_group
        self._alert = alert
        self._p = backend.prefix
        self._m = backend.mark
        self._closed = False
        self._tampered: TamperDetected | None = None
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._queue: deque[_ClaimGroup] = deque()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._conn: Any = None
        self.commits = 0
        self._init_state()
        self._writer = threading.Thread(target=self._run_writer, daemon=True,
                                        name="audit-shared-writer")
        self._writer.start()

    # -- public API ---------------------------------------------------------------

    def append(self, entry: AuditEntry, *, request_digest: str = "",
               refuse_replay: bool = False) -> int:
        """Make one entry durable and return its seq; raises AuditUnavailable on failure.

        A ``request_digest`` is remembered in the entry's own transaction (the replay
        memory every instance shares). With ``refuse_replay``, a digest remembered
        already keeps the entry out of the log and raises RequestReplayed.
        """
        claim = (request_digest, refuse_replay) if request_digest else None
        return self._submit([entry.canonical_bytes()], claim)

    def append_many(self, entries: Iterable[AuditEntry]) -> list[int]:
        """Commit entries in one transaction with consecutive seqs; raises AuditUnavailable."""
        datas = [e.canonical_bytes() for e in entries]
        if not datas:
            return []
        first = self._submit(datas)
        return list(range(first, first + len(datas)))

    def read(self, *, start: int = 1, limit: int = 1000) -> list[tuple[int, AuditEntry]]:
        """Committed entries with seq >= start; raises AuditUnavailable if unreadable."""
        return [(seq, AuditEntry.from_canonical(data))
                for seq, data in self.read_raw(start=start, limit=limit)]

    def read_raw(self, *, start: int = 1, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Committed canonical bytes with seq >= start; raises AuditUnavailable."""
        if start < 1 or not 0 <= limit <= _MAX_READ:
            raise InvalidArgument(f"read needs start >= 1 and 0 <= limit <= {_MAX_READ}")
        rows = self.query(f"SELECT seq, entry FROM {self._p}tlog_entries WHERE seq >= {self._m}"
                          f" ORDER BY seq LIMIT {self._m}", (start, limit))
        return [(int(seq), bytes(data)) for seq, data in rows]

    def read_leaves(self, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        """(seq, entry, stored leaf) for start <= seq <= end; raises AuditUnavailable."""
        m = self._m
        rows = self.query(f"SELECT seq, entry, leaf FROM {self._p}tlog_entries "
                          f"WHERE seq >= {m} AND seq <= {m} ORDER BY seq", (start, end))
        return [(int(s), bytes(e), bytes(leaf)) for s, e, leaf in rows]

    def size(self) -> int:
        """The number of committed entries; raises AuditUnavailable if unreadable."""
        return self.state()[0]

    def state(self) -> tuple[int, bytes]:
        """The committed (size, root), MAC checked; raises AuditUnavailable or TamperDetected."""
        rows = self.query(f"SELECT size, root, mac FROM {self._p}tlog_state WHERE id = 1", ())
        if not rows:
            raise self._tamper(TamperDetected("the log's tree-state row is missing",
                                              reason="state_missing"))
        size, root, mac = int(rows[0][0]), bytes(rows[0][1]), bytes(rows[0][2])
        if not hmac.compare_digest(mac, state_mac(self._key, self.origin, size, root)) and \
                not self._closed_at(mac, size, root):
            raise self._tamper(TamperDetected("the log's tree state was not written by a "
                                              "gateway (MAC mismatch)", seq=size,
                                              reason="state_forged"))
        return size, root

    def is_closed(self) -> bool:
        """Whether the log was closed for good (``close_with``); raises AuditUnavailable
        or TamperDetected as ``state`` does."""
        size, root = self.state()
        rows = self.query(f"SELECT mac FROM {self._p}tlog_state WHERE id = 1", ())
        return bool(rows) and self._closed_at(bytes(rows[0][0]), size, root)

    def close_with(self, entry: AuditEntry) -> int:
        """Append a last entry and close the log in the same transaction: from then on
        every instance's append is refused (LogClosed), and the log stays readable and
        verifiable. Returns the entry's seq; raises AuditUnavailable or TamperDetected."""
        conn = self.backend.connect(writer=True)
        try:
            return self._commit([entry.canonical_bytes()], conn=conn, closing=True)[0]
        finally:
            conn.close()

    def _closed_at(self, mac: bytes, size: int, root: bytes) -> bool:
        # Only on a MAC that is not the open state's: appends pay nothing for it.
        return hmac.compare_digest(mac, closed_state_mac(self._key, self.origin, size, root))

    def ping(self) -> None:
        """Check the database answers; raises AuditUnavailable when it does not."""
        if self._tampered is not None:
            raise AuditUnavailable("audit log is closed after tampering", reason="audit_closed")
        self.query("SELECT 1", ())

    def close(self) -> None:
        """Commit what is already queued, stop the writer and close the connections."""
        with self._lock:
            if self._closed and not self._writer.is_alive():
                return
            self._closed = True
            self._work.notify()
        self._writer.join()
        self._drop_writer()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- reading --------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one read on a pooled connection; raises AuditUnavailable."""
        with self._readers_lock:
            conn = self._readers.pop() if self._readers else None
        try:
            if conn is None:
                conn = self.backend.connect(writer=False)
            rows = conn.execute(sql, params).fetchall()
        except self.backend.errors as exc:
            if conn is not None:
                conn.close()
            raise AuditUnavailable("audit log cannot be read", reason="audit_read_failed",
                                   detail=type(exc).__name__) from None
        with self._readers_lock:
            self._readers.append(conn)
        return list(rows)

    # -- appending ------------------------------------------------------------------

    def _submit(self, datas: list[bytes], claim: tuple[str, bool] | None = None) -> int:
        waiter = _allocate_lock()
        waiter.acquire()
        with self._lock:
            if self._closed:
                raise AuditUnavailable("audit log is closed", reason="audit_closed")
            group = self._queue[-1] if self._queue else None
            if group is None or len(group.datas) + len(datas) > self._max_group:
                group = _ClaimGroup()
                self._queue.append(group)
                self._work.notify()
            index, position = len(group.datas), len(group.waiters)
            group.datas.extend(datas)
            group.waiters.append(waiter)
            if claim is not None:
                group.claims.append((index, *claim))
        group.wait(position)
        if group.error is not None:
            if isinstance(group.error, LogBehind | LogClosed):
                raise group.error
            raise AuditUnavailable("audit entry could not be made durable",
                                   reason="audit_write_failed",
                                   detail=type(group.error).__name__) from None
        seq = group.seqs[index]
        if seq == 0:
            raise RequestReplayed("the request digest is remembered already")
        return seq

    def _run_writer(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._work.wait()
                if not self._queue:
                    return
                group = self._queue.popleft()
            try:
                group.seqs = self._commit(group.datas, group.claims)
            except BaseException as exc:  # every caller must be woken, whatever happened
                group.error = exc
                if not isinstance(exc, AuditUnavailable | TamperDetected | ProofError):
                    logger.exception("audit writer: group failed")
            finally:
                group.wake()

    def _commit(self, datas: Sequence[bytes], claims: Sequence[tuple[int, str, bool]] = (),
                *, conn: Any = None, closing: bool = False) -> list[int]:
        """The one transaction of a group (``closing``: the last one, see close_with);
        returns each entry's seq (0: left out as a replay) after COMMIT."""
        leaves = [_sha256(LEAF_PREFIX + d).digest() for d in datas]
        conn = conn or self._writer_conn()
        try:
            size, frontier = self._check_state(self.backend.lock_state(conn))
            left_out = self._remember(conn, claims) if claims else set()
            if left_out:
                datas = [d for i, d in enumerate(datas) if i not in left_out]
                leaves = [h for i, h in enumerate(leaves) if i not in left_out]
            if not datas:
                self._rollback(conn)
                return [0] * len(left_out)
            frontier.extend(leaves)
            new_size, root = frontier.size, frontier.root()
            mac = closed_state_mac if closing else state_mac
            state = (new_size, b"".join(frontier.peaks), root,
                     mac(self._key, self.origin, new_size, root))
            self.backend.write_group(conn, state, size + 1, list(datas), leaves)
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, self.backend.errors):
                raise AuditUnavailable("audit group could not be committed",
                                       reason="audit_write_failed",
                                       detail=type(exc).__name__) from None
            raise
        finally:
            self.backend.unlock()
        self.commits += 1
        seqs, seq = [], size
        for i in range(len(datas) + len(left_out)):
            if i in left_out:
                seqs.append(0)
            else:
                seq += 1
                seqs.append(seq)
        return seqs

    def _remember(self, conn: Any, claims: Sequence[tuple[int, str, bool]]) -> set[int]:
        """Remember the group's request digests (transaction open); returns the indexes of
        the entries to leave out: those that refuse a replay of a digest already known."""
        now = time.time()
        prune_before: int | None = None
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at, prune_before = now, int(now - self._remember_for)
        fresh = self.backend.remember_digests(conn, [d for _, d, _ in claims], int(now),
                                              prune_before)
        left_out: set[int] = set()
        for index, digest, refuse in claims:
            if digest in fresh:
                fresh.discard(digest)  # the first entry naming it owns it
            elif refuse:
                left_out.add(index)
        return left_out

    def _check_state(self, row: Sequence[Any] | None) -> tuple[int, CompactRange]:
        """Refuse to extend a state that is forged, planted on, or behind a seen checkpoint."""
        if row is None:
            raise self._tamper(TamperDetected("the log's tree-state row is missing",
                                              reason="state_missing"))
        size, frontier, root, mac, last = (int(row[0]), bytes(row[1]), bytes(row[2]),
                                           bytes(row[3]), int(row[4]))
        if not hmac.compare_digest(mac, state_mac(self._key, self.origin, size, root)):
            if self._closed_at(mac, size, root):
                raise LogClosed("the audit log was closed (its key was rotated): restart "
                                "this instance with the new log's settings",
                                reason="log_closed")
            raise self._tamper(TamperDetected(
                "the log's tree state was not written by a gateway (MAC mismatch)",
                seq=size, reason="state_forged"))
        try:
            cr = CompactRange(size, _peaks(frontier))
        except ProofError:
            cr = None
        if cr is None or cr.root() != root:
            raise self._tamper(TamperDetected("the log's frontier does not give its root",
                                              seq=size, reason="frontier_damaged"))
        if last > size:
            raise self._tamper(TamperDetected(
                f"a row at seq {size + 1} was written without the gateway's state update",
                seq=size + 1, reason="planted_row"))
        if last < size:
            raise self._tamper(TamperDetected("entries the state counts are missing",
                                              seq=last + 1, reason="entries_missing"))
        self.seen.refuse_if_ahead(size, self.backend.describe())
        return size, cr

    def _tamper(self, exc: TamperDetected) -> TamperDetected:
        """Close the log to appends, alert, and hand the error back to raise."""
        if self._tampered is None:
            self._tampered = exc
            logger.critical("AUDIT TAMPERING DETECTED (%s, seq %s): appends stop",
                            exc.reason, exc.seq)
            with self._lock:
                self._closed = True
            if self._alert is not None:
                try:
                    self._alert(exc)
                except Exception:
                    logger.exception("audit tamper alert failed")
        return exc

    # -- connections ------------------------------------------------------------------

    def _init_state(self) -> None:
        """Create the state row of an empty log, or check the origin of an existing one."""
        p, m = self._p, self._m
        conn = self.backend.connect(writer=True)
        try:
            self.backend.begin_locked(conn, "tlog_signer")
            row = conn.execute(f"SELECT origin FROM {p}tlog_state WHERE id = 1").fetchone()
            if row is None:
                conn.execute(
                    f"INSERT INTO {p}tlog_state (id, origin, size, frontier, root, mac) "
                    f"VALUES (1, {m}, 0, {m}, {m}, {m})",
                    (self.origin, b"", EMPTY_ROOT,
                     state_mac(self._key, self.origin, 0, EMPTY_ROOT)))
            elif row[0] != self.origin:
                raise ConfigurationError(
                    f"the audit database holds the log {row[0]!r}, not {self.origin!r}; a new "
                    "origin needs a new database or schema (see the README's migration steps)")
            conn.execute("COMMIT")
        except self.backend.errors as exc:
            self._rollback(conn)
            raise AuditUnavailable("audit log cannot be opened", reason="audit_open_failed",
                                   detail=type(exc).__name__) from None
        except BaseException:
            self._rollback(conn)
            raise
        finally:
            conn.close()

    def _writer_conn(self) -> Any:
        if self._conn is None:
            self._conn = self.backend.connect(writer=True)
        return self._conn

    def _rollback(self, conn: Any) -> None:
        """Roll back; a connection that cannot even do that is dropped and reopened later."""
        if getattr(conn, "in_transaction", True) is False:
            return  # SQLite already rolled back the failed statement's transaction
        try:
            conn.execute("ROLLBACK")
        except Exception:
            if conn is self._conn:
                self._drop_writer()

    def _drop_writer(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("closing a broken audit connection failed", exc_info=True)
