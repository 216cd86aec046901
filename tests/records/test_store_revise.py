"""revise_record on both stores: a correction supersedes atomically, a withdrawal keeps
the reason, and neither touches a record that is no longer active."""

from __future__ import annotations

import pytest

from gateway.errors import AlreadyExists, FailedPrecondition
from gateway.records.store import RecordStore
from tests.records.test_store_contract import make_record, store  # noqa: F401

AT = "2026-11-28T09:00:00Z"


def test_correct_then_withdraw(store: RecordStore) -> None:  # noqa: F811
    store.put_records([make_record(1), make_record(2)])
    fixed = make_record(3, replaces="rec-0001")
    old = store.revise_record("rec-0001", at=AT, reason="changed_by_court", correction=fixed)
    assert (old.state, old.state_ref) == ("superseded", "rec-0003")
    gone = store.revise_record("rec-0002", at=AT, reason="entered_in_error")
    assert (gone.state, gone.state_ref) == ("withdrawn", "entered_in_error")
    live = store.find_records(["idx-alice"], ["dishonest_debtor"])
    assert [r.record_id for r in live] == ["rec-0003"]
    with pytest.raises(FailedPrecondition):
        store.revise_record("rec-0002", at=AT, reason="entered_in_error")
    # A correction whose source id is taken leaves the record as it was.
    clash = make_record(4, source_record_id="src-3", submission_digest="other")
    with pytest.raises(AlreadyExists):
        store.revise_record("rec-0003", at=AT, reason="entered_in_error", correction=clash)
    assert store.find_records(["idx-alice"], ["dishonest_debtor"])[0].state == "active"
