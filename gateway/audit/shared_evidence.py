"""The shared log's evidence: its Merkle tree in memory, its checkpoints, their signer.

Each process keeps every perfect subtree hash in memory (``PerfectNodes``) and brings it
up to the database's committed size on demand (``SharedTree.sync``): every new row is
hashed again and must equal the leaf stored beside it, and the tree's root must equal
the MAC-checked root of the state row. At start the whole log is read this way (the
self-check), then the newest checkpoints must match.

Any instance may sign a checkpoint. ``SharedCheckpointer.checkpoint_now`` takes the
``tlog_signer`` row lock, syncs, and verifies that the current tree is consistent with
the newest stored checkpoint before it signs; otherwise it raises ``TamperDetected``
(and the log alerts) instead of signing. The scheduled signer of every instance ticks,
but under the lock only one signs per interval (the rate limit).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time as _time

from gateway.audit.checkpoint import (
    ANCHORS,
    Checkpoint,
    CheckpointError,
    check_key_name,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from gateway.audit.merkle import LEAF_PREFIX, ProofError, consistency_proof, inclusion_proof
from gateway.audit.shared import SharedAuditLog, _sha256
from gateway.audit.signatures import EntrySignatureError, PartyKeys, verify_entry_signatures
from gateway.audit.tree import PerfectNodes, TamperDetected
from gateway.clock import Clock, SystemClock
from gateway.crypto.signatures import AnySigningKey, AnyVerifyKey
from gateway.errors import AuditUnavailable, KeyStoreUnavailable

logger = logging.getLogger(__name__)
_CHUNK = 10_000


class SharedTree:
    """The Merkle tree of a ``SharedAuditLog``, in memory, caught up from the database."""

    def __init__(self, log: SharedAuditLog) -> None:
        self.log = log
        self._nodes = PerfectNodes()
        self._lock = threading.RLock()

    def sync(self) -> int:
        """Read and check the entries committed since the last sync; return the size.

        Raises TamperDetected when a row's leaf or the tree's root disagrees with what
        the gateways committed, AuditUnavailable when the database cannot be read.
        """
        size, root = self.log.state()
        with self._lock:
            have = self._nodes.size
            if size < have:
                raise self.log._tamper(TamperDetected(
                    f"the log shrank from {have} to {size} entries under this gateway",
                    seq=size + 1, reason="log_shrank"))
            while have < size:
                rows = self.log.read_leaves(have + 1, min(size, have + _CHUNK))
                leaves = []
                for i, (seq, entry, leaf) in enumerate(rows):
                    if seq != have + 1 + i:
                        raise self.log._tamper(TamperDetected(
                            "audit log seqs are not consecutive", seq=have + 1 + i,
                            reason="seq_gap"))
                    computed = _sha256(LEAF_PREFIX + entry).digest()
                    if not hmac.compare_digest(computed, leaf):
                        raise self.log._tamper(TamperDetected(
                            "audit entry differs from what was committed", seq=seq,
                            reason="entry_changed"))
                    leaves.append(computed)
                if not rows:
                    raise self.log._tamper(TamperDetected(
                        "entries the state counts are missing", seq=have + 1,
                        reason="entries_missing"))
                self._nodes.extend(leaves)
                have = self._nodes.size
            if self._nodes.subtree_hash(0, size) != root:
                raise self.log._tamper(TamperDetected(
                    "the entries do not give the root the gateways committed",
                    first_seq=1, last_seq=size, reason="root_mismatch"))
            return size

    def size(self) -> int:
        """The number of committed entries (syncs first)."""
        return self.sync()

    def synced_size(self) -> int:
        """The number of leaves in memory (no database access)."""
        return self._nodes.size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all synced); raises ProofError."""
        with self._lock:
            return self._nodes.subtree_hash(0, self._nodes.size if size is None else size)

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); raises ProofError outside the synced tree."""
        with self._lock:
            return self._nodes.subtree_hash(start, end)

    def leaf_hashes(self, start: int, end: int) -> bytes:
        """Leaf hashes of indexes start <= i < end, concatenated."""
        with self._lock:
            if end > self._nodes.size:
                self.sync()
            return self._nodes.leaf_hashes(start, end)

    def frontier(self, size: int) -> list[bytes]:
        """The compact range of the prefix of this size; raises ProofError beyond it."""
        with self._lock:
            if size > self._nodes.size:
                self.sync()
            return self._nodes.frontier(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1); raises ProofError when out of range."""
        with self._lock:
            size = self.sync() if size is None or size > self._nodes.size else size
            if size > self._nodes.size:
                raise ProofError("tree size beyond the log", reason="bad_proof_request")
            return inclusion_proof(self._nodes, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1); raises ProofError."""
        with self._lock:
            if new_size is None or new_size > self._nodes.size:
                new_size = self.sync() if new_size is None else new_size
            if new_size > self._nodes.size:
                raise ProofError("tree size beyond the log", reason="bad_proof_request")
            return consistency_proof(self._nodes, old_size, new_size)

    def close(self) -> None:
        """Nothing to release (the log owns the connections)."""


class SharedCheckpointStore:
    """Signed checkpoints in ``tlog_checkpoints`` (append-only, sizes never shrinking)."""

    def __init__(self, log: SharedAuditLog) -> None:
        self.log = log
        self._p, self._m = log.backend.prefix, log.backend.mark

    def latest(self) -> Checkpoint | None:
        """The most recently stored checkpoint (parsed, not verified), or None."""
        rows = self.log.query(
            f"SELECT note FROM {self._p}tlog_checkpoints ORDER BY id DESC LIMIT 1", ())
        return _parse(rows[0][0]) if rows else None

    def between(self, min_size: int = 0, max_size: int = 2**63 - 1, *,
                limit: int | None = None) -> list[Checkpoint]:
        """Stored checkpoints with min_size <= size <= max_size, oldest first (not verified)."""
        p, m = self._p, self._m
        where = f"FROM {p}tlog_checkpoints WHERE size BETWEEN {m} AND {m}"
        mod = "%%" if m == "%s" else "%"  # psycopg reads a bare % as a placeholder
        step = 1
        if limit is not None:
            count = int(self.log.query(f"SELECT count(*) {where}", (min_size, max_size))[0][0])
            step = max(1, -(-count // max(1, limit)))
        rows = self.log.query(
            f"SELECT note FROM (SELECT note, id, row_number() OVER (ORDER BY id) AS rn, "
            f"count(*) OVER () AS n {where}) AS c WHERE (rn - 1) {mod} {m} = 0 OR rn = n "
            "ORDER BY id", (min_size, max_size, step))
        return [_parse(note) for (note,) in rows]

    def close(self) -> None:
        """Nothing to release (the log owns the connections)."""


def _parse(note: str) -> Checkpoint:
    try:
        return parse_checkpoint(note)
    except CheckpointError as exc:
        raise TamperDetected("a stored checkpoint is damaged", reason="checkpoint_damaged",
                             detail=exc.message) from None


class SharedCheckpointer:
    """Signs checkpoints of the shared tree, on demand and on a rate-limited schedule."""

    def __init__(self, *, tree: SharedTree, store: SharedCheckpointStore,
                 signing_key: AnySigningKey, origin: str,
                 clock: Clock | None = None, interval: float | None = 60.0) -> None:
        check_key_name(origin)
        if interval is not None and interval <= 0:
            raise ValueError("checkpoint interval must be positive")
        self.tree, self.store, self.origin = tree, store, origin
        self._key = signing_key
        self._clock = clock or SystemClock()
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    @property
    def verify_key(self) -> AnyVerifyKey:
        """The public key that verifies this checkpointer's signatures."""
        return self._key.verify_key

    def checkpoint_now(self, *, min_interval: float = 0.0) -> Checkpoint:
        """Sign and store a checkpoint of the current log (or return the latest if unchanged).

        With ``min_interval`` it signs only if no instance signed within that many
        seconds. Raises TamperDetected rather than sign a tree inconsistent with the
        newest stored checkpoint; AuditUnavailable when the database cannot be reached.
        """
        log = self.tree.log
        p, m = log.backend.prefix, log.backend.mark
        with self._lock:
            self.tree.sync()  # the bulk of the reading, outside the lock
            conn = log.backend.connect(writer=True)
            try:
                log.backend.begin_locked(conn, "tlog_signer")
                signed_at = float(conn.execute(
                    f"SELECT signed_at FROM {p}tlog_signer WHERE id = 1").fetchone()[0])
                row = conn.execute(f"SELECT note FROM {p}tlog_checkpoints "
                                   "ORDER BY id DESC LIMIT 1").fetchone()
                size = self.tree.sync()
                latest = self._check_latest(None if row is None else row[0], size)
                if latest is not None and (latest.size == size or (
                        min_interval and _time.time() - signed_at < min_interval)):
                    conn.execute("COMMIT")
                    log.seen.offer(latest)
                    return latest
                note = sign_checkpoint(self.origin, size, self.tree.root(size),
                                       self._clock.now(), self._key)
                conn.execute(f"INSERT INTO {p}tlog_checkpoints (id, size, note) VALUES "
                             f"((SELECT coalesce(max(id), 0) + 1 FROM {p}tlog_checkpoints), "
                             f"{m}, {m})", (size, note))
                conn.execute(f"UPDATE {p}tlog_signer SET signed_at = {m} WHERE id = 1",
                             (_time.time(),))
                conn.execute("COMMIT")
            except log.backend.errors as exc:
                raise AuditUnavailable("checkpoint could not be signed",
                                       reason="audit_write_failed",
                                       detail=type(exc).__name__) from None
            finally:
                conn.close()
        cp = parse_checkpoint(note)
        log.seen.offer(cp)
        return cp

    def _check_latest(self, note: str | None, size: int) -> Checkpoint | None:
        """The newest stored checkpoint, verified and consistent with the tree; else raise."""
        if note is None:
            return None
        log = self.tree.log
        try:
            latest = verify_checkpoint(note, self.verify_key, self.origin)
        except CheckpointError as exc:
            raise log._tamper(TamperDetected("the newest stored checkpoint does not verify",
                                             reason="checkpoint_signature",
                                             detail=exc.message)) from None
        if latest.size > size or self.tree.root(latest.size) != latest.root:
            raise log._tamper(TamperDetected(
                "the log is not consistent with its newest checkpoint", first_seq=1,
                last_seq=latest.size, reason="checkpoint_mismatch"))
        return latest

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
                self.checkpoint_now(min_interval=self._interval * 0.9)
            except TamperDetected:
                self.failures += 1
                logger.critical("audit checkpoints stop: the log does not match its evidence")
                return
            except Exception:
                self.failures += 1
                logger.exception("audit checkpoint could not be signed")


def _check_signatures(log: SharedAuditLog, size: int, keys: PartyKeys) -> None:
    """Every recorded request signature verifies; raises TamperDetected at the first not."""
    start = 1
    while start <= size:
        chunk = log.read(start=start, limit=min(5000, size - start + 1))
        if not chunk:
            break
        try:
            verify_entry_signatures(chunk, keys)
        except EntrySignatureError as exc:
            raise log._tamper(TamperDetected(exc.message, seq=exc.seq,
                                             reason=exc.reason)) from None
        start = chunk[-1][0] + 1


class SharedEvidence:
    """The shared log's tree, checkpoint store and signer, opened and self-checked together."""

    def __init__(self, tree: SharedTree, store: SharedCheckpointStore,
                 checkpointer: SharedCheckpointer) -> None:
        self.tree, self.store, self.checkpointer = tree, store, checkpointer

    @classmethod
    def open(cls, log: SharedAuditLog, signing_key: AnySigningKey, *,
             clock: Clock | None = None, interval: float | None = 60.0,
             party_keys: PartyKeys | None = None) -> SharedEvidence:
        """Self-check the whole log; raises TamperDetected, LogBehind or AuditUnavailable.

        With ``party_keys`` every recorded request signature is verified too.
        """
        tree, store = SharedTree(log), SharedCheckpointStore(log)
        signer = SharedCheckpointer(tree=tree, store=store, signing_key=signing_key,
                                    origin=log.origin, clock=clock, interval=interval)
        # The checkpoints first: another instance may append and sign meanwhile, and a
        # sync after this read covers every checkpoint read (no false alarm).
        stored = store.between(limit=ANCHORS)
        size = tree.sync()  # every row re-hashed, the root compared with the state
        if not stored and size:
            stored = store.between(limit=ANCHORS)  # signed first by the instance that began
        if stored:
            signer._check_latest(stored[-1].note, size)
            for cp in stored:
                if tree.root(cp.size) != cp.root:
                    raise log._tamper(TamperDetected(
                        f"the log does not match the signed checkpoint of size {cp.size}",
                        last_seq=cp.size, first_seq=1, reason="checkpoint_mismatch"))
            log.seen.offer(stored[-1])
        elif size:
            raise log._tamper(TamperDetected("the audit log holds entries but no signed "
                                             "checkpoint", first_seq=1, last_seq=size,
                                             reason="checkpoint_missing"))
        seen = log.seen.checkpoint
        if seen is not None:
            log.seen.refuse_if_ahead(size, log.backend.describe())
            if tree.root(seen.size) != seen.root:
                raise log._tamper(TamperDetected(
                    f"the log forks from the checkpoint of size {seen.size} this instance "
                    "has seen", first_seq=1, last_seq=seen.size, reason="fork"))
        if party_keys:
            _check_signatures(log, size, party_keys)
        if not stored:
            signer.checkpoint_now()  # a new log is signed from its first day
        return cls(tree, store, signer)

    def start(self) -> None:
        """Start signing checkpoints on schedule."""
        self.checkpointer.start()

    def close(self) -> None:
        """Stop the schedule and sign a final checkpoint (best effort)."""
        try:
            self.checkpointer.stop(final=True)
        except (AuditUnavailable, TamperDetected, KeyStoreUnavailable) as exc:
            logger.warning("no final audit checkpoint: %s", exc.message)

