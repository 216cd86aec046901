"""The RecordStore contract, run against every implementation (SQLite and PostgreSQL).

PostgreSQL: the tests use ``CREDGATE_TEST_POSTGRES`` (a libpq conninfo) or, by
default, the server at 127.0.0.1:5432 (user postgres, database test), each test in a
fresh schema that is dropped afterwards. When that server cannot be reached the
postgres cases are skipped, except when ``CI=true``: there they fail, so CI cannot
pass without running them.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gateway.errors import AlreadyExists, ConsentRefused, NotFound, StoreUnavailable
from gateway.records.model import StoredRecord, StoredValue
from gateway.records.postgres_store import PostgresStore
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import ConsentRow, RecordStore
from tests.threads import run_together, times

PG_CONNINFO = os.environ.get(
    "CREDGATE_TEST_POSTGRES",
    "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3",
)
_PG_PARAMS = conninfo_to_dict(PG_CONNINFO)
PG_ADDRESS = f"{_PG_PARAMS.get('host', 'localhost')}:{_PG_PARAMS.get('port', 5432)}"


@cache
def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); probed once per session."""
    try:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _require_postgres() -> None:
    reason = _postgres_unreachable()
    if reason is None:
        return
    message = f"PostgreSQL not reachable at {PG_ADDRESS}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the PostgreSQL contract tests must run)",
                    pytrace=False)
    pytest.skip(message)


def _drop_schema(schema: str) -> None:
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def _fresh_postgres_store() -> Iterator[PostgresStore]:
    """A PostgresStore on a new, uniquely named schema, dropped (CASCADE) afterwards."""
    _require_postgres()
    schema = f"credgate_test_{uuid.uuid4().hex[:16]}"
    try:
        pg_store = PostgresStore(PG_CONNINFO, schema=schema, pool_size=8)
        try:
            yield pg_store
        finally:
            pg_store.close()
    finally:
        _drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordStore]:
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        sqlite_store = SqliteStore(tmp_path / "records.db")
        try:
            yield sqlite_store
        finally:
            sqlite_store.close()
    else:
        with _fresh_postgres_store() as pg_store:
            yield pg_store


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    """A fresh PostgresStore, for the few PostgreSQL-only checks."""
    with _fresh_postgres_store() as fresh:
        yield fresh


def reopen(store: RecordStore) -> RecordStore:
    """A new store instance over the same data."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.conninfo, schema=store.schema)


def count_records(store: RecordStore) -> int:
    """Rows in the records table, counted behind the store's back."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.conninfo) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.records").format(sql.Identifier(store.schema))
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


# -- builders -------------------------------------------------------------------------

ALL_BYTES = bytes(range(256))


def make_record(n: int, **changes: object) -> StoredRecord:
    rec = StoredRecord(
        record_id=f"rec-{n:04d}",
        provider="court",
        source_record_id=f"src-{n}",
        subject_index="idx-alice",
        subject_ciphertext=b"\x00subject-ct\xff" + n.to_bytes(2, "big"),
        category="dishonest_debtor",
        severity="serious",
        event_date=date(2024, 1, 1),
        display_end=None,
        submitted_at="2024-01-02T03:04:05Z",
        submission_digest=f"digest-{n}",
        fields={"case_no": StoredValue(plain="(2024)京01执123号"),
                "amount": StoredValue(ciphertext=b"ct-amount-" + bytes([n % 256]))},
    )
    return replace(rec, **changes)  # type: ignore[arg-type]


def make_consent(consent_id: str = "consent-1", **changes: object) -> ConsentRow:
    row = ConsentRow(
        consent_id=consent_id,
        issuer="citizen-portal",
        grantee="agency-a",
        purpose="loan_review",
        subject_index="idx-alice",
        not_before="2024-01-01T00:00:00Z",
        not_after="2025-01-01T00:00:00Z",
        max_uses=3,
        artefact_ciphertext=b"\x00artefact\xff" + ALL_BYTES,
        signature=b"sig-" + consent_id.encode(),
        issued_at="2024-01-01T00:00:00Z",
    )
    return replace(row, **changes)  # type: ignore[arg-type]


# -- records --------------------------------------------------------------------------


def test_record_round_trip_keeps_every_field(store: RecordStore) -> None:
    full = make_record(
        1,
        subject_ciphertext=ALL_BYTES,
        event_date=date(2023, 12, 31),
        display_end=date(2026, 12, 31),
        fields={
            "name": StoredValue(ciphertext=ALL_BYTES),
            "empty_ct": StoredValue(ciphertext=b""),
            "court": StoredValue(plain="北京市第一中级人民法院"),
            "note": StoredValue(plain="quote \" backslash \\ newline \n tab \t nul-free"),
            "blank": StoredValue(plain=""),
        },
    )
    open_ended = make_record(2, display_end=None, fields={}, event_date=date(2024, 2, 29))
    results = store.put_records([full, open_ended])
    assert [(r.index, r.record_id, r.created) for r in results] == [
        (0, "rec-0001", True), (1, "rec-0002", True)]

    found = store.find_records(["idx-alice"], {"dishonest_debtor"})
    assert found == [full, open_ended]
    assert found[0].subject_ciphertext == ALL_BYTES
    assert isinstance(found[0].subject_ciphertext, bytes)
    assert found[0].fields["name"].ciphertext == ALL_BYTES
    assert found[0].fields["empty_ct"] == StoredValue(ciphertext=b"")
    assert found[0].fields["court"] == StoredValue(plain="北京市第一中级人民法院")
    assert found[0].event_date == date(2023, 12, 31)
    assert found[0].display_end == date(2026, 12, 31)
    assert found[1].display_end is None
    assert found[1].fields == {}


def test_empty_batch_stores_nothing(store: RecordStore) -> None:
    assert store.put_records([]) == []
    assert count_records(store) == 0


def test_replay_is_idempotent_and_returns_the_first_record_id(store: RecordStore) -> None:
    first = store.put_records([make_record(1), make_record(2)])
    # A replay carries freshly minted record ids but the same content digest.
    replay = store.put_records([make_record(1, record_id="rec-new-1"),
                                make_record(2, record_id="rec-new-2")])
    assert [r.created for r in first] == [True, True]
    assert [(r.index, r.record_id, r.created) for r in replay] == [
        (0, "rec-0001", False), (1, "rec-0002", False)]
    assert count_records(store) == 2


def test_replay_mixed_with_new_records(store: RecordStore) -> None:
    store.put_records([make_record(1)])
    results = store.put_records([make_record(3), make_record(1, record_id="rec-x")])
    assert [(r.index, r.record_id, r.created) for r in results] == [
        (0, "rec-0003", True), (1, "rec-0001", False)]
    assert count_records(store) == 2


def test_same_source_id_from_another_provider_is_a_different_record(
    store: RecordStore,
) -> None:
    results = store.put_records([make_record(1), make_record(2, provider="tax",
                                                             source_record_id="src-1")])
    assert [r.created for r in results] == [True, True]
    assert count_records(store) == 2


def test_conflicting_resubmission_raises_and_stores_nothing_of_the_batch(
    store: RecordStore,
) -> None:
    store.put_records([make_record(1)])
    conflicting = make_record(1, record_id="rec-other", submission_digest="changed")
    with pytest.raises(AlreadyExists) as info:
        store.put_records([make_record(5), conflicting, make_record(6)])
    assert info.value.reason == "conflicting_resubmission"
    assert "record 1" in info.value.message
    assert count_records(store) == 1
    assert [r.record_id for r in store.find_records(["idx-alice"], {"dishonest_debtor"})] == [
        "rec-0001"]


def test_batch_is_atomic_when_the_third_of_three_conflicts(store: RecordStore) -> None:
    store.put_records([make_record(9)])
    batch = [make_record(1), make_record(2),
             make_record(9, record_id="rec-late", submission_digest="different")]
    with pytest.raises(AlreadyExists) as info:
        store.put_records(batch)
    assert "record 2" in info.value.message
    assert count_records(store) == 1
    # The first two were not kept: a clean retry creates them.
    retry = store.put_records(batch[:2])
    assert [r.created for r in retry] == [True, True]
    assert count_records(store) == 3


def test_duplicate_inside_one_batch(store: RecordStore) -> None:
    same = store.put_records([make_record(1), make_record(1, record_id="rec-dup")])
    assert [(r.record_id, r.created) for r in same] == [("rec-0001", True), ("rec-0001", False)]
    assert count_records(store) == 1
    with pytest.raises(AlreadyExists) as info:
        store.put_records([make_record(2), make_record(2, record_id="rec-dup2",
                                                      submission_digest="other")])
    assert "record 1" in info.value.message
    assert count_records(store) == 1


def test_records_in_categories_pages_by_record_id_across_subjects(store: RecordStore) -> None:
    store.put_records([
        make_record(1), make_record(2, subject_index="idx-bob"),
        make_record(3, category="tax_rating"), make_record(4, subject_index="idx-carol"),
    ])
    first = store.records_in_categories({"dishonest_debtor"}, limit=2)
    assert [r.record_id for r in first] == ["rec-0001", "rec-0002"]
    rest = store.records_in_categories({"dishonest_debtor"}, after=first[-1].record_id)
    assert [r.record_id for r in rest] == ["rec-0004"]
    assert store.records_in_categories(set()) == []


def test_find_records_filters_by_category_and_subject_indexes_and_orders(
    store: RecordStore,
) -> None:
    store.put_records([
        make_record(1, event_date=date(2024, 5, 1)),
        make_record(2, event_date=date(2023, 1, 1), subject_index="idx-alice-old-key"),
        make_record(3, event_date=date(2024, 1, 1), category="tax_rating"),
        make_record(4, event_date=date(2022, 6, 1), subject_index="idx-bob"),
        make_record(5, event_date=date(2024, 5, 1), record_id="rec-B"),
        make_record(6, event_date=date(2024, 5, 1), record_id="rec-a"),
        make_record(7, event_date=date(1999, 12, 31), category="honour"),
    ])
    alice = ["idx-alice", "idx-alice-old-key"]

    debts = store.find_records(alice, {"dishonest_debtor"})
    # By event date, then by record id in binary (code point) order: "0" < "B" < "a".
    assert [r.record_id for r in debts] == ["rec-0002", "rec-0001", "rec-B", "rec-a"]

    both = store.find_records(alice, ["dishonest_debtor", "tax_rating"])
    assert [r.record_id for r in both] == [
        "rec-0002", "rec-0003", "rec-0001", "rec-B", "rec-a"]

    assert [r.record_id for r in store.find_records(["idx-alice"], {"honour"})] == ["rec-0007"]
    assert [r.record_id for r in store.find_records(["idx-bob"], {"dishonest_debtor"})] == [
        "rec-0004"]
    assert store.find_records(["idx-carol"], {"dishonest_debtor"}) == []
    assert store.find_records(alice, {"volunteer"}) == []
    assert store.find_records([], {"dishonest_debtor"}) == []
    assert store.find_records(alice, set()) == []


# -- consents -------------------------------------------------------------------------


def test_consent_round_trip(store: RecordStore) -> None:
    row = make_consent()
    assert store.put_consent(row) is True
    got = store.get_consent("consent-1")
    assert got == row
    assert got is not None
    assert got.artefact_ciphertext == row.artefact_ciphertext
    assert isinstance(got.signature, bytes)
    assert (got.uses, got.revoked_at, got.revoke_reason) == (0, None, "")
    assert store.get_consent("consent-unknown") is None


def test_put_consent_twice_with_same_signature_is_idempotent(store: RecordStore) -> None:
    assert store.put_consent(make_consent()) is True
    assert store.put_consent(make_consent()) is False
    with pytest.raises(AlreadyExists) as info:
        store.put_consent(make_consent(signature=b"another signature"))
    assert info.value.reason == "consent_id_taken"
    assert store.get_consent("consent-1") == make_consent()


def test_revoke_keeps_the_first_time_and_reason(store: RecordStore) -> None:
    store.put_consent(make_consent())
    first = store.revoke_consent("consent-1", at="2024-03-01T00:00:00Z", reason="withdrawn")
    assert (first.revoked_at, first.revoke_reason) == ("2024-03-01T00:00:00Z", "withdrawn")
    again = store.revoke_consent("consent-1", at="2024-04-01T00:00:00Z", reason="other")
    assert (again.revoked_at, again.revoke_reason) == ("2024-03-01T00:00:00Z", "withdrawn")
    stored = store.get_consent("consent-1")
    assert stored is not None
    assert (stored.revoked_at, stored.revoke_reason) == ("2024-03-01T00:00:00Z", "withdrawn")
    with pytest.raises(NotFound) as info:
        store.revoke_consent("consent-unknown", at="2024-03-01T00:00:00Z", reason="x")
    assert info.value.reason == "consent_unknown"


def test_use_consent_counts_to_max_uses_then_refuses(store: RecordStore) -> None:
    store.put_consent(make_consent(max_uses=3))
    assert [store.use_consent("consent-1") for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ConsentRefused) as info:
        store.use_consent("consent-1")
    assert info.value.reason == "consent_used_up"
    stored = store.get_consent("consent-1")
    assert stored is not None
    assert stored.uses == 3


def test_use_of_a_revoked_consent_is_refused(store: RecordStore) -> None:
    store.put_consent(make_consent(max_uses=3))
    assert store.use_consent("consent-1") == 1
    store.revoke_consent("consent-1", at="2024-03-01T00:00:00Z", reason="withdrawn")
    with pytest.raises(ConsentRefused) as info:
        store.use_consent("consent-1")
    assert info.value.reason == "consent_revoked"
    stored = store.get_consent("consent-1")
    assert stored is not None
    assert stored.uses == 1


def test_revoked_wins_over_used_up(store: RecordStore) -> None:
    store.put_consent(make_consent(max_uses=1))
    store.use_consent("consent-1")
    store.revoke_consent("consent-1", at="2024-03-01T00:00:00Z", reason="withdrawn")
    with pytest.raises(ConsentRefused) as info:
        store.use_consent("consent-1")
    assert info.value.reason == "consent_revoked"


def test_use_of_an_unknown_consent_is_refused(store: RecordStore) -> None:
    with pytest.raises(ConsentRefused) as info:
        store.use_consent("consent-unknown")
    assert info.value.reason == "consent_unknown"


def test_concurrent_use_consent_never_exceeds_max_uses(store: RecordStore) -> None:
    store.put_consent(make_consent(max_uses=5))
    def use() -> int | str:
        try:
            return store.use_consent("consent-1")
        except ConsentRefused as exc:
            return exc.reason

    outcomes = run_together(use, times(8))
    counts = [n for n in outcomes if isinstance(n, int)]
    refusals = [r for r in outcomes if isinstance(r, str)]
    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert refusals == ["consent_used_up"] * 3
    stored = store.get_consent("consent-1")
    assert stored is not None
    assert stored.uses == 5


def test_concurrent_overlapping_batches_store_each_record_once(store: RecordStore) -> None:
    threads = 8

    def submit(worker: int) -> list[tuple[int, str, bool]]:
        # Same content, fresh record ids per worker; half of them in reverse order.
        batch = [make_record(n, record_id=f"rec-{n:04d}-w{worker}") for n in range(20)]
        if worker % 2:
            batch.reverse()
        results = store.put_records(batch)
        return [(int(rec.source_record_id.removeprefix("src-")), res.record_id, res.created)
                for rec, res in zip(batch, results, strict=True)]

    outcomes: dict[int, list[tuple[str, bool]]] = {}
    for stored in run_together(submit, [(w,) for w in range(threads)]):
        for n, record_id, created in stored:
            outcomes.setdefault(n, []).append((record_id, created))
    assert count_records(store) == 20
    for outcome in outcomes.values():
        assert len(outcome) == threads
        assert sum(created for _, created in outcome) == 1
        assert len({record_id for record_id, _ in outcome}) == 1


# -- lifecycle ------------------------------------------------------------------------


def test_close_then_reopen_sees_the_data(store: RecordStore) -> None:
    store.put_records([make_record(1, display_end=date(2027, 1, 1)), make_record(2)])
    store.put_consent(make_consent())
    store.use_consent("consent-1")
    store.close()
    store.close()  # closing twice is harmless

    again = reopen(store)
    try:
        found = again.find_records(["idx-alice"], {"dishonest_debtor"})
        assert found == [make_record(1, display_end=date(2027, 1, 1)), make_record(2)]
        consent = again.get_consent("consent-1")
        assert consent is not None
        assert consent.uses == 1
        replay = again.put_records([make_record(2, record_id="rec-new")])
        assert [(r.record_id, r.created) for r in replay] == [("rec-0002", False)]
    finally:
        again.close()


# -- PostgreSQL only ------------------------------------------------------------------


def test_postgres_unreachable_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        PostgresStore("host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=2")
    assert info.value.status == "UNAVAILABLE"
    assert info.value.detail


def test_postgres_closed_store_refuses(pg_store: PostgresStore) -> None:
    # Unlike SqliteStore, which silently reopens connections after close().
    pg_store.close()
    with pytest.raises(StoreUnavailable):
        pg_store.get_consent("consent-1")


# -- re-encryption: paging and compare-and-set ------------------------------------------


def test_rekey_is_a_compare_and_set_and_pages_cover_every_record(store: RecordStore) -> None:
    store.put_records([make_record(n) for n in range(5)])
    page = store.records_page(after="", limit=3)
    assert [r.record_id for r in page] == ["rec-0000", "rec-0001", "rec-0002"]
    assert [r.record_id for r in store.records_page(after=page[-1].record_id, limit=3)] == [
        "rec-0003", "rec-0004"]
    old = page[0]
    new = replace(old, subject_index="idx-alice-2", subject_ciphertext=b"\x01new",
                  fields={**old.fields, "debtor_name": StoredValue(ciphertext=b"\x01name")})
    # A second instance doing the same at the same time: exactly one of them wins.
    other = reopen(store)
    try:
        assert store.rekey_records([(old, new)]) == [True]
        assert other.rekey_records([(old, replace(new, subject_ciphertext=b"\x01other")),
                                    (page[1], page[1])]) == [False, True]
    finally:
        other.close()
    got = store.get_record(old.record_id)
    assert got is not None and got.subject_index == "idx-alice-2"
    assert got.subject_ciphertext == b"\x01new" and got.fields == new.fields
    assert [r.record_id for r in store.find_records(["idx-alice-2"], ["dishonest_debtor"])] == [
        old.record_id]


def test_rekey_consents_is_a_compare_and_set_and_keeps_the_use_count(
        store: RecordStore) -> None:
    for n in range(3):
        store.put_consent(make_consent(f"consent-{n}"))
    store.use_consent("consent-0")
    store.revoke_consent("consent-1", at="2024-06-01T00:00:00Z", reason="c2VhbGVk")
    rows = store.consents_page(after="", limit=10)
    assert [r.consent_id for r in rows] == ["consent-0", "consent-1", "consent-2"]
    assert store.consents_page(after="consent-1", limit=10)[0].consent_id == "consent-2"
    changes = [(row, replace(row, subject_index="idx-new", artefact_ciphertext=b"\x01new",
                             revoke_reason=row.revoke_reason and "bmV3")) for row in rows[:2]]
    stale = replace(rows[2], subject_index="idx-somebody-else")
    assert store.rekey_consents([*changes, (stale, stale)]) == [True, True, False]
    first, second = store.get_consent("consent-0"), store.get_consent("consent-1")
    assert first is not None and second is not None
    assert (first.subject_index, first.artefact_ciphertext, first.uses) == (
        "idx-new", b"\x01new", 1)
    assert second.revoke_reason == "bmV3" and second.revoked_at == "2024-06-01T00:00:00Z"
    # The same change again finds the rows changed: nothing is overwritten twice.
    assert store.rekey_consents(changes) == [False, False]
