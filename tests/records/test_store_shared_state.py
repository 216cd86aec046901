"""State every instance shares through the store: replay memory and consent uses."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from gateway.audit.log import SqliteAuditLog
from gateway.clock import FixedClock
from gateway.consent_uses import ConsentUseSweeper
from gateway.errors import ConsentRefused, Unauthenticated
from gateway.records.store import RecordStore
from gateway.request_signing import HEADER_SALT, RequestVerifier, request_digest, sign_request
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
    headers = dict(sign_request(key, "/m", b"request", now=NOW))
    here.verify("p", "/m", b"request", headers)
    with pytest.raises(Unauthenticated) as info:
        there.verify("p", "/m", b"request", headers)
    assert info.value.reason == "request_replayed"
    # Re-seeded from an audit log (a restored database lacked it): a replay again.
    fresh = dict(sign_request(key, "/m", b"other", now=NOW))
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


def test_unsettled_uses_are_listed_per_instance_and_time(store: RecordStore) -> None:
    store.put_consent(contract.make_consent(max_uses=5))
    store.use_consent("consent-1", request_id="req-old", used_by="gw-1", at=NOW - HOUR)
    store.use_consent("consent-1", request_id="req-new", used_by="gw-1", at=NOW)
    store.use_consent("consent-1", request_id="req-other", used_by="gw-2", at=NOW - HOUR)
    listed = store.unsettled_consent_uses(used_by="gw-1", used_before=NOW - HOUR / 2)
    assert listed == [("req-old", "consent-1", NOW - HOUR)]


def test_the_sweeper_gives_back_uses_without_an_allow_entry(store: RecordStore,
                                                            tmp_path: Path) -> None:
    # What calls that died mid-way leave behind: two uses and no outcome; one of the
    # calls had committed its allow entry, the other had not.
    store.put_consent(contract.make_consent(max_uses=5))
    for request_id in ("req-released", "req-crashed"):
        store.use_consent("consent-1", request_id=request_id, used_by="gw-1", at=NOW - HOUR)
    store.use_consent("consent-1", request_id="req-elsewhere", used_by="gw-2", at=NOW - HOUR)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([
            make_entry(1, time=NOW - HOUR, request_id="req-released", decision="allow"),
            make_entry(2, time=NOW - HOUR, request_id="req-crashed", decision="deny"),
        ])
        sweeper = ConsentUseSweeper(store, audit, instance="gw-1", clock=FixedClock(NOW))
        assert sweeper.sweep() == 1
        assert sweeper.sweep() == 0
    assert _uses(store) == 2  # the released call's use and the other instance's
    assert store.unsettled_consent_uses(used_by="gw-1", used_before=NOW) == []
    assert store.give_back_consent_use("req-released") is False
