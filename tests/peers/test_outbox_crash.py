"""The outbox survives a crash: kill -9 in the middle of pushing, restart, and every
correction arrives at the province after the listing it corrects, once (issue 18 item 2).

The city runs as `credgate serve` in a process of its own (pushing one change per call),
the province in this one; both on the real clock.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from gateway.client import CredgateClient, PartyCredentials
from gateway.clock import SystemClock
from gateway.config import REPO_ROOT
from gateway.crypto.blind_index import blind_index
from gateway.peers.receive import local_record_id
from gateway.records.lifecycle import ACTIVE, SUPERSEDED
from tests.audit.shared_support import PG_URL, pg_admin, require_postgres
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.peers.platforms import CITY, PROVINCE, city_and_province, free_port, trust
from tests.services.records_data import debtor_record
from tests.support import make_id_number

pytestmark = pytest.mark.e2e
LISTINGS = 12


@contextmanager
def city_process(config: Path) -> Iterator[subprocess.Popen[str]]:
    """`credgate serve --config` for the city; killed at the end whatever happened.

    Its standard error (one access line per call) goes to a file, never a pipe that
    would fill and stop it."""
    log = config.with_name(f"city-{time.monotonic_ns()}.log")
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
            cwd=REPO_ROOT, stderr=err, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        _wait(lambda: "serving on port" in log.read_text() or proc.poll() is not None,
              "the city to start")
        assert proc.poll() is None, log.read_text()[-2000:]
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _outbox_depth(where: Path | str) -> int:
    """Rows in the city's outbox, read behind its back (its SQLite file or PG schema)."""
    if isinstance(where, Path):
        with sqlite3.connect(where) as db:
            return int(db.execute("SELECT count(*) FROM peer_outbox").fetchone()[0])
    return int(pg_admin(f'SELECT count(*) FROM "{where}".peer_outbox')[0][0])


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting: {what}")


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_correction_arrives_in_order_after_a_kill_in_the_middle_of_the_outbox(
        tmp_path: Path, database: str) -> None:
    schema = f"credgate_crash_{uuid.uuid4().hex[:12]}"
    if database == "postgres":
        require_postgres()
    city, province = city_and_province(tmp_path)
    port, province_port = free_port(), free_port()
    trust(city, province, target=f"127.0.0.1:{province_port}")
    trust(province, city)
    config = tmp_path / "city.toml"
    config.write_text(
        "[gateway]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'data_dir = "{tmp_path / "city-data"}"\n'
        f'keys_dir = "{city.keys}"\n'
        f'policies_dir = "{city.policies}"\n'
        "development = true\n"
        f'platform_id = "{CITY}"\n'
        "peer_push_interval_s = 0.05\n"
        "peer_push_batch = 1\n"
        + (f'database = "{PG_URL}"\ndatabase_schema = "{schema}"\n'
           if database == "postgres" else ""), encoding="utf-8")
    records_db: Path | str = (tmp_path / "city-data" / "records.db" if database == "sqlite"
                              else schema)

    def province_up() -> LiveGateway:
        return start_live(tmp_path / "province-data", SystemClock(),  # type: ignore[arg-type]
                          keys_dir=province.keys, policies=province.policies,
                          listen=f"127.0.0.1:{province_port}", platform_id=PROVINCE)

    def applied_after(seq: int) -> int:
        with sqlite3.connect(tmp_path / "province-data" / "data" / "records.db") as db:
            return int(db.execute("SELECT count(*) FROM peer_received WHERE last_seq > ?",
                                  (seq,)).fetchone()[0])

    people = [make_id_number("330106", date(1981, 3, 4), 500 + n) for n in range(LISTINGS)]
    prov = province_up()
    try:
        with city_process(config) as proc:
            court = CredgateClient(f"127.0.0.1:{port}",
                                   PartyCredentials.from_keys_dir(city.keys, "court"))
            with court:
                # 1. The listings reach the province.
                listed = court.submit_records(
                    [debtor_record(f"(2026)浙01执7{n:03d}号", people[n])
                     for n in range(LISTINGS)])
                originals = [r.record_id for r in listed.results]
                _wait(lambda: _outbox_depth(records_db) == 0, "the listings to go up")
                # 2. With the province down, the court corrects every listing.
                stop_live(prov)
                for n, record_id in enumerate(originals):
                    court.revise_record(record_id=record_id, reason="entered_in_error",
                                        correction=debtor_record(
                                            f"(2026)浙01执7{n:03d}号-更正", people[n],
                                            amount="80000.00"))
            # 3. The province is back; the city is killed while it pushes the corrections.
            prov = province_up()
            _wait(lambda: applied_after(LISTINGS) > 0, "the first corrections to go up")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert _outbox_depth(records_db) > 0, "the kill came after the outbox had drained"
        # 4. Restarted on the same data, the city resumes where the outbox stands.
        with city_process(config):
            _wait(lambda: _outbox_depth(records_db) == 0, "the outbox to drain")
        received = prov.gw.store
        for n, original in enumerate(originals):
            old = received.find_record_by_source(CITY, original)
            assert old is not None and old.state == SUPERSEDED and old.fields == {}
            [new] = received.find_records([blind_index(prov.gw.keyring, people[n])],
                                          ["dishonest_debtor"])
            assert new.replaces == local_record_id(CITY, original)
            assert new.state == ACTIVE and new.fields["amount"].plain == "80000.00"
        # Each record once: a listing and its correction, nothing twice.
        assert len(received.records_page(limit=10_000)) == 2 * LISTINGS
    finally:
        stop_live(prov)
        if database == "postgres":
            pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
