"""The gateways' database role reads and writes rows and cannot change the schema.

The owner runs `credgate db migrate --grant ROLE`; the instances log in as ROLE. Whoever
holds the instances' credentials then still cannot drop, disable or replace what keeps
the audit log append-only, nor alter a table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from gateway.app import Gateway
from gateway.cli import main
from gateway.clock import FixedClock
from gateway.config import Config
from gateway.errors import CredgateError
from tests.live_gateway import start_live, stop_live
from tests.platform.instances import fresh_database, url_of
from tests.records import test_store_contract as contract
from tests.services.records_data import debtor_record
from tests.support import ADULT, KEYS, POLICIES

pytestmark = pytest.mark.e2e

#: What a role with DDL (or more than row rights) could do to the log and the store.
FORBIDDEN = (
    "DROP TABLE credgate.tlog_entries",
    "ALTER TABLE credgate.tlog_entries DISABLE TRIGGER ALL",
    "DROP TRIGGER tlog_entries_no_change ON credgate.tlog_entries",
    "CREATE OR REPLACE FUNCTION credgate.tlog_refuse() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NULL; END $$",
    "TRUNCATE credgate.tlog_entries",
    "DELETE FROM credgate.tlog_entries",
    "UPDATE credgate.tlog_entries SET entry = entry",
    "DELETE FROM credgate.tlog_checkpoints",
    "UPDATE credgate.tlog_checkpoints SET note = note",
    "DELETE FROM credgate.tlog_state",
    "UPDATE credgate.tlog_state SET size = 0",
    "ALTER TABLE credgate.records ADD COLUMN planted TEXT",
    "ALTER TABLE credgate.records DISABLE TRIGGER ALL",
    "CREATE TABLE credgate.planted (x INT)",
    "CREATE SCHEMA planted",
    "DROP SCHEMA credgate CASCADE",
    "SET session_replication_role = replica",
    "ALTER ROLE CURRENT_USER SUPERUSER",
    "ALTER ROLE CURRENT_USER BYPASSRLS",
    "CREATE ROLE planted LOGIN SUPERUSER",
    "ALTER TABLE credgate.tlog_entries OWNER TO CURRENT_USER",
    "COMMENT ON TABLE credgate.tlog_entries IS 'planted'",
    "CREATE INDEX planted ON credgate.records (provider)",
)


def as_role(conninfo: str, role: str) -> str:
    """The same database, logged in as another role."""
    params = conninfo_to_dict(conninfo)
    params["user"] = role
    return make_conninfo(**params)


@pytest.fixture
def app_role() -> Iterator[str]:
    """A new login role with no rights of its own (dropped afterwards)."""
    contract._require_postgres()
    role = f"credgate_app_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(contract.PG_CONNINFO, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        with psycopg.connect(contract.PG_CONNINFO, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def migrated(app_role: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, str]]:
    """A fresh database migrated by its owner with the app role granted: (owner, app)
    conninfos."""
    with fresh_database() as owner:
        assert main(["db", "migrate", "--database", url_of(owner), "--grant", app_role]) == 0
        out = capsys.readouterr().out
        assert "at version" in out and app_role in out
        yield owner, as_role(owner, app_role)


def test_a_gateway_on_a_role_without_ddl_serves_and_keeps_its_log(
        migrated: tuple[str, str], tmp_path: Path, clock: FixedClock) -> None:
    _, app = migrated
    live = start_live(tmp_path, clock, database=url_of(app))
    try:
        court = live.client("court")
        assert court.submit_records([debtor_record("ROLE-1")]).results[0].created
        answer = live.client("org_department").query_subject(ADULT, "cadre_selection")
        assert answer.records
        checkpoint = live.gw.audit_evidence.checkpointer.checkpoint_now()
        assert checkpoint.size == live.gw.audit.size() >= 2
    finally:
        stop_live(live)


def test_the_gateways_role_cannot_change_the_schema_or_the_log(
        migrated: tuple[str, str], tmp_path: Path, clock: FixedClock) -> None:
    owner, app = migrated
    live = start_live(tmp_path, clock, database=url_of(app))
    try:
        live.client("court").submit_records([debtor_record("ROLE-2")])
    finally:
        stop_live(live)

    def state() -> tuple[object, ...]:
        with psycopg.connect(owner) as conn:
            return (
                conn.execute("SELECT count(*), max(seq), sum(length(entry)) "
                             "FROM credgate.tlog_entries").fetchone(),
                conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'tlog_%' "
                             "AND tgenabled = 'O'").fetchone(),
                conn.execute("SELECT count(*) FROM pg_tables "
                             "WHERE schemaname = 'credgate'").fetchone(),
            )

    before = state()
    went_through = []
    for statement in FORBIDDEN:
        with psycopg.connect(app, autocommit=True) as conn:
            try:
                conn.execute(statement)
            except psycopg.Error:
                continue
            went_through.append(statement)
    assert went_through == []
    assert state() == before
    assert before[1] == (6,)


def test_a_role_without_ddl_on_an_unmigrated_database_is_told_to_migrate(
        app_role: str, tmp_path: Path) -> None:
    with fresh_database() as owner:
        config = Config(data_dir=tmp_path / "data", keys_dir=KEYS, policies_dir=POLICIES,
                        database=url_of(as_role(owner, app_role)), development=True)
        with pytest.raises(CredgateError) as info:
            Gateway.open(config)
    assert "credgate db migrate" in info.value.detail


def test_grant_needs_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate", "--database", "sqlite", "--data-dir", str(tmp_path),
                 "--grant", "someone"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
    assert main(["db", "migrate", "--database", "sqlite", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "records.db").exists()
