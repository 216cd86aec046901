"""Several processes run the monitor over one shared log, on SQLite and on PostgreSQL:
every alert reaches the log exactly once, even when the evaluating process crashes just
before or just after appending one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Catalogue
from gateway.monitoring.cursor import MonitorStore
from gateway.monitoring.engine import MonitorContext, RuleEngine
from gateway.monitoring.rules import load_monitoring
from tests.audit.shared_support import fresh_schema, make_backend, open_log
from tests.monitoring.monitor_worker import monitor_backend
from tests.support import NOW, POLICIES, REPO

pytestmark = pytest.mark.e2e
LEASE = "0.5"


def entry(minutes: int, party: str, subject: int) -> AuditEntry:
    return AuditEntry(time=NOW + timedelta(minutes=minutes), trace_id="", requester=party,
                      action="query.subject", purpose="authorised_query",
                      subject_index=f"k1:{subject:064x}", categories=(), fields_released=(),
                      consent_id="", policy_rule="", policy_version="t", decision="allow",
                      reason="", request_id="", record_count=0)


def stream() -> list[AuditEntry]:
    """Sixty people each looked up by both agencies: sixty many_agencies alerts."""
    return [entry(2 * i + k, party, i) for i in range(60)
            for k, party in enumerate(("credit_agency", "credit_agency_b"))]


@contextmanager
def location(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp_path)
    else:
        with fresh_schema() as schema:
            yield schema


def worker(kind: str, where: str, data_dir: Path, holder: str,
           die: str = "") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.monitoring.monitor_worker", kind, where, str(data_dir),
         holder, die, LEASE], cwd=REPO, stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("die", ["before_append:7", "after_append:7"])
def test_each_alert_is_logged_once_across_processes_and_crashes(
        kind: str, die: str, tmp_path: Path, catalogue: Catalogue) -> None:
    rules = load_monitoring(POLICIES, catalogue)
    with location(kind, tmp_path) as where:
        backend = make_backend(kind, where)
        with open_log(backend, tmp_path / "test") as (log, _evidence):
            seqs = log.append_many(stream())
            engine = RuleEngine(rules, MonitorContext.from_catalogue(catalogue))
            expected = {a.alert_id for seq, e in zip(seqs, stream(), strict=True)
                        for a in engine.feed(seq, e)}
            assert len(expected) == 60
            # One process crashes around its seventh alert; two others carry on together.
            crashed = worker(kind, where, tmp_path / "a", "gw-a:1", die)
            assert crashed.wait(timeout=120) == 3
            others = [worker(kind, where, tmp_path / name, f"gw-{name}:1")
                      for name in ("b", "c")]
            logged = [json.loads(p.communicate(timeout=180)[0])["alerts"] for p in others]
            entries = [e for _, e in log.read(start=1, limit=10_000) if e.action == "alert"]
        ids = [e.request_id for e in entries]
        assert len(ids) == len(set(ids)), "an alert was logged twice"
        assert set(ids) == expected, "an alert was lost"
        # The crashed process appended 6 (before_append) or 7 (after_append) alerts.
        assert sum(logged) == 60 - (6 if die.startswith("before") else 7)
        store = MonitorStore(monitor_backend(kind, where))
        try:
            positions = {e.request_id: seq for seq, e in log_entries(kind, where, tmp_path)}
            for alert_id in expected:
                assert store.alert(alert_id) == (True, positions[alert_id])
        finally:
            store.close()


def log_entries(kind: str, where: str, tmp_path: Path) -> list[tuple[int, AuditEntry]]:
    with open_log(make_backend(kind, where), tmp_path / "check") as (log, _evidence):
        return [(s, e) for s, e in log.read(start=1, limit=10_000) if e.action == "alert"]
