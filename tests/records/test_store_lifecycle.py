"""The RecordStore lifecycle contract (states, objections, repairs, blacklist) on both stores.

Runs against SQLite and PostgreSQL through the `store` fixture of the main contract.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.errors import AlreadyExists, FailedPrecondition, NotFound
from gateway.records.lifecycle import ACTIVE, REMOVED, REPAIRED, SUPERSEDED, WITHDRAWN_STATE
from gateway.records.lifecycle_rows import (
    CORRECTED,
    UPHELD,
    WITHDRAWN,
    BlacklistRow,
    ObjectionRow,
    RepairRow,
)
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import RecordStore
from tests.records import test_store_contract as contract
from tests.records.test_store_contract import make_record, reopen

#: The contract's fixture: every test runs on SQLite and on PostgreSQL.
store = contract.store

AT = "2026-11-28T09:00:00Z"


def objection(n: int = 1, record_id: str = "rec-0001", **changes: object) -> ObjectionRow:
    row = ObjectionRow(objection_id=f"obj-{n}", record_id=record_id, provider="court",
                       category="dishonest_debtor", subject_index="idx-alice",
                       filed_at=f"2026-11-0{n}T00:00:00Z", due_date=f"2026-11-2{n}",
                       reason_ciphertext=b"\x00sealed reason\xff")
    return replace(row, **changes)  # type: ignore[arg-type]


def repair(n: int = 1, record_id: str = "rec-0001", **changes: object) -> RepairRow:
    row = RepairRow(repair_id=f"rep-{n}", record_id=record_id, provider="court",
                    approver="court", category="dishonest_debtor", subject_index="idx-alice",
                    applied_at=f"2026-11-0{n}T00:00:00Z", statement_ciphertext=b"\x01st")
    return replace(row, **changes)  # type: ignore[arg-type]


def ids(records: list) -> list[str]:
    return [r.record_id for r in records]


def test_find_records_returns_live_versions_unless_archived(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(2, domain="finance", occupation="lawyer")])
    retired = store.retire_record("rec-0001", state=REMOVED, at=AT, ref="court order")
    assert (retired.state, retired.state_at, retired.state_ref) == (REMOVED, AT, "court order")
    assert ids(store.find_records(["idx-alice"], {"dishonest_debtor"})) == ["rec-0002"]
    archived = store.find_records(["idx-alice"], {"dishonest_debtor"}, archived=True)
    assert [(r.record_id, r.state) for r in archived] == [("rec-0001", REMOVED),
                                                          ("rec-0002", ACTIVE)]
    assert archived[1].domain == "finance" and archived[1].occupation == "lawyer"
    got = store.get_record("rec-0001")
    assert got is not None and got.state == REMOVED
    by_source = store.find_record_by_source("court", "src-2")
    assert by_source is not None and by_source.record_id == "rec-0002"
    assert store.get_record("rec-none") is None
    assert store.find_record_by_source("tax", "src-2") is None


def test_a_record_leaves_use_once(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.retire_record("rec-0001", state=REMOVED, at=AT, ref="")
    with pytest.raises(FailedPrecondition) as info:
        store.retire_record("rec-0001", state=REPAIRED, at=AT, ref="")
    assert info.value.reason == "record_not_active"
    with pytest.raises(NotFound):
        store.retire_record("rec-none", state=REMOVED, at=AT, ref="")


def test_writes_by_another_instance_are_seen_at_once(store: RecordStore) -> None:
    # Another gateway process or tool on the same data: no cached answer may outlive it.
    store.put_records([make_record(1)])
    assert [r.record_id for r in store.find_records(["idx-alice"], {"dishonest_debtor"})] == [
        "rec-0001"]
    other = reopen(store)
    try:
        other.retire_record("rec-0001", state=REMOVED, at=AT, ref="")
        other.put_records([make_record(2)])
    finally:
        other.close()
    found = store.find_records(["idx-alice"], {"dishonest_debtor"})
    assert [r.record_id for r in found] == ["rec-0002"]
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:  # a plain SQL write, not through a store
            conn.execute("UPDATE records SET state = 'removed' WHERE record_id = 'rec-0002'")
        assert store.find_records(["idx-alice"], {"dishonest_debtor"}) == []


def test_request_state_writes_keep_the_record_cache_and_other_writes_still_show(
        store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12: the per-call replay-memory row must not empty the record cache, yet a
    # write by any other connection after it must still be seen at once.
    store.put_records([make_record(1)])
    store.put_consent(contract.make_consent())
    assert len(store.find_records(["idx-alice"], {"dishonest_debtor"})) == 1
    now = datetime.now(UTC)
    assert store.remember_request("d" * 64, at=now, forget_before=now - timedelta(days=1))
    assert not store.remember_request("d" * 64, at=now, forget_before=now - timedelta(days=1))
    if isinstance(store, SqliteStore):
        reads: list[object] = []
        real_read = store._db.read
        monkeypatch.setattr(store._db, "read", lambda work: reads.append(work) or real_read(work))
        assert len(store.find_records(["idx-alice"], {"dishonest_debtor"})) == 1
        assert reads == []  # served from the cache
        # A consent use, its settling and a use given back change no record either.
        store.use_consent("consent-1", request_id="req-1", used_by="gw-1", at=now)
        store.use_consent("consent-1", request_id="req-2", used_by="gw-1", at=now)
        store.settle_consent_uses(["req-1"])
        assert store.give_back_consent_use("req-2")
        assert len(store.find_records(["idx-alice"], {"dishonest_debtor"})) == 1
        assert reads == []
        with sqlite3.connect(store.path) as conn:  # a plain SQL write, not through a store
            conn.execute("UPDATE records SET state = 'removed' WHERE record_id = 'rec-0001'")
        assert store.find_records(["idx-alice"], {"dishonest_debtor"}) == []
        store.remember_request("e" * 64, at=now, forget_before=now - timedelta(days=1))
        other = reopen(store)
        try:
            other.put_records([make_record(2)])
        finally:
            other.close()
        found = store.find_records(["idx-alice"], {"dishonest_debtor"})
        assert [r.record_id for r in found] == ["rec-0002"]


def test_an_open_objection_marks_the_record_disputed(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(2)])
    assert not store.find_records(["idx-alice"], {"dishonest_debtor"})[0].disputed  # cached
    store.put_objection(objection(1))
    found = store.find_records(["idx-alice"], {"dishonest_debtor"})
    assert [(r.record_id, r.disputed) for r in found] == [("rec-0001", True),
                                                         ("rec-0002", False)]
    record = store.get_record("rec-0001")
    assert record is not None and record.disputed
    assert store.disputed_record_ids(["rec-0001", "rec-0002", "rec-x"]) == {"rec-0001"}
    assert store.disputed_record_ids([]) == set()
    assert store.get_objection("obj-1") == objection(1)
    with pytest.raises(FailedPrecondition) as info:
        store.put_objection(objection(2))
    assert info.value.reason == "objection_open"
    with pytest.raises(NotFound):
        store.put_objection(objection(3, record_id="rec-none"))


def test_list_objections_filters(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(2), make_record(3, provider="tax",
                                                                   subject_index="idx-bob")])
    store.put_objection(objection(1))
    store.put_objection(objection(2, record_id="rec-0002"))
    store.put_objection(objection(3, record_id="rec-0003", provider="tax",
                                  subject_index="idx-bob"))
    assert [o.objection_id for o in store.list_objections()] == ["obj-1", "obj-2", "obj-3"]
    assert [o.objection_id for o in store.list_objections(provider="court")] == [
        "obj-1", "obj-2"]
    assert [o.objection_id for o in store.list_objections(subject_indexes=["idx-bob"])] == [
        "obj-3"]
    assert [o.objection_id for o in store.list_objections(due_before="2026-11-23")] == [
        "obj-1", "obj-2"]
    assert [o.objection_id for o in store.list_objections(limit=1)] == ["obj-1"]
    store.answer_objection("obj-1", outcome=UPHELD, at=AT, by="court", answer_ciphertext=b"a")
    assert [o.objection_id for o in store.list_objections(status="open")] == ["obj-2", "obj-3"]
    assert [o.objection_id for o in store.list_objections(status="answered")] == ["obj-1"]


def test_uphold_keeps_the_record_and_clears_the_mark(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.put_objection(objection(1))
    answered = store.answer_objection("obj-1", outcome=UPHELD, at=AT, by="court",
                                      answer_ciphertext=b"\x02note")
    assert (answered.status, answered.outcome, answered.answered_at, answered.answered_by,
            answered.answer_ciphertext) == ("answered", UPHELD, AT, "court", b"\x02note")
    [record] = store.find_records(["idx-alice"], {"dishonest_debtor"})
    assert record.state == ACTIVE and not record.disputed
    with pytest.raises(FailedPrecondition) as info:
        store.answer_objection("obj-1", outcome=WITHDRAWN, at=AT, by="court",
                               answer_ciphertext=b"")
    assert info.value.reason == "objection_answered"
    with pytest.raises(NotFound):
        store.answer_objection("obj-x", outcome=UPHELD, at=AT, by="court", answer_ciphertext=b"")
    # A new objection may be filed once the first is answered.
    store.put_objection(objection(2))


def test_withdraw_takes_the_record_out_of_use(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.put_objection(objection(1))
    store.answer_objection("obj-1", outcome=WITHDRAWN, at=AT, by="court", answer_ciphertext=b"")
    assert store.find_records(["idx-alice"], {"dishonest_debtor"}) == []
    record = store.get_record("rec-0001")
    assert record is not None
    assert (record.state, record.state_ref, record.disputed) == (WITHDRAWN_STATE, "obj-1", False)


def test_correction_supersedes_the_record_atomically(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(9)])
    store.put_objection(objection(1))
    taken = make_record(5, record_id="rec-new", source_record_id="src-9", replaces="rec-0001")
    with pytest.raises(AlreadyExists):
        store.answer_objection("obj-1", outcome=CORRECTED, at=AT, by="court",
                               answer_ciphertext=b"", correction=taken)
    # Nothing changed: still open, record still live and disputed.
    still = store.get_objection("obj-1")
    assert still is not None and still.status == "open"
    assert ids(store.find_records(["idx-alice"], {"dishonest_debtor"})) == ["rec-0001",
                                                                           "rec-0009"]
    fixed = make_record(5, record_id="rec-new", source_record_id="src-1-v2",
                        replaces="rec-0001", event_date=date(2024, 2, 1))
    answered = store.answer_objection("obj-1", outcome=CORRECTED, at=AT, by="court",
                                      answer_ciphertext=b"", correction=fixed)
    assert answered.new_record_id == "rec-new"
    live = store.find_records(["idx-alice"], {"dishonest_debtor"})
    assert ids(live) == ["rec-0009", "rec-new"]
    assert live[1].replaces == "rec-0001"
    old = store.get_record("rec-0001")
    assert old is not None and (old.state, old.state_ref) == (SUPERSEDED, "rec-new")


def test_correct_or_withdraw_needs_a_live_record(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    store.put_objection(objection(1))
    store.retire_record("rec-0001", state=REMOVED, at=AT, ref="")
    with pytest.raises(FailedPrecondition):
        store.answer_objection("obj-1", outcome=WITHDRAWN, at=AT, by="court",
                               answer_ciphertext=b"")
    # Upholding still closes it.
    store.answer_objection("obj-1", outcome=UPHELD, at=AT, by="court", answer_ciphertext=b"")
    with pytest.raises(FailedPrecondition):
        store.put_objection(objection(2))  # the record is no longer in use


def test_repair_approval_retires_the_record(store: RecordStore) -> None:
    store.put_records([make_record(1), make_record(2)])
    store.put_repair(repair(1))
    assert store.get_repair("rep-1") == repair(1)
    with pytest.raises(FailedPrecondition) as info:
        store.put_repair(repair(2))
    assert info.value.reason == "repair_pending"
    store.put_repair(repair(3, record_id="rec-0002", approver="tax"))
    assert [r.repair_id for r in store.list_repairs(approver="court")] == ["rep-1"]
    assert [r.repair_id for r in store.list_repairs(subject_indexes=["idx-alice"])] == [
        "rep-1", "rep-3"]
    rejected = store.decide_repair("rep-3", approve=False, at=AT, by="tax",
                                   decision_ciphertext=b"\x03why")
    assert (rejected.status, rejected.decided_by, rejected.decision_ciphertext) == (
        "rejected", "tax", b"\x03why")
    approved = store.decide_repair("rep-1", approve=True, at=AT, by="court",
                                   decision_ciphertext=b"")
    assert approved.status == "approved"
    assert ids(store.find_records(["idx-alice"], {"dishonest_debtor"})) == ["rec-0002"]
    record = store.get_record("rec-0001")
    assert record is not None and (record.state, record.state_ref) == (REPAIRED, "rep-1")
    with pytest.raises(FailedPrecondition) as info:
        store.decide_repair("rep-1", approve=True, at=AT, by="court", decision_ciphertext=b"")
    assert info.value.reason == "repair_decided"
    assert [r.repair_id for r in store.list_repairs(status="pending")] == []
    with pytest.raises(NotFound):
        store.decide_repair("rep-x", approve=True, at=AT, by="court", decision_ciphertext=b"")
    with pytest.raises(FailedPrecondition):
        store.put_repair(repair(4))  # repaired: no longer in use


def test_blacklist_lists_lifts_and_survives_a_restart(store: RecordStore) -> None:
    listed = store.blacklist_party(BlacklistRow(party="agency", listed_at=AT,
                                                listed_by="officer", reason="违规查询"))
    assert listed.active and listed.entry_id > 0 and listed.reason == "违规查询"
    with pytest.raises(FailedPrecondition) as info:
        store.blacklist_party(BlacklistRow(party="agency", listed_at=AT, listed_by="officer",
                                           reason="again"))
    assert info.value.reason == "already_blacklisted"
    assert [r.party for r in store.list_blacklist()] == ["agency"]
    store.close()
    again = reopen(store)
    try:
        assert [r.party for r in again.list_blacklist()] == ["agency"]
        lifted = again.lift_blacklist("agency", at="2026-12-01T00:00:00Z", by="officer",
                                      reason="rectified")
        assert not lifted.active and lifted.lift_reason == "rectified"
        with pytest.raises(FailedPrecondition) as info:
            again.lift_blacklist("agency", at=AT, by="officer", reason="x")
        assert info.value.reason == "not_blacklisted"
        assert again.list_blacklist() == []
        again.blacklist_party(BlacklistRow(party="agency", listed_at=AT, listed_by="officer",
                                           reason="relapse"))
        history = again.list_blacklist(include_lifted=True)
        assert [(r.party, r.active) for r in history] == [("agency", False), ("agency", True)]
    finally:
        again.close()


def test_submission_lags_count_original_submissions(store: RecordStore) -> None:
    store.put_records([
        make_record(1, event_date=date(2024, 1, 1), submitted_at="2024-01-11T03:00:00Z"),
        make_record(2, provider="tax", event_date=date(2024, 1, 1),
                    submitted_at="2024-01-01T23:59:59Z"),
        make_record(3, event_date=date(2023, 12, 1), submitted_at="2024-01-01T00:00:00Z",
                    replaces="rec-0001"),
        make_record(4, provider="tax", source_record_id="T-4", event_date=date(2024, 1, 2),
                    submitted_at="2024-01-01T20:00:00Z"),
    ])
    # Days are the city's (UTC+8): 23:59:59Z on 1 January is the 2nd there (one day
    # after the event), and 20:00Z on the 1st is already the event's day (no lag, never
    # a negative one).
    assert sorted(store.submission_lags()) == [("court", 10), ("tax", 0), ("tax", 1)]


def test_publication_times_of_original_submissions_in_any_state(store: RecordStore) -> None:
    store.put_records([
        make_record(1, category="admin_penalty", provider="market", event_date=date(2026, 9, 1),
                    submitted_at="2026-11-27T20:00:00Z"),
        make_record(2, category="admin_penalty", provider="market",
                    event_date=date(2026, 9, 2), replaces="rec-0001"),
        make_record(3, category="admin_licence", provider="psb"),
        make_record(4),
    ])
    store.put_records([make_record(5, category="admin_licence", provider="psb")],
                      pending_for="req-1", at=datetime(2026, 11, 28, tzinfo=UTC))
    # A withdrawn record keeps its publication time; a correction and a pending record
    # are no first publications; other categories are not asked for.
    store.retire_record("rec-0001", state=WITHDRAWN_STATE, at=AT, ref="entered_in_error")
    assert sorted(store.publication_times({"admin_penalty", "admin_licence"})) == [
        ("market", "admin_penalty", "2026-11-27T20:00:00Z", date(2026, 9, 1)),
        ("psb", "admin_licence", "2024-01-02T03:04:05Z", date(2024, 1, 1))]
    assert store.publication_times(set()) == []


def test_an_older_sqlite_file_gains_the_lifecycle_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE records (record_id TEXT PRIMARY KEY, provider TEXT NOT NULL, "
            "source_record_id TEXT NOT NULL, subject_index TEXT NOT NULL, subject_ct BLOB "
            "NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL, event_date TEXT NOT "
            "NULL, display_end TEXT, submitted_at TEXT NOT NULL, submission_digest TEXT NOT "
            "NULL, fields TEXT NOT NULL, UNIQUE (provider, source_record_id))")
        conn.execute("INSERT INTO records VALUES ('rec-old', 'court', 's', 'idx-alice', x'00', "
                     "'dishonest_debtor', 'serious', '2024-01-01', NULL, "
                     "'2024-01-02T00:00:00Z', 'd', '{}')")
    migrated = SqliteStore(path)
    try:
        [record] = migrated.find_records(["idx-alice"], {"dishonest_debtor"})
        assert (record.state, record.domain, record.disputed) == (ACTIVE, "", False)
    finally:
        migrated.close()


def test_an_older_postgres_schema_gains_the_lifecycle_columns() -> None:
    import uuid

    import psycopg
    from psycopg import sql

    from gateway.records.postgres_store import PostgresStore

    contract._require_postgres()
    schema = f"credgate_test_{uuid.uuid4().hex[:16]}"
    ident = sql.Identifier(schema)
    try:
        with psycopg.connect(contract.PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
            conn.execute(sql.SQL(
                "CREATE TABLE {}.records (record_id TEXT PRIMARY KEY, provider TEXT NOT NULL, "
                "source_record_id TEXT NOT NULL, subject_index TEXT NOT NULL, subject_ct BYTEA "
                "NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL, event_date DATE NOT "
                "NULL, display_end DATE, submitted_at TEXT NOT NULL, submission_digest TEXT NOT "
                "NULL, fields TEXT NOT NULL, UNIQUE (provider, source_record_id))").format(ident))
            conn.execute(sql.SQL(
                "INSERT INTO {}.records VALUES ('rec-old', 'court', 's', 'idx-alice', '\\x00', "
                "'dishonest_debtor', 'serious', '2024-01-01', NULL, '2024-01-02T00:00:00Z', "
                "'d', '{{}}')").format(ident))
        migrated = PostgresStore(contract.PG_CONNINFO, schema=schema)
        try:
            [record] = migrated.find_records(["idx-alice"], {"dishonest_debtor"})
            assert (record.state, record.domain, record.disputed) == (ACTIVE, "", False)
        finally:
            migrated.close()
    finally:
        contract._drop_schema(schema)
