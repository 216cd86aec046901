"""The RFC 6962 / RFC 9162 Merkle tree: hashes, proofs and their verification.

Names follow RFC 9162 §2.1 (which restates RFC 6962 §2.1 unchanged for SHA-256):

* ``MTH({}) = HASH()``, ``MTH({d0}) = HASH(0x00 || d0)`` (the *leaf hash*), and for
  n > 1 with ``k`` the largest power of two smaller than n,
  ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` (the *node hash*), §2.1.1.
* ``PATH(m, D[n])`` is the inclusion proof (§2.1.3.1), ``PROOF(m, D[n])`` the
  consistency proof (§2.1.4.1); both list hashes from the bottom of the tree up.
* Verification follows §2.1.3.2 and §2.1.4.2 step by step; failures raise
  ``ProofError``.

Proof generation reads subtree hashes from a ``SubtreeHashes`` source (``AuditTree``
caches every perfect subtree) or, for tests and small trees, from a plain list of leaf
hashes. ``CompactRange`` is the stack of perfect subtree roots ("peaks") of a tree
prefix: appending n leaves costs O(n) hashes in total and the root of the current size
is a fold of at most log2(n) peaks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.errors import CredgateError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1: leaf hashes are domain-separated from nodes
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH of the empty list, §2.1.1

_sha256 = hashlib.sha256


class ProofError(CredgateError):
    """A Merkle proof or root does not verify (or cannot be produced for these sizes)."""

    status = "DATA_LOSS"


class SubtreeHashes(Protocol):
    """Anything that knows MTH(D[start:end]) of its leaves."""

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH of the leaves with index start <= i < end."""
        ...


def leaf_hash(entry: bytes) -> bytes:
    """The leaf hash HASH(0x00 || entry) of RFC 9162 §2.1.1."""
    return _sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior node hash HASH(0x01 || left || right) of RFC 9162 §2.1.1."""
    return _sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), where MTH splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes, by the recursive definition of RFC 9162 §2.1.1."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


class _LeafList:
    """``SubtreeHashes`` over an in-memory list of leaf hashes (O(end - start) per call)."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = leaf_hashes

    def subtree_hash(self, start: int, end: int) -> bytes:
        return mth(self._leaves[start:end])


def _source(source: SubtreeHashes | Sequence[bytes]) -> SubtreeHashes:
    return source if hasattr(source, "subtree_hash") else _LeafList(source)


def inclusion_proof(source: SubtreeHashes | Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1; raises ProofError unless 0 <= index < size."""
    if not 0 <= index < size:
        raise ProofError("inclusion proof needs 0 <= index < size", reason="bad_proof_request")
    src = _source(source)
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:  # walk down from the root, collecting the sibling of each step
        k = split_point(hi - lo)
        if m < k:
            path.append(src.subtree_hash(lo + k, hi))
            hi = lo + k
        else:
            path.append(src.subtree_hash(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()  # the RFC lists the path from the leaf up
    return path


def consistency_proof(source: SubtreeHashes | Sequence[bytes], m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1; empty when m == n or m == 0; raises ProofError."""
    if not 0 <= m <= n:
        raise ProofError("consistency proof needs 0 <= m <= n", reason="bad_proof_request")
    if m == 0 or m == n:
        return []
    src = _source(source)
    proof: list[bytes] = []
    lo, hi, b = 0, n, True  # SUBPROOF(m, D[lo:hi], b), unrolled
    while True:
        if m == hi - lo:
            if not b:
                proof.append(src.subtree_hash(lo, hi))
            break
        k = split_point(hi - lo)
        if m <= k:
            proof.append(src.subtree_hash(lo + k, hi))
            hi = lo + k
        else:
            proof.append(src.subtree_hash(lo, lo + k))
            lo, m, b = lo + k, m - k, False
    proof.reverse()
    return proof


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError("proof contains a value that is not a SHA-256 hash",
                             reason="bad_hash_size")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof by RFC 9162 §2.1.3.2; raises ProofError when it fails."""
    _check_hashes(leaf, root, *proof)
    # 1. leaf_index must be smaller than tree_size.
    if not 0 <= index < size:
        raise ProofError("leaf index is outside the tree", reason="index_out_of_range")
    # 2. fn = leaf_index, sn = tree_size - 1.   3. r = hash.
    fn, sn, r = index, size - 1, bytes(leaf)
    # 4. Fold in each value p of the path.
    for p in proof:
        if sn == 0:  # 4a. the path is longer than the tree is deep
            raise ProofError("inclusion proof is too long", reason="proof_too_long")
        if fn & 1 or fn == sn:  # 4b.
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c.
        sn >>= 1
    # 5. sn must be 0 and r the root.
    if sn != 0:
        raise ProofError("inclusion proof is too short", reason="proof_too_short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root", reason="root_mismatch")


def verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof by RFC 9162 §2.1.4.2; raises ProofError when it fails."""
    _check_hashes(old_root, new_root, *proof)
    if not 0 <= m <= n:
        raise ProofError("consistency needs 0 <= old size <= new size", reason="size_order")
    if m == 0 or m == n:
        # Outside the RFC's 0 < m < n: nothing to prove, but the roots must be right.
        if proof:
            raise ProofError("consistency proof must be empty here", reason="proof_too_long")
        if (m == 0 and old_root != EMPTY_ROOT) or (m == n and old_root != new_root):
            raise ProofError("tree heads of these sizes must agree", reason="root_mismatch")
        return
    # 1. An empty path fails.
    if not proof:
        raise ProofError("consistency proof is empty", reason="proof_too_short")
    # 2. If first is an exact power of 2, prepend first_hash.
    path = [bytes(old_root), *proof] if m & (m - 1) == 0 else list(proof)
    # 3. fn = first - 1, sn = second - 1.   4. Shift while LSB(fn) is set.
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. Fold in each subsequent value c.
    for c in path[1:]:
        if sn == 0:  # 6a.
            raise ProofError("consistency proof is too long", reason="proof_too_long")
        if fn & 1 or fn == sn:  # 6b.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c.
        sn >>= 1
    # 7. fr must be first_hash, sr second_hash and sn 0.
    if sn != 0:
        raise ProofError("consistency proof is too short", reason="proof_too_short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root",
                         reason="old_root_mismatch")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root",
                         reason="new_root_mismatch")


class CompactRange:
    """The peaks (perfect subtree roots, left to right) of a tree prefix; appends are O(1)."""

    __slots__ = ("_peaks", "_size")

    def __init__(self, size: int = 0, peaks: Iterable[bytes] = ()) -> None:
        self._size = size
        self._peaks = [bytes(p) for p in peaks]
        if size < 0 or len(self._peaks) != size.bit_count():
            raise ProofError("a compact range of size n has popcount(n) peaks",
                             reason="bad_compact_range")
        _check_hashes(*self._peaks)

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> list[bytes]:
        """The perfect subtree roots, largest (leftmost) first."""
        return list(self._peaks)

    def copy(self) -> CompactRange:
        """An independent copy of this range."""
        return CompactRange(self._size, self._peaks)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash, merging equal-sized peaks."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order."""
        peaks, size, sha = self._peaks, self._size, _sha256
        pop, push = peaks.pop, peaks.append
        for h in leaves:
            s = size
            while s & 1:  # the new leaf completes a pair at this height: merge upwards
                h = sha(NODE_PREFIX + pop() + h).digest()
                s >>= 1
            push(h)
            size += 1
        self._size = size

    def extend_entries(self, entries: Iterable[bytes]) -> None:
        """Hash entries as leaves (0x00 || entry) and append them; the verifier's hot loop."""
        peaks, size, sha = self._peaks, self._size, _sha256
        pop, push = peaks.pop, peaks.append
        for entry in entries:
            h = sha(LEAF_PREFIX + entry).digest()
            s = size
            while s & 1:
                h = sha(NODE_PREFIX + pop() + h).digest()
                s >>= 1
            push(h)
            size += 1
        self._size = size

    def root(self) -> bytes:
        """MTH of the leaves so far: the peaks folded right to left (§2.1.1 split rule)."""
        peaks = self._peaks
        if not peaks:
            return EMPTY_ROOT
        r = peaks[-1]
        for p in reversed(peaks[:-1]):
            r = node_hash(p, r)
        return r
