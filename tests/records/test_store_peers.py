"""The outbox and received changes in the one SQL store, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from gateway.errors import FailedPrecondition
from gateway.records.peer_rows import ReceivedChange
from gateway.records.store import RecordStore
from tests.records.test_store_contract import make_record, store  # noqa: F401

AT = "2026-11-28T09:00:00Z"


def test_only_routed_categories_are_queued_and_in_order(store: RecordStore) -> None:  # noqa: F811
    store.put_records([make_record(1)])
    assert store.outbox("province") == []  # nothing routed yet: nothing queued
    store.route_changes({"dishonest_debtor": ("pboc_branch", "province")})
    store.put_records([make_record(2), make_record(3, category="honour")])
    store.retire_record("rec-0002", state="removed", at=AT, ref="obligation_performed")
    queued = store.outbox("province")
    assert [(i.record_id, i.change) for i in queued] == [("rec-0002", "listed"),
                                                         ("rec-0002", "removed")]
    assert queued[0].seq < queued[1].seq
    assert store.outbox_depth("pboc_branch") == 2
    store.outbox_delivered("province", [queued[0].seq])
    assert [i.change for i in store.outbox("province")] == ["removed"]
    assert store.outbox_depth("pboc_branch") == 2  # each peer's rows are its own


def test_a_peer_record_is_never_queued_and_is_read_only(store: RecordStore) -> None:  # noqa: F811
    store.route_changes({"dishonest_debtor": ("province",)})
    received = make_record(5, provider="city", origin="city", origin_provider="court")
    assert store.apply_received("city", [ReceivedChange(1, "src-5", received)]) == 1
    assert store.outbox("province") == []  # no echo back up
    with pytest.raises(FailedPrecondition):
        store.retire_record("rec-0005", state="removed", at=AT, ref="x")


def test_received_changes_apply_once_and_in_order(store: RecordStore) -> None:  # noqa: F811
    rec = make_record(7, provider="city", origin="city", origin_provider="court",
                      source_record_id="city-rec-7")
    listed = ReceivedChange(3, "city-rec-7", rec)
    assert store.apply_received("city", [listed]) == 1
    assert store.apply_received("city", [listed]) == 0  # a resend
    disputed = ReceivedChange(4, "city-rec-7", replace(rec, disputed=True))
    assert store.apply_received("city", [disputed]) == 1
    got = store.get_record("rec-0007")
    assert got is not None and got.disputed and got.origin == "city"
    stale = ReceivedChange(2, "city-rec-7", None, state="removed", at=AT)
    assert store.apply_received("city", [stale]) == 0  # older than what was applied
    gone = ReceivedChange(9, "city-rec-7", None, state="withdrawn", at=AT, reason="withdrawn")
    assert store.apply_received("city", [gone]) == 1
    got = store.get_record("rec-0007")
    assert got is not None and got.state == "withdrawn" and got.fields == {}
    assert got.subject_index == "" and got.subject_ciphertext == b"" and not got.disputed
    assert store.received_seqs("city", ["city-rec-7"]) == {"city-rec-7": 9}


def test_the_end_of_display_is_queued_once(store: RecordStore) -> None:  # noqa: F811
    store.route_changes({"dishonest_debtor": ("province",)})
    store.put_records([make_record(8, display_end=date(2026, 11, 1)),
                       make_record(9, display_end=date(2027, 1, 1))])
    assert store.queue_display_ends(date(2026, 11, 28), at=AT) == 1
    assert store.queue_display_ends(date(2026, 11, 28), at=AT) == 0
    assert [(i.record_id, i.change) for i in store.outbox("province")][-1] == \
        ("rec-0008", "display_ended")


def test_one_holder_leases_a_peer_at_a_time(store: RecordStore) -> None:  # noqa: F811
    assert store.claim_peer("province", holder="a", now_s=100, until_s=130)
    assert not store.claim_peer("province", holder="b", now_s=110, until_s=140)
    assert store.claim_peer("province", holder="a", now_s=120, until_s=150)  # renewed
    assert store.claim_peer("province", holder="b", now_s=151, until_s=180)  # expired


def test_a_batch_reads_its_records_at_once(store: RecordStore) -> None:  # noqa: F811
    store.put_records([make_record(10), make_record(11)])
    found = store.outbox_records(["rec-0010", "rec-0011", "rec-9999"])
    assert sorted(found) == ["rec-0010", "rec-0011"]
    assert found["rec-0011"] == store.get_record("rec-0011")
