"""Versioned schema migrations of the record store, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gateway.errors import StoreUnavailable
from gateway.records.migrations import LATEST, MIGRATIONS
from gateway.records.postgres_store import PostgresStore
from gateway.records.sqlite_store import SqliteStore
from tests.records import test_store_contract as contract


def _versions_sqlite(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def test_a_new_sqlite_file_records_every_version_once(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    SqliteStore(path).close()
    SqliteStore(path).close()  # opening again applies nothing twice
    assert _versions_sqlite(path) == [m.version for m in MIGRATIONS]
    assert _versions_sqlite(path)[-1] == LATEST


def test_a_newer_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', 'x')",
                     (LATEST + 1,))
    with pytest.raises(StoreUnavailable) as info:
        SqliteStore(path)
    assert "newer than this gateway" in info.value.detail


def test_a_file_of_the_unversioned_schema_opens_with_its_data(tmp_path: Path) -> None:
    # A data directory of the gateway before versioning: every table, no schema_version.
    path = tmp_path / "records.db"
    store = SqliteStore(path)
    store.put_records([contract.make_record(1)])
    store.put_consent(contract.make_consent())
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE schema_version")
    again = SqliteStore(path)
    try:
        assert [r.record_id for r in again.find_records(["idx-alice"], {"dishonest_debtor"})
                ] == ["rec-0001"]
        assert again.get_consent("consent-1") == contract.make_consent()
    finally:
        again.close()
    assert _versions_sqlite(path) == [m.version for m in MIGRATIONS]


@pytest.mark.e2e
def test_postgres_migrates_once_and_refuses_a_newer_schema() -> None:
    contract._require_postgres()
    schema = f"credgate_test_{uuid.uuid4().hex[:16]}"
    try:
        stores = [PostgresStore(contract.PG_CONNINFO, schema=schema, pool_size=1)
                  for _ in range(2)]
        for store in stores:
            store.close()
        with psycopg.connect(contract.PG_CONNINFO) as conn:
            rows = conn.execute(sql.SQL("SELECT version FROM {}.schema_version ORDER BY 1")
                                .format(sql.Identifier(schema))).fetchall()
            assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
            conn.execute(sql.SQL("INSERT INTO {}.schema_version VALUES (%s, 'future', 'x')")
                         .format(sql.Identifier(schema)), (LATEST + 1,))
        with pytest.raises(StoreUnavailable) as info:
            PostgresStore(contract.PG_CONNINFO, schema=schema)
        assert "newer than this gateway" in info.value.detail
    finally:
        contract._drop_schema(schema)
