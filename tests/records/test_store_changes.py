"""Changes staged for their call's allow entry (gateway.records.changes), on both stores.

A staged change has passed its own checks and holds its target, changes nothing a reader
sees (but a staged revocation or listing, which count at once), and is made by
`apply_changes` or goes with `drop_changes`; the sweeper settles what calls left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.audit.log import SqliteAuditLog
from gateway.clock import FixedClock
from gateway.consent.uses import OutcomeSweeper, SweepResult
from gateway.crypto.keyring import generate_keyring
from gateway.errors import AlreadyExists, ConsentRefused, FailedPrecondition, NotFound
from gateway.records import changes
from gateway.records.changes import Change, decode_args, encode_args
from gateway.records.lifecycle import ACTIVE, REMOVED, REPAIRED, SUPERSEDED, WITHDRAWN_STATE
from gateway.records.lifecycle_rows import ANSWERED, APPROVED, CORRECTED, BlacklistRow
from gateway.records.peer_rows import ReceivedChange
from gateway.records.store import RecordStore
from gateway.rotation.reencrypt import reencrypt_store
from tests.audit.tamper import make_entry
from tests.records import test_store_contract as contract
from tests.records.test_store_contract import make_consent, make_record
from tests.records.test_store_lifecycle import objection, repair
from tests.support import NOW

store = contract.store

AT = "2026-11-28T09:00:00Z"
HOUR = timedelta(hours=1)
LISTING = BlacklistRow(party="agency-a", listed_at=AT, listed_by="officer", reason="c2VhbGVk")


def state(store: RecordStore, record_id: str = "rec-0001") -> str:
    found = store.get_record(record_id)
    assert found is not None
    return found.state


@dataclass(frozen=True)
class Case:
    """A change, what must hold before it is made, and what after."""

    make: Callable[[RecordStore], Change]
    before: Callable[[RecordStore], object]


def _listed(store: RecordStore) -> list[str]:
    return [r.party for r in store.list_blacklist()]


def _consent(store: RecordStore) -> tuple[object, ...]:
    row = store.get_consent("consent-1")
    return () if row is None else (row.revoked_at,)


def _record(store: RecordStore) -> tuple[object, ...]:
    found = store.get_record("rec-0001")
    assert found is not None
    return (found.state, found.state_ref, found.disputed,
            [r.status for r in store.list_repairs()],
            [(o.status, o.outcome) for o in store.list_objections()],
            [r.record_id for r in store.find_records(["idx-alice"], {"dishonest_debtor"})])


def _with_objection(store: RecordStore) -> Change:
    store.put_objection(objection())
    [row] = store.list_objections()
    return changes.answer_objection(row, outcome=CORRECTED, at=AT, by="court",
                                    answer_ciphertext=b"\x00note\xff",
                                    correction=make_record(2, replaces="rec-0001"))


def _with_repair(store: RecordStore) -> Change:
    store.put_repair(repair())
    [row] = store.list_repairs()
    return changes.decide_repair(row, approve=True, at=AT, by="court",
                                 decision_ciphertext=b"\x01ok")


def _listed_first(store: RecordStore) -> Change:
    store.blacklist_party(LISTING)
    return changes.lift_blacklist("agency-a", at=AT, by="officer-2", reason="bGlmdA==")


def _consent_first(store: RecordStore) -> Change:
    store.put_consent(make_consent())
    return changes.revoke_consent("consent-1", at=AT, reason="cmVhc29u")


def _received(store: RecordStore) -> Change:
    rec = make_record(7, provider="city", origin="city", origin_provider="court",
                      source_record_id="city-rec-7", disputed=True)
    return changes.receive("city", [ReceivedChange(3, "city-rec-7", rec)])


CASES = {
    "remove": Case(lambda s: changes.remove_record("rec-0001", at=AT,
                                                   reason="obligation_performed"), _record),
    "withdraw": Case(lambda s: changes.revise_record("rec-0001", at=AT,
                                                     reason="entered_in_error",
                                                     correction=None), _record),
    "correct": Case(lambda s: changes.revise_record(
        "rec-0001", at=AT, reason="entered_in_error",
        correction=make_record(2, replaces="rec-0001")), _record),
    "file objection": Case(lambda s: changes.file_objection(objection()), _record),
    "answer objection": Case(_with_objection, _record),
    "apply repair": Case(lambda s: changes.apply_repair(repair()), _record),
    "decide repair": Case(_with_repair, _record),
    "blacklist": Case(lambda s: changes.blacklist(LISTING), _listed),
    "lift": Case(_listed_first, _listed),
    "issue consent": Case(lambda s: changes.issue_consent(make_consent()), _consent),
    "revoke consent": Case(_consent_first, _consent),
    "receive": Case(_received, lambda s: s.get_record("rec-0007")),
}


@pytest.mark.parametrize("name", CASES)
def test_a_staged_change_is_made_by_its_apply_and_only_then(store: RecordStore,
                                                            name: str) -> None:
    store.put_records([make_record(1)])
    case = CASES[name]
    change = case.make(store)
    unchanged = case.before(store)
    store.stage_change(change, request_id="req-1", at=NOW)
    assert case.before(store) == unchanged  # nothing a reader sees has changed
    assert store.apply_changes("req-1") == 1
    assert case.before(store) != unchanged
    assert store.apply_changes("req-1") == 0  # made once


@pytest.mark.parametrize("name", CASES)
def test_a_dropped_change_leaves_nothing_and_frees_its_target(store: RecordStore,
                                                              name: str) -> None:
    store.put_records([make_record(1)])
    case = CASES[name]
    change = case.make(store)
    unchanged = case.before(store)
    store.stage_change(change, request_id="req-1", at=NOW)
    with pytest.raises(FailedPrecondition) as taken:
        store.stage_change(change, request_id="req-2", at=NOW)
    assert taken.value.reason == "change_under_way"
    assert store.drop_changes("req-1") == 1
    assert store.apply_changes("req-1") == 0
    assert case.before(store) == unchanged
    assert contract.count_records(store) == 1  # a staged correction went with it
    store.stage_change(change, request_id="req-2", at=NOW)  # free again
    assert store.apply_changes("req-2") == 1


def test_the_changes_own_checks_refuse_while_staging(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    with pytest.raises(NotFound):
        store.stage_change(changes.remove_record("rec-9999", at=AT, reason="x"),
                           request_id="req-1", at=NOW)
    store.retire_record("rec-0001", state=REMOVED, at=AT, ref="x")
    for change in (changes.remove_record("rec-0001", at=AT, reason="x"),
                   changes.file_objection(objection()), changes.apply_repair(repair())):
        with pytest.raises(FailedPrecondition) as refused:
            store.stage_change(change, request_id="req-1", at=NOW)
        assert refused.value.reason == "record_not_active"
    with pytest.raises(FailedPrecondition):
        store.stage_change(changes.lift_blacklist("agency-a", at=AT, by="o", reason=""),
                           request_id="req-1", at=NOW)
    assert store.pending_changes(pending_before=NOW + HOUR) == []  # nothing kept
    assert store.drop_changes("req-1") == 0


def test_changes_of_one_record_wait_for_each_other(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.stage_change(changes.file_objection(objection()), request_id="req-1", at=NOW)
    # A removal, a repair application or a second objection: the record is taken.
    for change in (changes.remove_record("rec-0001", at=AT, reason="x"),
                   changes.apply_repair(repair()), changes.file_objection(objection(2))):
        with pytest.raises(FailedPrecondition) as taken:
            store.stage_change(change, request_id="req-2", at=NOW)
        assert taken.value.reason == "change_under_way"
    store.apply_changes("req-1")
    # Made: the record is disputed, so a second objection is refused by its own rule.
    with pytest.raises(FailedPrecondition) as refused:
        store.stage_change(changes.file_objection(objection(2)), request_id="req-2", at=NOW)
    assert refused.value.reason == "objection_open"


def test_a_staged_correction_is_pending_and_goes_live_with_its_change(
        store: RecordStore) -> None:
    store.put_records([make_record(1)])
    change = _with_objection(store)
    store.stage_change(change, request_id="req-1", at=NOW)
    assert store.get_record("rec-0002") is None  # pending: never shown
    assert store.pending_records(pending_before=NOW + HOUR) == []  # its change's alone
    # Its source id is taken: a submission of it is refused, not taken up.
    with pytest.raises(AlreadyExists):
        store.put_records([make_record(2)], pending_for="req-3", at=NOW)
    with pytest.raises(AlreadyExists):
        store.put_records([make_record(2)])
    assert store.activate_pending(["rec-0002"]) == 0  # never on its own
    store.apply_changes("req-1")
    assert state(store) == SUPERSEDED and state(store, "rec-0002") == ACTIVE
    [answered] = store.list_objections()
    assert (answered.status, answered.outcome, answered.new_record_id) == (
        ANSWERED, CORRECTED, "rec-0002")


def test_each_change_is_made_as_the_store_would_make_it(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(3)])
    store.stage_change(changes.remove_record("rec-0001", at=AT, reason="paid"),
                       request_id="req-1", at=NOW)
    store.stage_change(changes.revise_record("rec-0003", at=AT, reason="entered_in_error",
                                             correction=None), request_id="req-1", at=NOW)
    assert store.apply_changes("req-1") == 2  # one transaction for the request
    removed = store.get_record("rec-0001")
    assert removed is not None and (removed.state, removed.state_at, removed.state_ref) == (
        REMOVED, AT, "paid")
    assert state(store, "rec-0003") == WITHDRAWN_STATE
    store.put_records([make_record(4)])
    store.put_repair(repair(record_id="rec-0004"))
    [row] = store.list_repairs()
    store.stage_change(changes.decide_repair(row, approve=True, at=AT, by="court",
                                             decision_ciphertext=b"\x00\xff"),
                       request_id="req-2", at=NOW)
    store.apply_changes("req-2")
    decided = store.get_repair(row.repair_id)
    assert decided is not None and (decided.status, decided.decision_ciphertext) == (
        APPROVED, b"\x00\xff")
    assert state(store, "rec-0004") == REPAIRED


def test_a_staged_revocation_refuses_uses_at_once(store: RecordStore) -> None:
    store.put_consent(make_consent())
    assert store.use_consent("consent-1") == 1
    store.stage_change(changes.revoke_consent("consent-1", at=AT, reason=""),
                       request_id="req-1", at=NOW)
    with pytest.raises(ConsentRefused) as refused:
        store.use_consent("consent-1")
    assert refused.value.reason == "consent_revoked"
    store.drop_changes("req-1")  # the revocation failed: the consent is usable again
    assert store.use_consent("consent-1") == 2
    assert store.awaiting_targets(changes.REVOKE_CONSENT) == set()


def test_awaiting_targets_names_staged_listings(store: RecordStore) -> None:
    store.stage_change(changes.blacklist(LISTING), request_id="req-1", at=NOW)
    assert store.awaiting_targets(changes.BLACKLIST) == {"party:agency-a"}
    assert store.list_blacklist() == []


def test_arguments_keep_every_byte() -> None:
    args = {"a": contract.ALL_BYTES, "b": [b"", {"c": b"\x00"}], "d": None, "e": "文"}
    assert decode_args(encode_args(args)) == args


def test_the_sweeper_makes_or_drops_what_calls_left_staged(store: RecordStore,
                                                           tmp_path: Path) -> None:
    store.put_records([make_record(n) for n in (1, 2, 3, 4, 5)])
    for n, request in ((1, "req-allowed"), (2, "req-denied"), (3, "req-crashed")):
        store.stage_change(changes.remove_record(f"rec-000{n}", at=AT, reason="x"),
                           request_id=request, at=NOW - HOUR)
    store.stage_change(changes.remove_record("rec-0004", at=AT, reason="x"),
                       request_id="req-in-flight", at=NOW)
    store.put_objection(objection(record_id="rec-0005"))
    [row] = store.list_objections()
    store.stage_change(changes.answer_objection(
        row, outcome=CORRECTED, at=AT, by="court", answer_ciphertext=b"",
        correction=make_record(6, replaces="rec-0005")), request_id="req-corrected",
        at=NOW - HOUR)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([
            make_entry(1, time=NOW - HOUR, request_id="req-allowed", decision="allow"),
            make_entry(2, time=NOW - HOUR, request_id="req-denied", decision="deny"),
            make_entry(3, time=NOW - HOUR, request_id="req-corrected", decision="allow"),
        ])
        sweeper = OutcomeSweeper(store, audit, clock=FixedClock(NOW))
        done = sweeper.sweep()
        assert (done.changes_applied, done.changes_dropped, done.records_activated) == (
            2, 2, 0)
        assert sweeper.sweep() == SweepResult()
    assert [state(store, f"rec-000{n}") for n in (1, 2, 3, 4, 5, 6)] == [
        REMOVED, ACTIVE, ACTIVE, ACTIVE, SUPERSEDED, ACTIVE]
    assert [p.change.target for p in store.pending_changes(pending_before=NOW + HOUR)] == [
        "record:rec-0004"]  # its call may still commit


def test_a_sweeper_that_listed_a_change_cannot_drop_it_once_made(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.stage_change(changes.remove_record("rec-0001", at=AT, reason="x"),
                       request_id="req-1", at=NOW - HOUR)
    [listed] = store.pending_changes(pending_before=NOW)
    store.apply_changes("req-1")
    assert store.drop_pending_change(listed) is False
    assert state(store) == REMOVED


def test_changes_staged_before_a_rotated_log_are_kept(store: RecordStore,
                                                      tmp_path: Path) -> None:
    store.put_records([make_record(1)])
    store.stage_change(changes.remove_record("rec-0001", at=AT, reason="x"),
                       request_id="req-old", at=NOW - 2 * HOUR)
    with SqliteAuditLog(tmp_path / "audit.db") as audit:
        audit.append_many([make_entry(1, time=NOW - HOUR, request_id="log-started",
                                      decision="allow")])
        done = OutcomeSweeper(store, audit, clock=FixedClock(NOW)).sweep()
    assert done == SweepResult(changes_kept=1)
    assert state(store) == ACTIVE


def test_a_re_encryption_says_which_changes_still_wait(store: RecordStore) -> None:
    # Their sealed values are under the keys of their call until they are made: a run
    # that ends while one waits is not done.
    store.stage_change(changes.blacklist(LISTING), request_id="req-1", at=NOW)
    assert reencrypt_store(store, generate_keyring()).awaiting == 1
    store.apply_changes("req-1")
    assert reencrypt_store(store, generate_keyring()).awaiting == 0
