"""State every instance shares through the store: replay memory and consent uses."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from gateway.audit.log import SqliteAuditLog
from gateway.clock import FixedClock
from gateway.consent.uses import OutcomeSweeper, SweepResult
from gateway.errors import ConsentRefused, Unauthenticated
from gateway.identify.request_signing import (
    HEADER_SALT,
    RequestVerifier,
    request_digest,
    sign_request,
)
from gateway.records.store import RecordStore
from tests.audit.tamper import make_entry
from tests.records import test_store_contract as contract
from tests.records.test_store_contract import reopen
from tests.support import NOW

store = contract.store

HOUR = timedelta(hours=1)


def test_a_digest_is_remembered_once_by_every_instance(store: RecordStore) -> None:
    assert store.remember_request("d-1", at=NOW, forget_before=NOW - HOUR) is True
    assert store.remember_request("d-1", at=NOW, forget_before=NOW - HOUR) is False
    other = reopen(store)
    try:
        assert other.remember_request("d-1", at=NOW, forget_before=NOW - HOUR) is False
        assert other.remember_request("d-2", at=NOW, forget_before=NOW - HOUR) is True
    finally:
        other.close()


def test_reseeded_digests_are_replays_and_old_ones_are_pruned(store: RecordStore) -> None:
    store.remember_requests([("d-old", NOW - 3 * HOUR), ("d-new", NOW)])
    store.remember_requests([("d-new", NOW)])  # re-seeding twice is harmless
    assert store.remember_request("d-new", at=NOW, forget_before=NOW - HOUR) is False
    later = reopen(store)  # a fresh instance prunes on its first remember
    try:
        assert later.remember_request("d-3", at=NOW, forget_before=NOW - HOUR) is True
        assert later.remember_request("d-old", at=NOW, forget_before=NOW - HOUR) is True
        assert later.remember_request("d-new", at=NOW, forget_before=NOW - HOUR) is False
    finally:
        later.close()


def test_a_request_verified_at_one_instance_is_a_replay_at_another(store: RecordStore) -> None:
    key = SigningKey.generate()
    clock = FixedClock(NOW)
    here, there = (RequestVerifier(keys={"p": key.verify_key}, clock=clock, memory=store)
                   for _ in range(2))
    headers = dict(sign_request(key, "/m", b"request", party="p", now=NOW))
    here.verify("p", "/m", b"request", headers)
    with pytest.raises(Unauthenticated) as info:
        there.verify("p", "/m", b"request", headers)
    assert info.value.reason == "request_replayed"
    # Re-seeded from an audit log (a restored database lacked it): a replay again.
    fresh = dict(sign_request(key, "/m", b"other", party="p", now=NOW))
    digest = request_digest(base64.b64decode(fresh[HEADER_SALT]), b"other")
    RequestVerifier(keys={}, clock=clock, memory=store).remember_earlier([(digest, NOW)])
    with pytest.raises(Unauthenticated):
        there.verify("p", "/m", b"other", fresh)


# -- consent uses by request ------------------------------------------------------------


def _uses(store: RecordStore) -> int:
    row = store.get_consent("consent-1")
    assert row is not None
    return row.uses


def test_a_use_is_given_back_once_and_a_settled_use_stays_spent(store: RecordStore) -> None:
    store.put_consent(contract.make_consent(max_uses=2))
    assert store.use_consent("consent-1", request_id="req-a", used_by="gw-1", at=NOW) == 1
    assert store.use_consent("consent-1", request_id="req-b", used_by="gw-1", at=NOW) == 2
    assert store.give_back_consent_use("req-a") is True
    assert store.give_back_consent_use("req-a") is False  # never twice
    assert _uses(store) == 1
    store.settle_consent_use("req-b")
    assert store.give_back_consent_use("req-b") is False  # spent for good
    assert _uses(store) == 1
    assert store.use_consent("consent-1", request_id="req-c", used_by="gw-1", at=NOW) == 2
    with pytest.raises(ConsentRefused):
        store.use_consent("consent-1", request_id="req-d", used_by="gw-1", at=NOW)
    assert store.give_back_consent_use("req-d") is False  # a refused use counted nothing
    assert store.give_back_consent_use("req-unknown") is False


def test_unsettled_uses_are_listed_by_time_and_by_instance(store: RecordStore) -> None:
    store.put_consent(contract.make_consent(max_uses=5))
    store.use_consent("consent-1", request_id="req-old", used_by="gw-1", at=NOW - HOUR)
    store.use_consent("consent-1", request_id="req-new", used_by="gw-1", at=NOW)
    store.use_consent("consent-1", request_id="req-other", used_by="gw-2", at=NOW - HOUR)
    listed = store.unsettled_consent_uses(used_by="gw-1", used_before=NOW - HOUR / 2)
    assert listed == [("req-old", "consent-1", NOW - HOUR)]
    every = store.unsettled_consent_uses(used_before=NOW - HOUR / 2)
    assert every == [("req-old", "consent-1", NOW - HOUR),
                     ("req-other", "consent-1", NOW - HOUR)]


def test_the_sweeper_gives_back_uses_without_an_allow_entry(store: RecordStore,
                                                            tmp_path: Path) -> None:
    # What calls that died mid-way leave behind: uses and no outcome; one of the calls
    # had committed its allow entry, the others had not. One log holds every instance's
    # entries, so the sweeper settles another instance's uses too.
    store.put_consent(contract.make_consent(max_uses=5))
    for request_id in ("req-released", "req-crashed"):
        store.use_consent("consent-1", request_id=request_id, used_by="gw-1", at=NOW - HOUR)
    store.use_consent("consent-1", request_id="req-elsewhere", used_by="gw-2", at=NOW - HOUR)
    store.use_consent("consent-1", request_id="req-in-flight", used_by="gw-2", at=NOW)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([
            make_entry(1, time=NOW - HOUR, request_id="req-released", decision="allow"),
            make_entry(2, time=NOW - HOUR, request_id="req-crashed", decision="deny"),
        ])
        sweeper = OutcomeSweeper(store, audit, clock=FixedClock(NOW))
        assert sweeper.sweep().uses_given_back == 2
        assert sweeper.sweep().uses_given_back == 0
    assert _uses(store) == 2  # the released call's use, and the call still in flight
    assert store.unsettled_consent_uses(used_before=NOW) == []
    assert store.give_back_consent_use("req-released") is False
    assert store.give_back_consent_use("req-in-flight") is True


# -- records pending for their submission's allow entry (gateway.records.lifecycle) ------

def _visible(store: RecordStore, record_id: str) -> dict[str, bool]:
    """Every way a reader could come upon a record."""
    return {
        "find": any(r.record_id == record_id
                    for r in store.find_records(["idx-alice"], ["dishonest_debtor"])),
        "find_archived": any(r.record_id == record_id for r in store.find_records(
            ["idx-alice"], ["dishonest_debtor"], archived=True)),
        "get": store.get_record(record_id) is not None,
        "category_page": any(r.record_id == record_id for r in
                             store.records_in_categories(["dishonest_debtor"])),
    }


def test_pending_records_are_invisible_until_activated(store: RecordStore) -> None:
    first = store.put_records([contract.make_record(1), contract.make_record(2)],
                              pending_for="req-a", at=NOW)
    assert [r.created for r in first] == [True, True]
    for n in (1, 2):
        assert _visible(store, f"rec-{n:04d}") == dict.fromkeys(
            ("find", "find_archived", "get", "category_page"), False)
    assert store.activate_pending(["rec-0001"]) == 1
    assert all(_visible(store, "rec-0001").values())
    assert not any(_visible(store, "rec-0002").values())
    assert store.activate_pending(["rec-0001"]) == 0  # active already: nothing to do
    # The live record no longer counts as pending; the other still does.
    assert [p.record_id for p in store.pending_records(pending_before=NOW + HOUR)] == [
        "rec-0002"]


def test_a_retry_takes_up_what_a_failed_call_left_pending(store: RecordStore) -> None:
    store.put_records([contract.make_record(1)], pending_for="req-a", at=NOW - HOUR)
    [listed] = store.pending_records(pending_before=NOW)
    assert listed.requests() == {"req-a": NOW - HOUR}
    # The retry (same source id, same content) names itself beside the first request
    # and gets the same record id.
    [again] = store.put_records([contract.make_record(9, source_record_id="src-1",
                                                      submission_digest="digest-1")],
                                pending_for="req-b", at=NOW)
    assert (again.record_id, again.created) == ("rec-0001", True)
    # A sweeper that listed the row before the retry cannot drop it any more.
    assert store.drop_pending(listed) is False
    assert store.pending_records(pending_before=NOW) == []  # the retry is in flight
    [now_listed] = store.pending_records(pending_before=NOW + HOUR)
    assert now_listed.requests() == {"req-a": NOW - HOUR, "req-b": NOW}
    assert store.drop_pending(now_listed) is True
    assert store.get_record("rec-0001") is None
    # Dropped rows were never shown: the source id is free for a new submission.
    assert store.put_records([contract.make_record(1)])[0].created


def test_an_active_record_is_not_taken_up_or_dropped(store: RecordStore) -> None:
    store.put_records([contract.make_record(1)])
    [again] = store.put_records([contract.make_record(1)], pending_for="req-b", at=NOW)
    assert (again.record_id, again.created) == ("rec-0001", False)
    assert store.pending_records(pending_before=NOW + HOUR) == []
    assert all(_visible(store, "rec-0001").values())


def test_the_sweeper_activates_or_drops_what_submissions_left_pending(
        store: RecordStore, tmp_path: Path) -> None:
    store.put_records([contract.make_record(1)], pending_for="req-released", at=NOW - HOUR)
    store.put_records([contract.make_record(2)], pending_for="req-crashed", at=NOW - HOUR)
    # Left by a crashed call, then taken up by a retry whose allow entry committed.
    store.put_records([contract.make_record(3)], pending_for="req-lost", at=NOW - 2 * HOUR)
    store.put_records([contract.make_record(3)], pending_for="req-retry", at=NOW - HOUR)
    store.put_records([contract.make_record(4)], pending_for="req-in-flight", at=NOW)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([
            make_entry(1, time=NOW - 2 * HOUR, request_id="req-lost", decision="deny"),
            make_entry(2, time=NOW - HOUR, request_id="req-released", decision="allow"),
            make_entry(3, time=NOW - HOUR, request_id="req-crashed", decision="deny"),
            make_entry(4, time=NOW - HOUR, request_id="req-retry", decision="allow"),
        ])
        sweeper = OutcomeSweeper(store, audit, clock=FixedClock(NOW))
        done = sweeper.sweep()
        assert (done.records_activated, done.records_dropped) == (2, 1)
        assert sweeper.sweep() == SweepResult()
    assert all(_visible(store, "rec-0001").values())
    assert store.get_record("rec-0002") is None
    assert all(_visible(store, "rec-0003").values())
    assert not any(_visible(store, "rec-0004").values())  # its call may still commit


def test_records_pending_from_before_a_rotated_log_are_kept_until_resubmitted(
        store: RecordStore, tmp_path: Path) -> None:
    # Their allow entry, if any, is in the closed log: neither shown nor dropped.
    store.put_records([contract.make_record(1)], pending_for="req-old", at=NOW - 2 * HOUR)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([make_entry(1, time=NOW - HOUR, request_id="log-started",
                                      decision="allow")])
        sweeper = OutcomeSweeper(store, audit, clock=FixedClock(NOW))
        assert sweeper.sweep() == SweepResult(records_kept=1)
        assert not any(_visible(store, "rec-0001").values())
        # The provider submits again under the new log: its allow entry makes it live.
        store.put_records([contract.make_record(1)], pending_for="req-new", at=NOW - HOUR)
        audit.append_many([make_entry(2, time=NOW - HOUR, request_id="req-new",
                                      decision="allow")])
        sweeper.sweep()
        assert sweeper.sweep() == SweepResult()
    assert all(_visible(store, "rec-0001").values())
