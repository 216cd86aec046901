"""The audit log's Merkle tree: leaf hashes kept beside the log, proofs answered from memory.

``AuditTree`` stores one RFC 9162 leaf hash per audit entry in table
``audit_leaves(idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)`` of the audit log's own
SQLite file (leaf index = seq - 1; append-only triggers as on ``audit_log``). They are
written by ``on_commit``, the ``SqliteAuditLog`` hook, in the log's writer thread right
after each group commits, on a connection with ``synchronous=NORMAL``: the table is
derived data, rebuilt from ``audit_log`` if a crash loses its tail.

In memory the tree keeps every perfect subtree hash, level by level (level 0 = leaf
hashes; about 64 bytes per leaf, 64 MB for a million entries), so the root of any size
and every proof cost O(log n) hashes and appending n leaves costs n - 1 node hashes.

Start-up self-check (``AuditTree.open``): every ``audit_log`` row is hashed again and
compared with its stored leaf hash, seqs must run 1, 2, 3 ... without gaps, and the
roots at the ``anchors`` (the sizes and roots of signed checkpoints, see
``gateway.audit.checkpoint.open_verified_tree``) must match. Any difference raises
``TamperDetected`` naming the first seq that differs, or, when the leaf hashes were
rewritten to match the rows, the seq interval between the last matching and the first
failing anchor.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from gateway.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_PREFIX,
    NODE_PREFIX,
    ProofError,
    consistency_proof,
    inclusion_proof,
    node_hash,
    split_point,
)
from gateway.errors import AuditUnavailable, CredgateError
from gateway.sqlite_wal import use_wal

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_leaves (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_leaves_next_idx BEFORE INSERT ON audit_leaves
WHEN NEW.idx IS NULL OR NEW.idx <> (SELECT coalesce(max(idx), -1) + 1 FROM audit_leaves)
BEGIN SELECT RAISE(ABORT, 'audit_leaves idx must be max(idx) + 1'); END;
"""
_CHUNK = 20_000
_sha256 = hashlib.sha256


class TamperDetected(CredgateError):
    """The audit log no longer matches what was committed or signed; the gateway must not serve.

    ``seq`` is the first entry known to differ (None when only an interval is known);
    ``first_seq``..``last_seq`` is the interval that holds the first difference.
    """

    status = "DATA_LOSS"

    def __init__(self, message: str, *, seq: int | None = None, first_seq: int | None = None,
                 last_seq: int | None = None, reason: str = "tampered", detail: str = "") -> None:
        super().__init__(message, reason=reason, detail=detail)
        self.seq = seq
        self.first_seq = seq if first_seq is None else first_seq
        self.last_seq = seq if last_seq is None else last_seq


class PerfectNodes:
    """Every perfect subtree hash of a growing tree, one bytearray per level."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes, then every parent they complete, one level at a time."""
        hashes = list(leaf_hashes)
        if not hashes:
            return
        if set(map(len, hashes)) != {HASH_SIZE}:
            raise ProofError("leaf hashes must be SHA-256 hashes", reason="bad_hash_size")
        levels, sha, pair = self._levels, _sha256, 2 * HASH_SIZE
        levels[0] += b"".join(hashes)
        lo, hi = self._size, self._size + len(hashes)  # nodes at this height, before/after
        height = 0
        while (hi >> 1) > (lo >> 1):
            # A parent's preimage is 0x01 || left || right: one aligned slice of the level.
            lv = levels[height]
            parents = b"".join([sha(NODE_PREFIX + lv[j * pair:(j + 1) * pair]).digest()
                                for j in range(lo >> 1, hi >> 1)])
            height += 1
            if height == len(levels):
                levels.append(bytearray())
            levels[height] += parents
            lo, hi = lo >> 1, hi >> 1
        self._size += len(hashes)

    def leaf_hashes(self, start: int, end: int) -> bytes:
        """Leaf hashes start <= i < end, concatenated."""
        return bytes(self._levels[0][start * HASH_SIZE:end * HASH_SIZE])

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from cached perfect subtrees (O(log n) node hashes)."""
        if not 0 <= start <= end <= self._size:
            raise ProofError("subtree outside the tree", reason="bad_proof_request")
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            at = (start >> height) * HASH_SIZE
            return bytes(self._levels[height][at:at + HASH_SIZE])
        k = split_point(n)
        return node_hash(self.subtree_hash(start, start + k), self.subtree_hash(start + k, end))

    def frontier(self, size: int) -> list[bytes]:
        """The peaks of the prefix of this size (a ``CompactRange``), largest first."""
        if not 0 <= size <= self._size:
            raise ProofError("frontier outside the tree", reason="bad_proof_request")
        peaks, start = [], 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                peaks.append(self.subtree_hash(start, start + (1 << height)))
                start += 1 << height
        return peaks


class AuditTree:
    """The Merkle tree over an ``SqliteAuditLog``'s entries; thread-safe, proofs from memory."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self._path = Path(path)
        self._conn = conn
        self._nodes = PerfectNodes()
        self._persisted = 0  # leaves [0, _persisted) are in audit_leaves
        self._lock = threading.RLock()
        self._root_cache: tuple[int, bytes] = (0, EMPTY_ROOT)
        self._closed = False

    @classmethod
    def open(cls, path: Path, *, self_check: bool = True,
             anchors: Iterable[tuple[int, bytes]] = (),
             busy_timeout_ms: int = 2000) -> AuditTree:
        """Load the tree from the audit file; raises TamperDetected when the self-check fails.

        With ``self_check=False`` (forensics: exporting a log that fails its check) the
        tree is exactly the stored leaf hashes, the log rows are not read and ``anchors``
        are ignored.
        """
        try:
            conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            use_wal(conn, busy_timeout_ms / 1000)
            conn.execute("PRAGMA synchronous = NORMAL")  # derived data: rebuilt after a crash
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise AuditUnavailable("audit tree cannot be opened", reason="audit_open_failed",
                                   detail=f"{type(exc).__name__}: {exc}") from None
        tree = cls(path, conn)
        try:
            tree._load(self_check)
            if self_check:
                tree._check_anchors(sorted(anchors))
        except BaseException:
            conn.close()
            raise
        return tree

    # -- reading ------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The SQLite file holding the log and the tree."""
        return self._path

    def size(self) -> int:
        """The number of leaves (committed entries the tree has seen)."""
        return self._nodes.size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all); raises ProofError beyond the tree."""
        with self._lock:
            if size is None:
                size = self._nodes.size
            cached_size, cached = self._root_cache
            if size == cached_size:
                return cached
            root = self._nodes.subtree_hash(0, size)
            if size == self._nodes.size:
                self._root_cache = (size, root)
            return root

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); raises ProofError outside the tree."""
        with self._lock:
            return self._nodes.subtree_hash(start, end)

    def leaf_hashes(self, start: int, end: int) -> bytes:
        """Stored leaf hashes of indexes start <= i < end, concatenated (32 bytes each)."""
        with self._lock:
            return self._nodes.leaf_hashes(start, end)

    def frontier(self, size: int) -> list[bytes]:
        """The compact range (peaks) of the prefix of this size; raises ProofError beyond it."""
        with self._lock:
            return self._nodes.frontier(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1); raises ProofError when out of range."""
        with self._lock:
            size = self._nodes.size if size is None else size
            if size > self._nodes.size:
                raise ProofError("tree size beyond the log", reason="bad_proof_request")
            return inclusion_proof(self._nodes, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1); raises ProofError when out of range."""
        with self._lock:
            new_size = self._nodes.size if new_size is None else new_size
            if new_size > self._nodes.size:
                raise ProofError("tree size beyond the log", reason="bad_proof_request")
            return consistency_proof(self._nodes, old_size, new_size)

    # -- appending ------------------------------------------------------------------

    def on_commit(self, first_seq: int, datas: Sequence[bytes]) -> None:
        """The ``SqliteAuditLog(on_commit=...)`` hook: add committed entries, store their hashes."""
        with self._lock:
            if self._closed:
                raise AuditUnavailable("audit tree is closed", reason="audit_closed")
            if first_seq != self._nodes.size + 1:
                self._catch_up()  # a hook call was lost: read what we missed from the log
                skip = self._nodes.size + 1 - first_seq
                if skip < 0 or skip > len(datas):
                    raise TamperDetected("audit log and tree disagree on the next seq",
                                         seq=first_seq, reason="seq_gap")
                # Seqs the tree already holds: the catch-up read these very rows, or rows
                # were deleted under the log and their numbers handed out again. Only the
                # first is harmless, so the entries must be the ones the tree has.
                held = self._nodes.leaf_hashes(first_seq - 1, first_seq - 1 + skip)
                given = b"".join(_sha256(LEAF_PREFIX + d).digest() for d in datas[:skip])
                if held != given:
                    raise TamperDetected("audit log hands out seqs the tree already holds "
                                         "for other entries", seq=first_seq,
                                         reason="seq_reused")
                datas = datas[skip:]
            self._nodes.extend(_sha256(LEAF_PREFIX + d).digest() for d in datas)
            self._root_cache = (0, EMPTY_ROOT)
            self._persist()

    def close(self) -> None:
        """Store any leaf hashes not yet written and close the file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._persist()
            finally:
                self._conn.close()

    def __enter__(self) -> AuditTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _persist(self) -> None:
        """Write leaf hashes [persisted, size) to audit_leaves; a failure is retried next time."""
        start, end = self._persisted, self._nodes.size
        if start == end:
            return
        blob = self._nodes.leaf_hashes(start, end)
        rows = ((start + i, blob[i * HASH_SIZE:(i + 1) * HASH_SIZE]) for i in range(end - start))
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT INTO audit_leaves (idx, hash) VALUES (?, ?)", rows)
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            if self._conn.in_transaction:
                self._conn.rollback()
            logger.exception("audit leaf hashes %d..%d not stored yet (will retry)", start, end)
            return
        self._persisted = end

    def _log_exists(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").fetchone()
        return row is not None

    def _load(self, self_check: bool) -> None:
        """Read stored leaf hashes and the log rows side by side, comparing when asked."""
        conn, nodes = self._conn, self._nodes
        conn.execute("BEGIN")  # one read snapshot for both tables
        try:
            leaves = conn.execute("SELECT idx, hash FROM audit_leaves ORDER BY idx")
            rows = (conn.execute("SELECT seq, entry FROM audit_log ORDER BY seq")
                    if self._log_exists() else None)
            stored = 0
            while batch := leaves.fetchmany(_CHUNK):
                # idx is the primary key, so first and last in place means all in place.
                if batch[0][0] != stored or batch[-1][0] != stored + len(batch) - 1:
                    raise TamperDetected("stored leaf hashes are not numbered 0, 1, 2 ...",
                                         seq=stored + 1, reason="leaves_damaged")
                hashes = [h for _, h in batch]
                if self_check and rows is not None:
                    self._compare(stored, hashes, rows.fetchmany(len(hashes)))
                try:
                    nodes.extend(hashes)
                except (ProofError, TypeError):
                    raise TamperDetected("stored leaf hashes are damaged", seq=stored + 1,
                                         reason="leaves_damaged") from None
                stored += len(hashes)
            self._persisted = stored
            if self_check and rows is None and stored:
                raise TamperDetected("audit log table is missing", seq=1,
                                     reason="entries_missing")
            # Forensics reads the stored hashes only: rows beyond them are not appended.
            tail = rows.fetchall() if rows is not None and self_check else []
        finally:
            conn.execute("COMMIT")
        # Rows without a stored hash: a crash between the log's commit and ours, or a first
        # start on an older log. They are hashed now (checked by anchors, not by leaves).
        self._append_rows(tail)
        self._persist()

    def _compare(self, start: int, stored: list[bytes], rows: list[tuple[int, bytes]]) -> None:
        """Raise TamperDetected at the first row that is missing, misnumbered or differs."""
        recomputed = [_sha256(LEAF_PREFIX + (e if type(e) is bytes else _blob(e))).digest()
                      for _, e in rows]
        seqs_ok = bool(rows) and rows[0][0] == start + 1 and rows[-1][0] == start + len(rows)
        if len(rows) == len(stored) and seqs_ok and recomputed == stored:
            return
        for i, h in enumerate(stored):
            seq = start + i + 1
            if i >= len(rows):
                raise TamperDetected("audit log has fewer entries than were committed",
                                     seq=seq, reason="entries_missing")
            if rows[i][0] != seq:
                raise TamperDetected("audit log seqs are not consecutive", seq=seq,
                                     reason="seq_gap")
            if recomputed[i] != h:
                raise TamperDetected("audit entry differs from what was committed", seq=seq,
                                     reason="entry_changed")

    def _append_rows(self, rows: Sequence[tuple[int, bytes]]) -> None:
        expected = self._nodes.size + 1
        for i, (seq, _) in enumerate(rows):
            if seq != expected + i:
                raise TamperDetected("audit log seqs are not consecutive", seq=expected + i,
                                     reason="seq_gap")
        self._nodes.extend(_sha256(LEAF_PREFIX + _blob(e)).digest() for _, e in rows)

    def _catch_up(self) -> None:
        """Append log rows the tree has not seen (after a lost hook call)."""
        rows = self._conn.execute("SELECT seq, entry FROM audit_log WHERE seq > ? ORDER BY seq",
                                  (self._nodes.size,)).fetchall()
        self._append_rows(rows)

    def _check_anchors(self, anchors: list[tuple[int, bytes]]) -> None:
        """Compare the root at each anchor size; localise the first failure to an interval."""
        good = 0
        for size, expected in anchors:
            if size > self._nodes.size:
                raise TamperDetected(
                    f"audit log has {self._nodes.size} entries, a signed checkpoint has {size}",
                    seq=self._nodes.size + 1, first_seq=good + 1, last_seq=size,
                    reason="checkpoint_beyond_log")
            if self._nodes.subtree_hash(0, size) != expected:
                raise TamperDetected(
                    f"audit log does not match the signed checkpoint of size {size}",
                    first_seq=good + 1, last_seq=size, reason="checkpoint_mismatch",
                    detail=f"anchor_size={size}")
            good = size


def _blob(value: object) -> bytes:
    """A column value as bytes (entries are BLOBs; a tampered row may hold anything)."""
    if type(value) is bytes:
        return value
    return str(value).encode("utf-8", "surrogatepass")
