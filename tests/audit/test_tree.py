"""AuditTree on real SQLite audit files: follows the log, answers proofs, refuses tampering."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import nacl.signing
import pytest

from gateway.audit.checkpoint import sign_checkpoint
from gateway.audit.checkpointer import (
    AuditEvidence,
    Checkpointer,
    CheckpointStore,
    open_verified_tree,
)
from gateway.audit.log import SqliteAuditLog
from gateway.audit.merkle import (
    ProofError,
    leaf_hash,
    mth,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.tree import AuditTree, TamperDetected
from gateway.errors import AuditUnavailable, CredgateError
from tests.audit.tamper import (
    LOG_KEY,
    LOG_PUB,
    TAMPERINGS,
    attacker,
    build_log,
    change_entry,
    gateway_log,
    make_entry,
    truncate_log,
)
from tests.threads import run_together


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


def _expected_leaves(path: Path) -> list[bytes]:
    with sqlite3.connect(path) as conn:
        return [leaf_hash(e) for (e,) in conn.execute("SELECT entry FROM audit_log ORDER BY seq")]


def test_tree_follows_the_log_and_answers_proofs(path: Path) -> None:
    with gateway_log(path) as (log, evidence):
        for k in range(5):
            log.append_many(make_entry(10 * k + i) for i in range(k + 3))
        log.append(make_entry(99))
        tree = evidence.tree
        leaves = _expected_leaves(path)
        assert tree.size() == log.size() == len(leaves) == 26
        assert tree.root() == mth(leaves)
        for size in range(1, 27):
            assert tree.root(size) == mth(leaves[:size])
            for index in range(size):
                verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size),
                                 tree.root(size))
            verify_consistency(size, 26, tree.root(size), tree.root(), tree.consistency_proof(size))
        assert tree.leaf_hashes(3, 5) == leaves[3] + leaves[4]


def test_tree_keeps_up_with_concurrent_appends(path: Path) -> None:
    with gateway_log(path) as (log, evidence):
        def caller(i: int) -> None:
            for k in range(40):
                log.append(make_entry(1000 * i + k))

        run_together(caller, [(i,) for i in range(8)])
        assert log.on_commit_errors == 0
        assert evidence.tree.size() == 320
        assert evidence.tree.root() == mth(_expected_leaves(path))


def test_leaf_hashes_are_stored_and_reloaded(path: Path) -> None:
    build_log(path, [7, 19])
    with sqlite3.connect(path) as conn:
        stored = [h for (h,) in conn.execute("SELECT hash FROM audit_leaves ORDER BY idx")]
    assert stored == _expected_leaves(path)
    with AuditTree.open(path) as tree:
        assert tree.size() == 19
        assert tree.root() == mth(stored)


def test_a_log_written_without_the_tree_is_caught_up_at_open(path: Path) -> None:
    with SqliteAuditLog(path) as log:
        log.append_many(make_entry(n) for n in range(9))
    with AuditTree.open(path) as tree:
        assert tree.size() == 9
        assert tree.root() == mth(_expected_leaves(path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_leaves").fetchone()[0] == 9


def test_a_lost_hook_call_is_recovered_from_the_log(path: Path) -> None:
    tree = AuditTree.open(path)
    with SqliteAuditLog(path) as log:  # commits the tree never hears about
        log.append_many(make_entry(n) for n in range(3))
        seq = log.append(make_entry(3))
    tree.on_commit(seq, [make_entry(3).canonical_bytes()])
    assert tree.size() == 4
    assert tree.root() == mth(_expected_leaves(path))
    tree.close()


def test_proofs_beyond_the_tree_are_refused(path: Path) -> None:
    build_log(path, [5])
    with AuditTree.open(path) as tree:
        for call in (lambda: tree.root(6), lambda: tree.inclusion_proof(5, 5),
                     lambda: tree.inclusion_proof(0, 6), lambda: tree.consistency_proof(2, 6),
                     lambda: tree.frontier(6)):
            with pytest.raises(ProofError):
                call()


def test_empty_log_opens(path: Path) -> None:
    with AuditTree.open(path) as tree:
        assert tree.size() == 0
        assert tree.root() == hashlib.sha256(b"").digest()


# -- the start-up self-check ---------------------------------------------------------------


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_self_check_names_the_first_tampered_seq(path: Path, tampering: str) -> None:
    build_log(path, [12, 20])
    tamper, first_bad = TAMPERINGS[tampering]
    with attacker(path) as conn:
        tamper(conn)
    with pytest.raises(TamperDetected) as caught:
        AuditTree.open(path)
    assert caught.value.seq == first_bad
    assert isinstance(caught.value, CredgateError) and caught.value.status == "DATA_LOSS"
    with pytest.raises(TamperDetected):
        AuditEvidence.open(path, LOG_KEY, interval=None)


def test_rewritten_leaf_hashes_are_caught_by_the_signed_checkpoint(path: Path) -> None:
    build_log(path, [4, 12, 20])
    with attacker(path) as conn:  # a careful attacker also fixes the stored leaf hash
        change_entry(conn, 7)
        forged = conn.execute("SELECT entry FROM audit_log WHERE seq = 7").fetchone()[0]
        conn.execute("UPDATE audit_leaves SET hash = ? WHERE idx = 6", (leaf_hash(forged),))
    AuditTree.open(path).close()  # the leaf comparison alone is fooled
    with pytest.raises(TamperDetected) as caught:
        open_verified_tree(path, LOG_PUB)
    assert caught.value.reason == "checkpoint_mismatch"
    assert (caught.value.first_seq, caught.value.last_seq) == (5, 12)  # between checkpoints


def test_log_and_leaves_truncated_together_are_caught_by_the_signed_checkpoint(path: Path) -> None:
    build_log(path, [12, 20])
    with attacker(path) as conn:
        truncate_log(conn, 15)
        conn.execute("DELETE FROM audit_leaves WHERE idx >= 15")
    with pytest.raises(TamperDetected) as caught:
        open_verified_tree(path, LOG_PUB)
    assert caught.value.reason == "checkpoint_beyond_log"
    assert caught.value.seq == 16


def test_a_forged_newest_checkpoint_is_refused(path: Path) -> None:
    build_log(path, [12])
    other = nacl.signing.SigningKey.generate()
    with gateway_log(path) as (log, evidence):
        log.append(make_entry(50))
        tree = evidence.tree
        note = sign_checkpoint("credgate.example/audit-log", tree.size(), tree.root(), None,
                               other)
        evidence.store.append(note)
    with pytest.raises(TamperDetected) as caught:
        open_verified_tree(path, LOG_PUB)
    assert caught.value.reason == "checkpoint_signature"


def test_an_older_forged_checkpoint_that_disagrees_is_named(path: Path) -> None:
    build_log(path, [12, 20])
    other = nacl.signing.SigningKey.generate()
    forged = sign_checkpoint("credgate.example/audit-log", 12, b"\x01" * 32, None, other)
    with attacker(path) as conn:
        conn.execute("DROP TRIGGER audit_checkpoints_no_update")
        conn.execute("UPDATE audit_checkpoints SET note = ? WHERE id = 1", (forged,))
    with pytest.raises(TamperDetected) as caught:
        open_verified_tree(path, LOG_PUB)
    assert caught.value.reason == "checkpoint_signature"
    assert caught.value.last_seq == 12


def test_rows_deleted_under_a_running_log_stop_it(path: Path) -> None:
    # Delete the newest row while the gateway runs: SQLite hands its seq out again. The
    # caller must not be told its entry is safe, and the log must take no more entries.
    with gateway_log(path) as (log, evidence):
        log.append_many(make_entry(n) for n in range(10))
        with attacker(path) as conn:
            conn.execute("DELETE FROM audit_log WHERE seq = 10")
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(99))
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(100))
        assert evidence.tree.size() == 10  # the tree kept what was signed for


def test_a_row_planted_beyond_a_running_log_stops_it(path: Path) -> None:
    with gateway_log(path) as (log, evidence):
        log.append_many(make_entry(n) for n in range(10))
        with attacker(path) as conn:
            conn.execute("INSERT INTO audit_log (seq, entry) VALUES (15, ?)",
                         (make_entry(77).canonical_bytes(),))
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(100))
        with pytest.raises(AuditUnavailable):
            log.append(make_entry(101))
        assert evidence.tree.size() == 10


def test_the_checkpointer_stops_signing_on_a_tampered_log(path: Path) -> None:
    class TamperedTree:
        def size(self) -> int:
            raise TamperDetected("the log does not match", reason="seq_reused")

    store = CheckpointStore(path)
    checkpointer = Checkpointer(tree=TamperedTree(), store=store,  # type: ignore[arg-type]
                                signing_key=LOG_KEY, interval=0.01)
    try:
        checkpointer.start()
        thread = checkpointer._thread
        assert thread is not None
        thread.join(timeout=5)
        assert not thread.is_alive() and checkpointer.failures == 1  # it stopped for good
        assert store.latest() is None
    finally:
        checkpointer.stop(final=False)
        store.close()


def test_a_new_log_is_signed_before_its_first_entry(path: Path) -> None:
    with gateway_log(path) as (_log, evidence):
        latest = evidence.store.latest()
        assert latest is not None and latest.size == 0


def test_a_log_whose_checkpoints_were_all_removed_is_refused(path: Path) -> None:
    build_log(path, [4, 8])
    with attacker(path) as conn:
        change_entry(conn, 3)  # rewrite an entry and its stored hash, then drop the anchors
        forged = conn.execute("SELECT entry FROM audit_log WHERE seq = 3").fetchone()[0]
        conn.execute("UPDATE audit_leaves SET hash = ? WHERE idx = 2", (leaf_hash(forged),))
        conn.execute("DROP TRIGGER audit_checkpoints_no_delete")
        conn.execute("DELETE FROM audit_checkpoints")
    with pytest.raises(TamperDetected) as info:
        open_verified_tree(path, LOG_PUB)
    assert info.value.reason == "checkpoint_missing"
