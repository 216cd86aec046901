"""`credgate keys rotate log`: the log closes, a new one begins under a new origin and key,
and the evidence chain verifies across the boundary."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.audit.continuation import LOG_CLOSED, LOG_STARTED
from gateway.audit.export import export_range
from gateway.cli import main
from gateway.clock import FixedClock
from gateway.config import load_config
from gateway.consent.uses import OutcomeSweeper
from gateway.crypto.signatures import key_id, load_verify_key
from gateway.errors import ConfigurationError
from gateway.rotation.log import next_origin, rotate_log_key
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.platform.instances import fresh_database, url_of
from tests.services.records_data import debtor_record, identity_record
from tests.support import ADULT, KEYS, NOW, POLICIES


def _serve_a_little(live: LiveGateway, keys: Path) -> None:
    live.client("public_security", keys).submit_records([identity_record()])
    live.client("org_department", keys).query_subject(ADULT, "cadre_selection")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store and log: SQLite files, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with fresh_database() as conninfo:
        yield url_of(conninfo)


def _keys_and_config(tmp_path: Path, database: str) -> tuple[Path, Path]:
    """A copy of the example keys (rotation changes them) and a config file naming it."""
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    config_file = tmp_path / "credgate.toml"
    config_file.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n'
                           f'keys_dir = "{keys}"\npolicies_dir = "{POLICIES}"\n'
                           f'database = "{database}"\ndevelopment = true\n')
    return keys, config_file


def test_rotating_the_log_key_closes_the_log_and_the_chain_verifies_across_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str) -> None:
    keys, config_file = _keys_and_config(tmp_path, database)
    clock = FixedClock(NOW)
    old_public = (keys / "gateway.log.pub").read_text()
    live = start_live(tmp_path, clock, keys_dir=keys, database=database)
    try:
        _serve_a_little(live, keys)
        old_origin = live.gw.config.audit_origin
        capsys.readouterr()
        # Rotated while this instance still serves: from then on its calls fail closed.
        assert main(["keys", "rotate", "log", "--config", str(config_file)]) == 0
        said = capsys.readouterr().out
        with pytest.raises(grpc.RpcError) as refused:
            _serve_a_little(live, keys)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        stop_live(live)
    # No instance opens the closed log again.
    with pytest.raises(ConfigurationError):
        start_live(tmp_path, clock, keys_dir=keys, database=database)
    config = load_config(config_file)
    assert config.audit_origin == next_origin(old_origin) == f"{old_origin}/2"
    assert config.audit_location == ("audit-2.db" if database == "sqlite"
                                     else "credgate_log2")
    assert config.audit_origin in said
    retired = keys / "gateway.log.retired-1.pub"
    assert retired.read_text() == old_public != (keys / "gateway.log.pub").read_text()
    old_export = tmp_path / "data" / "closed-logs" / "1" / "log.export"
    assert Path(config.audit_previous_checkpoint) == old_export.with_name(
        "log.export.checkpoint")

    # The new log: its first entry names the old one's final checkpoint.
    live = start_live(tmp_path, clock, keys_dir=keys, database=database,
                      audit_origin=config.audit_origin,
                      audit_location=config.audit_location,
                      audit_previous_checkpoint=config.audit_previous_checkpoint)
    try:
        [(seq, first)] = live.gw.audit.read(start=1, limit=1)
        assert seq == 1 and first.action == LOG_STARTED
        assert f"key {key_id(load_verify_key(retired))}" in first.reason
        _serve_a_little(live, keys)
        evidence = live.gw.audit_evidence
        new_export = tmp_path / "new.export"
        export_range(live.gw.audit, evidence.tree, evidence.checkpointer, new_export)
        own_first_checkpoint = evidence.store.between(limit=1)[0].note
    finally:
        stop_live(live)

    # The regulator: the old log with the retired key (its last entry says where it went),
    # the new log with the new key, and the link between them.
    assert main(["audit", "verify", str(old_export), "--log-key", str(retired)]) == 0
    assert LOG_CLOSED.encode() in old_export.read_bytes().splitlines()[-1]
    assert main(["audit", "verify", str(old_export), "--log-key",
                 str(keys / "gateway.log.pub")]) != 0
    across = ["audit", "verify", str(new_export), "--log-key", str(keys / "gateway.log.pub"),
              "--continues", config.audit_previous_checkpoint]
    assert main([*across, "--continues-key", str(retired)]) == 0
    assert "continues" in capsys.readouterr().out
    # The link is checked, not assumed: the wrong previous key, or another checkpoint.
    assert main([*across, "--continues-key", str(keys / "gateway.log.pub")]) == 1
    other = tmp_path / "other.checkpoint"
    other.write_text(own_first_checkpoint)
    assert main([*across[:-1], str(other), "--continues-key", str(keys / "gateway.log.pub")]
                ) == 1


def test_a_log_is_not_closed_twice_nor_continued_under_its_own_origin(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    config = load_config(None, keys_dir=keys, data_dir=tmp_path / "data",
                         policies_dir=POLICIES, development="true")
    with pytest.raises(ConfigurationError):
        rotate_log_key(config, origin=config.audit_origin, clock=FixedClock(NOW))
    before = (keys / "gateway.log.key").read_text()
    (tmp_path / "data" / "closed-logs" / "1").mkdir(parents=True)
    with pytest.raises(ConfigurationError):
        rotate_log_key(config, clock=FixedClock(NOW))
    assert (keys / "gateway.log.key").read_text() == before  # nothing changed


def test_a_use_released_under_a_closed_log_is_not_given_back_under_the_new_one(
        tmp_path: Path) -> None:
    # A consented query is allowed under the old log; its settled use is not written yet
    # (uses are written in batches) when the log is rotated. The new log's sweeper does
    # not find that allow entry (it is in the closed log): the use must stay spent, or
    # a max_uses consent releases more times than it allows.
    keys, config_file = _keys_and_config(tmp_path, "sqlite")
    clock = FixedClock(NOW)
    old = start_live(tmp_path, clock, keys_dir=keys)
    new: LiveGateway | None = None
    try:
        old.client("court", keys).submit_records([debtor_record("ROT-1")])
        consent_id = old.client("citizen_portal", keys).issue_consent(
            subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
            categories=["dishonest_debtor"], not_before=NOW - timedelta(minutes=1),
            not_after=NOW + timedelta(days=30), max_uses=1)
        assert old.client("credit_agency", keys).query_subject(
            ADULT, "authorised_query", consent_id=consent_id).records
        clock.advance(timedelta(minutes=1))
        assert main(["keys", "rotate", "log", "--config", str(config_file)]) == 0
        config = load_config(config_file)
        new = start_live(tmp_path, clock, keys_dir=keys, audit_origin=config.audit_origin,
                         audit_location=config.audit_location,
                         audit_previous_checkpoint=config.audit_previous_checkpoint)
        later = FixedClock(clock.now() + timedelta(minutes=10))
        sweeper = OutcomeSweeper(new.gw.store, new.gw.audit, clock=later,
                                 grace=timedelta(minutes=5))
        assert sweeper.sweep().uses_given_back == 0
        row = new.gw.store.get_consent(consent_id)
        assert row is not None and row.uses == 1
        with pytest.raises(grpc.RpcError) as refused:
            new.client("credit_agency", keys).query_subject(ADULT, "authorised_query",
                                                            consent_id=consent_id)
        assert "used up" in (refused.value.details() or "")
    finally:
        for live in (new, old):
            if live is not None:
                stop_live(live)
