"""RFC 6962 / RFC 9162 Merkle tree: reference vectors, proofs, and properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    mth,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.tree import PerfectNodes
from gateway.errors import CredgateError

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "merkle" / "rfc6962.json").read_text())
ENTRIES = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]
LEAVES = [leaf_hash(e) for e in ENTRIES]
ROOTS = {int(n): bytes.fromhex(r) for n, r in VECTORS["roots"].items()}
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# -- reference vectors ---------------------------------------------------------------


def test_hasher_vectors() -> None:
    h = VECTORS["hasher"]
    assert EMPTY_ROOT.hex() == h["empty_root"] == mth([]).hex()
    assert leaf_hash(b"").hex() == h["empty_leaf_hash"]
    assert leaf_hash(bytes.fromhex(h["leaf"]["input_hex"])).hex() == h["leaf"]["hash"]
    node = h["node"]
    assert node_hash(bytes.fromhex(node["left_hex"]),
                     bytes.fromhex(node["right_hex"])).hex() == node["hash"]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_every_prefix_matches_the_reference(size: int) -> None:
    assert mth(LEAVES[:size]) == ROOTS[size]
    compact = CompactRange()
    compact.extend_entries(ENTRIES[:size])
    assert compact.root() == ROOTS[size]
    nodes = PerfectNodes()
    nodes.extend(LEAVES)
    assert nodes.subtree_hash(0, size) == ROOTS[size]


def _inclusion_id(v: dict) -> str:
    return f"{v['index']}-of-{v['size']}"


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=_inclusion_id)
def test_inclusion_vectors(vector: dict) -> None:
    index, size, expected = vector["index"], vector["size"], _hashes(vector["proof"])
    assert inclusion_proof(LEAVES, index, size) == expected
    verify_inclusion(LEAVES[index], index, size, expected, ROOTS[size])


@pytest.mark.parametrize("vector", VECTORS["consistency"],
                         ids=lambda v: f"{v['size1']}-to-{v['size2']}")
def test_consistency_vectors(vector: dict) -> None:
    m, n, expected = vector["size1"], vector["size2"], _hashes(vector["proof"])
    assert consistency_proof(LEAVES, m, n) == expected
    verify_consistency(m, n, ROOTS[m], ROOTS[n], expected)


# -- corrupted proofs, named after what they break (the probes of the CT test suites) --


def _inclusion_probes(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):
    yield "leaf-index-minus-1", (leaf, index - 1, size, proof, root)
    yield "leaf-index-plus-1", (leaf, index + 1, size, proof, root)
    yield "leaf-index-xor-2", (leaf, index ^ 2, size, proof, root)
    yield "tree-size-doubled", (leaf, index, size * 2, proof, root)
    yield "tree-size-halved", (leaf, index, size // 2, proof, root)
    yield "wrong-leaf", (SOME_HASH, index, size, proof, root)
    yield "empty-tree-root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "random-root", (leaf, index, size, proof, SOME_HASH)
    yield "trailing-root", (leaf, index, size, [*proof, root], root)
    yield "preceding-root", (leaf, index, size, [root, *proof], root)
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield f"proof-{i}-bit-flipped", (leaf, index, size, flipped, root)
    if proof:
        yield "component-removed", (leaf, index, size, proof[:-1], root)
    if len(proof) > 1:
        yield "component-inserted", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root)


@pytest.mark.parametrize("vector", VECTORS["inclusion"][1:], ids=_inclusion_id)
def test_corrupted_inclusion_proofs_fail(vector: dict) -> None:
    index, size = vector["index"], vector["size"]
    probes = _inclusion_probes(index, size, _hashes(vector["proof"]), ROOTS[size], LEAVES[index])
    for name, args in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
            pytest.fail(f"{name} verified")


def _consistency_probes(m: int, n: int, r1: bytes, r2: bytes, proof: list[bytes]):
    yield "size1-minus-1", (m - 1, n, r1, r2, proof)
    yield "size1-plus-1", (m + 1, n, r1, r2, proof)
    yield "size1-xor-2", (m ^ 2, n, r1, r2, proof)
    yield "size2-doubled", (m, n * 2, r1, r2, proof)
    yield "size2-halved", (m, n // 2, r1, r2, proof)
    yield "wrong-root1", (m, n, SOME_HASH, r2, proof)
    yield "wrong-root2", (m, n, r1, SOME_HASH, proof)
    yield "swapped-roots", (m, n, r2, r1, proof)
    yield "empty-proof", (m, n, r1, r2, [])
    yield "trailing-root1", (m, n, r1, r2, [*proof, r1])
    yield "trailing-root2", (m, n, r1, r2, [*proof, r2])
    yield "preceding-root1", (m, n, r1, r2, [r1, *proof])
    yield "preceding-root2", (m, n, r1, r2, [r2, *proof])
    yield "preceding-proof-0", (m, n, r1, r2, [proof[0], *proof])
    yield "truncated-proof", (m, n, r1, r2, proof[:-1])
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        yield f"proof-{i}-bit-flipped", (m, n, r1, r2, flipped)


@pytest.mark.parametrize("vector", [v for v in VECTORS["consistency"] if v["proof"]],
                         ids=lambda v: f"{v['size1']}-to-{v['size2']}")
def test_corrupted_consistency_proofs_fail(vector: dict) -> None:
    m, n = vector["size1"], vector["size2"]
    for name, args in _consistency_probes(m, n, ROOTS[m], ROOTS[n], _hashes(vector["proof"])):
        with pytest.raises(ProofError):
            verify_consistency(*args)
            pytest.fail(f"{name} verified")


def test_trivial_consistency_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(4, 4, ROOTS[4], ROOTS[4], [])
    for args in [(4, 4, ROOTS[4], ROOTS[5], []), (4, 4, ROOTS[4], ROOTS[4], [SOME_HASH]),
                 (0, 3, SOME_HASH, ROOTS[3], []), (5, 4, ROOTS[5], ROOTS[4], []),
                 (1, 2, ROOTS[1], ROOTS[2], [])]:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_inclusion_out_of_range_and_bad_hash_sizes_fail() -> None:
    for index, size in [(0, 0), (1, 1), (2, 1), (-1, 3)]:
        with pytest.raises(ProofError):
            verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)
        with pytest.raises(ProofError):
            inclusion_proof(LEAVES, index, size)
    with pytest.raises(ProofError):
        verify_inclusion(b"short", 0, 1, [], b"short")
    with pytest.raises(ProofError):
        consistency_proof(LEAVES, 5, 4)


def test_proof_error_is_a_credgate_error() -> None:
    assert issubclass(ProofError, CredgateError)


# -- properties -------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=sizes)
def test_every_inclusion_proof_verifies(data: st.DataObject, size: int) -> None:
    leaves = _leaves(size)
    nodes = PerfectNodes()
    nodes.extend(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(nodes, index, size)
    assert proof == inclusion_proof(leaves, index, size)
    verify_inclusion(leaves[index], index, size, proof, mth(leaves))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=sizes)
def test_every_consistency_proof_verifies(data: st.DataObject, n: int) -> None:
    leaves = _leaves(n)
    nodes = PerfectNodes()
    nodes.extend(leaves)
    m = data.draw(st.integers(0, n))
    proof = consistency_proof(nodes, m, n)
    assert proof == consistency_proof(leaves, m, n)
    verify_consistency(m, n, mth(leaves[:m]), mth(leaves), proof)


def _flip(value: bytes, at: int, bit: int) -> bytes:
    return value[:at] + bytes([value[at] ^ (1 << bit)]) + value[at + 1:]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(2, 200))
def test_flipping_any_bit_of_an_inclusion_proof_root_or_leaf_fails(data: st.DataObject,
                                                                    size: int) -> None:
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof, root = inclusion_proof(leaves, index, size), mth(leaves)
    target = data.draw(st.sampled_from(["leaf", "root", *[f"p{i}" for i in range(len(proof))]]))
    at, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
    leaf = leaves[index]
    if target == "leaf":
        leaf = _flip(leaf, at, bit)
    elif target == "root":
        root = _flip(root, at, bit)
    else:
        i = int(target[1:])
        proof = [*proof[:i], _flip(proof[i], at, bit), *proof[i + 1:]]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(3, 200))
def test_flipping_any_bit_of_a_consistency_proof_or_root_fails(data: st.DataObject,
                                                               n: int) -> None:
    leaves = _leaves(n)
    m = data.draw(st.integers(1, n - 1))
    proof, r1, r2 = consistency_proof(leaves, m, n), mth(leaves[:m]), mth(leaves)
    target = data.draw(st.sampled_from(["old", "new", *[f"p{i}" for i in range(len(proof))]]))
    at, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
    if target == "old":
        r1 = _flip(r1, at, bit)
    elif target == "new":
        r2 = _flip(r2, at, bit)
    else:
        i = int(target[1:])
        proof = [*proof[:i], _flip(proof[i], at, bit), *proof[i + 1:]]
    with pytest.raises(ProofError):
        verify_consistency(m, n, r1, r2, proof)


@settings(max_examples=100, deadline=None)
@given(chunks=st.lists(st.integers(0, 40), max_size=8))
def test_compact_range_and_perfect_nodes_agree_with_mth_whatever_the_batching(
        chunks: list[int]) -> None:
    compact, nodes, leaves = CompactRange(), PerfectNodes(), []
    for k in chunks:
        batch = _leaves(len(leaves) + k)[len(leaves):]
        compact.extend(batch)
        nodes.extend(batch)
        leaves += batch
        assert compact.root() == mth(leaves) == nodes.subtree_hash(0, len(leaves))
    resumed = CompactRange(len(leaves), nodes.frontier(len(leaves)))
    assert resumed.root() == compact.root()
    for size in range(len(leaves) + 1):
        assert nodes.subtree_hash(0, size) == mth(leaves[:size])


def test_compact_range_refuses_a_frontier_of_the_wrong_shape() -> None:
    with pytest.raises(ProofError):
        CompactRange(3, [SOME_HASH])
    with pytest.raises(ProofError):
        CompactRange(1, [b"short"])
