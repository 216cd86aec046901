"""State every instance shares through the store: the replay memory (both back ends)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from nacl.signing import SigningKey

from gateway.clock import FixedClock
from gateway.errors import Unauthenticated
from gateway.records.store import RecordStore
from gateway.request_signing import HEADER_SALT, RequestVerifier, request_digest, sign_request
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
