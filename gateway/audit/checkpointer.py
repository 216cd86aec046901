"""Keeping and making checkpoints: the append-only store, the scheduled signer, start-up.

`CheckpointStore` keeps every signed checkpoint in the audit file (append-only, sizes
never shrink); `open_verified_tree` is the gateway's start-up self-check against the
newest one; `Checkpointer` signs on demand and on a schedule; `AuditEvidence` opens and
closes the three together. The checkpoint format itself is in gateway.audit.checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from gateway.audit.checkpoint import (
    ANCHORS,
    DEFAULT_ORIGIN,
    Checkpoint,
    CheckpointError,
    check_key_name,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from gateway.audit.tree import AuditTree, TamperDetected
from gateway.clock import Clock, SystemClock
from gateway.crypto.signatures import AnySigningKey, AnyVerifyKey
from gateway.errors import AuditUnavailable
from gateway.sqlite_wal import use_wal

logger = logging.getLogger(__name__)

_STORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id   INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_append BEFORE INSERT ON audit_checkpoints
WHEN NEW.id IS NULL OR NEW.id <> (SELECT coalesce(max(id), 0) + 1 FROM audit_checkpoints)
  OR NEW.size < (SELECT coalesce(max(size), 0) FROM audit_checkpoints)
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints: next id, size never shrinking'); END;
"""


class CheckpointStore:
    """Signed checkpoints in table ``audit_checkpoints`` of the audit file (append-only)."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 2000) -> None:
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000,
                                         isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            use_wal(self._conn, busy_timeout_ms / 1000)
            self._conn.execute("PRAGMA synchronous = FULL")  # signed evidence: durable
            self._conn.executescript(_STORE_SCHEMA)
        except sqlite3.Error as exc:
            raise AuditUnavailable("checkpoint store cannot be opened",
                                   reason="audit_open_failed", detail=str(exc)) from None

    def append(self, note: str) -> Checkpoint:
        """Store a signed checkpoint note; raises CheckpointError or AuditUnavailable."""
        cp = parse_checkpoint(note)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO audit_checkpoints (id, size, note) VALUES "
                    "((SELECT coalesce(max(id), 0) + 1 FROM audit_checkpoints), ?, ?)",
                    (cp.size, cp.note))
            except sqlite3.Error as exc:
                raise AuditUnavailable("checkpoint cannot be stored",
                                       reason="audit_write_failed", detail=str(exc)) from None
        return cp

    def latest(self) -> Checkpoint | None:
        """The most recently stored checkpoint (parsed, not verified), or None."""
        rows = self._select("SELECT note FROM audit_checkpoints ORDER BY id DESC LIMIT 1", ())
        try:
            return parse_checkpoint(rows[0][0]) if rows else None
        except CheckpointError as exc:
            raise TamperDetected("the newest stored checkpoint is damaged",
                                 reason="checkpoint_damaged", detail=exc.message) from None

    def between(self, min_size: int = 0, max_size: int = 2**63 - 1, *,
                limit: int | None = None) -> list[Checkpoint]:
        """Stored checkpoints with min_size <= size <= max_size, oldest first (not verified).

        With ``limit``, at most about that many, evenly spaced, always including the newest.
        """
        where = "FROM audit_checkpoints WHERE size BETWEEN ? AND ?"
        step = 1
        if limit is not None:
            count = int(self._select(f"SELECT count(*) {where}", (min_size, max_size))[0][0])
            step = max(1, -(-count // max(1, limit)))
        rows = self._select(
            f"SELECT note FROM (SELECT note, id, row_number() OVER (ORDER BY id) AS rn, "
            f"count(*) OVER () AS n {where}) WHERE (rn - 1) % ? = 0 OR rn = n ORDER BY id",
            (min_size, max_size, step))
        try:
            return [parse_checkpoint(note) for (note,) in rows]
        except CheckpointError as exc:
            raise TamperDetected("a stored checkpoint is damaged", reason="checkpoint_damaged",
                                 detail=exc.message) from None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def _select(self, sql: str, params: tuple[int, ...]) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise AuditUnavailable("checkpoints cannot be read", reason="audit_read_failed",
                                       detail=str(exc)) from None


def open_verified_tree(path: Path, verify_key: AnyVerifyKey, *,
                       origin: str = DEFAULT_ORIGIN,
                       store: CheckpointStore | None = None) -> AuditTree:
    """Open the tree with the full start-up self-check; raises TamperDetected.

    The newest stored checkpoint must verify under (origin, verify_key) and the log must
    reproduce its root: a log that no longer matches what the gateway signed is refused.
    Up to ``ANCHORS`` older checkpoints are compared too, to narrow down where it differs.
    """
    own = store is None
    store = CheckpointStore(path) if store is None else store
    try:
        stored = store.between(limit=ANCHORS)
        if stored:
            try:
                verify_checkpoint(stored[-1].note, verify_key, origin)
            except CheckpointError as exc:
                raise TamperDetected("newest stored checkpoint does not verify",
                                     reason="checkpoint_signature", detail=exc.message) from None
        try:
            tree = AuditTree.open(path, anchors=[(c.size, c.root) for c in stored])
        except TamperDetected as exc:
            if exc.reason == "checkpoint_mismatch":
                _blame_checkpoint(exc, stored, verify_key, origin)
            raise
        if not stored and tree.size():
            # Every log gets a signed checkpoint when it is created (AuditEvidence.open),
            # so entries without any mean the checkpoints were removed: nothing anchors
            # the entries any more, and they could have been rewritten.
            tree.close()
            raise TamperDetected("the audit log holds entries but no signed checkpoint",
                                 first_seq=1, last_seq=tree.size(),
                                 reason="checkpoint_missing")
        return tree
    finally:
        if own:
            store.close()


def _blame_checkpoint(exc: TamperDetected, stored: Sequence[Checkpoint],
                      verify_key: AnyVerifyKey, origin: str) -> None:
    """If the mismatching checkpoint itself is forged, say so instead."""
    for cp in stored:
        if cp.size == exc.last_seq:
            try:
                verify_checkpoint(cp.note, verify_key, origin)
            except CheckpointError:
                raise TamperDetected(f"stored checkpoint of size {cp.size} does not verify",
                                     first_seq=exc.first_seq, last_seq=exc.last_seq,
                                     reason="checkpoint_signature") from None


class Checkpointer:
    """Signs checkpoints of an ``AuditTree`` on demand and every ``interval`` seconds."""

    def __init__(self, *, tree: AuditTree, store: CheckpointStore,
                 signing_key: AnySigningKey, origin: str = DEFAULT_ORIGIN,
                 clock: Clock | None = None, interval: float | None = 60.0,
                 with_time: bool = True) -> None:
        check_key_name(origin)
        if interval is not None and interval <= 0:
            raise ValueError("checkpoint interval must be positive")
        self.tree, self.store, self.origin = tree, store, origin
        self._key = signing_key
        self._clock = clock or SystemClock()
        self._interval = interval
        self._with_time = with_time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    @property
    def verify_key(self) -> AnyVerifyKey:
        """The public key that verifies this checkpointer's signatures."""
        return self._key.verify_key

    def checkpoint_now(self) -> Checkpoint:
        """Sign and store a checkpoint of the current tree (or return the latest if unchanged).

        Raises TamperDetected rather than sign a tree inconsistent with the newest stored
        checkpoint (tlog-checkpoint: a log MUST NOT sign inconsistent checkpoints).
        """
        with self._lock:
            size = self.tree.size()
            root = self.tree.root(size)
            latest = self.store.latest()
            if latest is not None:
                if latest.size > size or self.tree.root(latest.size) != latest.root:
                    raise TamperDetected("tree is inconsistent with the newest checkpoint",
                                         first_seq=1, last_seq=latest.size,
                                         reason="checkpoint_mismatch")
                if latest.size == size and latest.origin == self.origin:
                    return latest
            when = self._clock.now() if self._with_time else None
            return self.store.append(sign_checkpoint(self.origin, size, root, when, self._key))

    def start(self) -> None:
        """Start the background thread (no-op without an interval or if running)."""
        if self._interval is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-checkpointer",
                                        daemon=True)
        self._thread.start()

    def stop(self, *, final: bool = True) -> Checkpoint | None:
        """Stop the thread; with ``final`` sign one last checkpoint and return it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.checkpoint_now() if final else None

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint_now()
            except TamperDetected:
                # Never sign again on a log that no longer matches what was signed.
                self.failures += 1
                logger.critical("audit checkpoints stop: the log does not match its evidence")
                return
            except Exception:  # keep trying: a later tick may succeed; the count is visible
                self.failures += 1
                logger.exception("audit checkpoint could not be signed")


class AuditEvidence:
    """The tree, checkpoint store and checkpointer of one audit file, opened and closed together."""

    def __init__(self, tree: AuditTree, store: CheckpointStore, checkpointer: Checkpointer):
        self.tree, self.store, self.checkpointer = tree, store, checkpointer

    @classmethod
    def open(cls, path: Path, signing_key: AnySigningKey, *,
             origin: str = DEFAULT_ORIGIN, clock: Clock | None = None,
             interval: float | None = 60.0) -> AuditEvidence:
        """Self-check and open; raises TamperDetected if the log fails its signed checkpoints."""
        store = CheckpointStore(path)
        try:
            tree = open_verified_tree(path, signing_key.verify_key, origin=origin, store=store)
        except BaseException:
            store.close()
            raise
        evidence = cls(tree, store, Checkpointer(tree=tree, store=store,
                                                 signing_key=signing_key, origin=origin,
                                                 clock=clock, interval=interval))
        if store.latest() is None:
            evidence.checkpointer.checkpoint_now()  # a new log is signed from its first day
        return evidence

    def start(self) -> None:
        """Start signing checkpoints on schedule."""
        self.checkpointer.start()

    def close(self) -> None:
        """Stop the schedule, sign a final checkpoint, close tree and store (log closed first)."""
        try:
            self.checkpointer.stop(final=True)
        finally:
            self.tree.close()
            self.store.close()
