"""Quotas hold across gateway instances: processes on one PostgreSQL database, and
processes sharing one embedded SQLite data folder. Each limit kind is tried past its
limit through alternating instances; a soak at three instances counts every call."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from datetime import date
from pathlib import Path

import grpc
import psycopg
import pytest

from gateway.audit.entry import AuditEntry
from gateway.pii.idnumber import make_id_number
from tests.platform.instances import GatewayProcess, platform, start_processes
from tests.support import ADULT, POLICIES

pytestmark = pytest.mark.e2e  # gateway processes on PostgreSQL and on shared SQLite

LIMITS = """
[limits.minute]
party = "org_department"
purpose = "cadre_selection"
calls_per_minute = 12

[limits.day]
party = "hr_bureau"
purpose = "personnel_exam"
calls_per_day = 7

[limits.people]
party = "hr_bureau"
purpose = "title_evaluation"
subjects_per_day = 4

[limits.burst]
party = "hr_bureau"
purpose = "awards"
calls_per_minute = 60
burst = 5

[limits.soak]
party = "education_bureau"
purpose = "scholarship"
calls_per_minute = 45
"""
PEOPLE = [make_id_number("330106", date(1980 + n, 3, 1), 100 + n) for n in range(8)]


def limited_policies(root: Path) -> Path:
    dest = root / "policies"
    shutil.copytree(POLICIES, dest)
    (dest / "limits.toml").write_text(LIMITS, encoding="utf-8")
    return dest


def attempt(gw: GatewayProcess, party: str, purpose: str, subject: str = ADULT) -> bool:
    """One query: True when served, False when refused for a quota (anything else fails)."""
    try:
        gw.client(party).query_subject(subject, purpose)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
        return False
    return True


def alternating(gateways: Sequence[GatewayProcess], party: str, purpose: str,
                subjects: Sequence[str]) -> list[tuple[str, bool]]:
    """Each subject asked at the next instance in turn: (subject, served)."""
    return [(s, attempt(gateways[n % len(gateways)], party, purpose, s))
            for n, s in enumerate(subjects)]


def check_each_kind(gateways: Sequence[GatewayProcess]) -> None:
    """Every limit kind, tried past its limit through alternating instances."""
    minute = alternating(gateways, "org_department", "cadre_selection", [ADULT] * 16)
    assert sum(ok for _, ok in minute) == 12 and not any(ok for _, ok in minute[12:])
    day = alternating(gateways, "hr_bureau", "personnel_exam", [ADULT] * 10)
    assert sum(ok for _, ok in day) == 7
    people = alternating(gateways, "hr_bureau", "title_evaluation", PEOPLE)
    assert len({s for s, ok in people if ok}) == 4
    # A person counted already is asked about again at the same instance for nothing.
    again = [s for s, ok in people[::2] if ok]
    assert again and all(attempt(gateways[0], "hr_bureau", "title_evaluation", s)
                         for s in again)
    burst = alternating(gateways, "hr_bureau", "awards", [ADULT] * 8)
    assert sum(ok for _, ok in burst) == 5  # the clock stands still: no refill


@contextmanager
def shared_sqlite(root: Path, count: int, policies: Path) -> Iterator[list[GatewayProcess]]:
    """`count` gateway processes on one data folder (embedded SQLite)."""
    processes = start_processes(root / "data", "sqlite", count,
                                {"policies_dir": str(policies)}, one_folder=True)
    with ExitStack() as stack:
        for p in processes:
            stack.callback(p.stop)
        yield processes


def test_each_limit_holds_across_two_instances_on_postgresql(tmp_path: Path) -> None:
    with platform(tmp_path, 2, {"policies_dir": str(limited_policies(tmp_path))}) \
            as (_, gateways):
        check_each_kind(gateways)


def test_each_limit_holds_across_two_instances_on_one_sqlite_folder(tmp_path: Path) -> None:
    policies = limited_policies(tmp_path)
    with shared_sqlite(tmp_path, 2, policies) as gateways:
        check_each_kind(gateways)
    # Restarted, the instances find the counters where they were.
    with shared_sqlite(tmp_path, 2, policies) as gateways:
        assert not alternating(gateways, "org_department", "cadre_selection", [ADULT])[0][1]
        assert not alternating(gateways, "hr_bureau", "personnel_exam", [ADULT])[0][1]
    with closing(sqlite3.connect(tmp_path / "data" / "audit.db")) as db:
        entries = [AuditEntry.from_canonical(bytes(row[0]))
                   for row in db.execute("SELECT entry FROM tlog_entries")]
    allowed = [e for e in entries if e.requester == "org_department" and e.decision == "allow"]
    assert len(allowed) == 12  # one entry per call served, and no more were served


def test_soak_three_instances_never_serve_over_the_limit(tmp_path: Path) -> None:
    """Six callers at three instances against a limit of 45, every call counted."""
    with platform(tmp_path, 3, {"policies_dir": str(limited_policies(tmp_path))}) \
            as (conninfo, gateways):

        def caller(n: int) -> list[bool]:
            return [attempt(gateways[n % 3], "education_bureau", "scholarship")
                    for _ in range(20)]

        with ThreadPoolExecutor(6) as pool:
            outcomes = [ok for run in pool.map(caller, range(6)) for ok in run]
        with psycopg.connect(conninfo) as db:
            rows = db.execute("SELECT entry FROM credgate.tlog_entries").fetchall()
    entries = [AuditEntry.from_canonical(bytes(row[0])) for row in rows]
    mine = [e for e in entries if e.requester == "education_bureau"]
    served = sum(outcomes)
    assert len(outcomes) == 120 and len(mine) == 120  # every call answered and audited
    assert served <= 45  # none over the limit
    # Leases left unspent at an instance are the only calls not served: one block each.
    assert served >= 45 - 3 * 4
    assert sum(e.decision == "allow" for e in mine) == served
    assert all(e.reason == "quota" for e in mine if e.decision == "deny")
