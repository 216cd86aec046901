"""Policy versions in the shared store (both back ends), and an instance following them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.crypto.keyring import load_keyring
from gateway.errors import FailedPrecondition, InvalidArgument
from gateway.policy.rollout import (
    FOLLOW_EVERY,
    PolicyRollout,
    PolicyState,
    bundle_hash,
    load_state,
    read_bundle,
    snapshot_bundle,
)
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import RecordStore
from tests.records import test_store_contract as contract
from tests.records.test_store_contract import reopen
from tests.support import KEYS, NOW, POLICIES

store = contract.store

AT = "2026-11-28T09:00:00Z"


def propose(store: RecordStore, bundle: str, status: str, over: str = "") -> int:
    return store.add_policy_version(
        version=f"v-{bundle}", bundle_hash=bundle, author="security_officer", proposed_at=AT,
        status=status, over_bundle=over, decided_at=AT if status == "active" else "").id


def test_versions_proposals_and_the_head(store: RecordStore) -> None:
    assert store.policy_head() == (0, "")
    store.put_policy_bundle("b1", {"policy.csv": b"\x00p, a\n", "tests/x.toml": b""})
    store.put_policy_bundle("b1", {"policy.csv": b"ignored: kept once"})
    assert store.policy_bundle("b1") == {"policy.csv": b"\x00p, a\n", "tests/x.toml": b""}
    assert store.policy_bundle("b-none") is None
    first = propose(store, "b1", "active")
    assert store.policy_head() == (first, "b1")
    pending = propose(store, "b2", "pending", over="b1")
    assert store.policy_head() == (first, "b1")  # nothing changes before the approval
    with pytest.raises(FailedPrecondition) as info:
        propose(store, "b3", "active", over="b-other")  # diffed over what is not live
    assert info.value.reason == "stale_proposal"
    other = reopen(store)  # another instance approves it
    try:
        approved = other.activate_policy_version(pending, approver="security_officer_b",
                                                 at=AT, over_bundle="b1")
        assert (approved.status, approved.approver) == ("active", "security_officer_b")
    finally:
        other.close()
    assert store.policy_head() == (pending, "b2")
    listed = store.policy_versions()
    assert [(v.id, v.status) for v in listed] == [(pending, "active"), (first, "superseded")]
    with pytest.raises(FailedPrecondition):
        store.activate_policy_version(pending, approver="x", at=AT, over_bundle="b2")
    with pytest.raises(InvalidArgument):
        store.activate_policy_version(999, approver="x", at=AT, over_bundle="b2")


def test_an_approval_over_a_policy_no_longer_live_is_refused(store: RecordStore) -> None:
    propose(store, "b1", "active")
    pending = propose(store, "b2", "pending", over="b1")
    propose(store, "b3", "active", over="b1")
    with pytest.raises(FailedPrecondition) as info:
        store.activate_policy_version(pending, approver="y", at=AT, over_bundle="b1")
    assert info.value.reason == "stale_proposal"
    assert store.policy_head()[1] == "b3"


def test_a_change_wakes_the_other_instances(store: RecordStore) -> None:
    propose(store, "b1", "active")
    woke: list[bool] = []
    other = reopen(store)
    stop = threading.Event()
    # SQLite: a poll of half a second. PostgreSQL: a wait far longer than the join below,
    # so a waiter that returned before `stop` was woken by the notice, not by its timeout.
    timeout = 0.5 if isinstance(store, SqliteStore) else 600.0

    def wait() -> None:
        other.wait_for_policy_change(timeout, stop)
        woke.append(not stop.is_set())

    try:
        other.wait_for_policy_change(0.05, stop)  # (PostgreSQL: now listening)
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.1)
        propose(store, "b2", "active", over="b1")
        waiter.join(timeout=60)  # only guards against a hang
        returned = not waiter.is_alive()
    finally:
        stop.set()
        other.close()
    assert returned and woke == [True]


def test_a_rollout_elsewhere_is_in_force_here_within_a_second(tmp_path: Path) -> None:
    # Two instances on one SQLite file (serve --workers): the other's rollout is polled.
    here = SqliteStore(tmp_path / "records.db")
    elsewhere = SqliteStore(tmp_path / "records.db")
    versions = tmp_path / "versions"
    keyring = load_keyring(KEYS)
    live = [load_state(snapshot_bundle(versions, POLICIES), keyring)]
    applied = threading.Event()

    def apply(state: PolicyState) -> None:
        live.append(state)
        applied.set()

    rollout = PolicyRollout(store=here, versions_dir=versions, clock=FixedClock(NOW),
                            two_person=False, current=lambda: live[-1], apply=apply,
                            load=lambda directory: load_state(directory, keyring))
    try:
        rollout.follow()
        files = read_bundle(POLICIES)
        files["policy.csv"] += b"p, hr_bureau, identity.mobile, read_masked, awards, allow,\n"
        digest = bundle_hash(files)
        elsewhere.put_policy_bundle(digest, files)
        propose(elsewhere, digest, "active")
        # "Within a second" is the follower's poll interval on SQLite (no notices there);
        # the wait below only guards against a hang, so a loaded machine cannot flake it.
        assert FOLLOW_EVERY <= 1.0
        assert applied.wait(timeout=60)
        assert live[-1].directory == versions / digest
        assert read_bundle(live[-1].directory) == files
        assert live[-1].version != live[0].version
    finally:
        rollout.close()
        here.close()
        elsewhere.close()


def test_a_pending_version_is_rejected_once_with_its_comment(store: RecordStore) -> None:
    propose(store, "b1", "active")
    pending = propose(store, "b2", "pending", over="b1")
    rejected = store.reject_policy_version(pending, at=AT, reason="rejected by officer_b",
                                           comment="too broad")
    assert (rejected.status, rejected.comment, rejected.decided_at) == ("rejected",
                                                                        "too broad", AT)
    with pytest.raises(FailedPrecondition):
        store.reject_policy_version(pending, at=AT, reason="again", comment="")
    with pytest.raises(FailedPrecondition):
        store.activate_policy_version(pending, approver="x", at=AT, over_bundle="b1")
    assert store.policy_head()[1] == "b1"
