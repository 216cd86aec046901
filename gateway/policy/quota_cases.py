"""`credgate policy test` for limits.toml: quota cases kept beside the decision cases.

A ``[[quota]]`` table in policies/tests/*.toml names a run of calls and what the last
one must get:

    [[quota]]
    name = "an agency's 61st call at once is refused"
    role = "credit_agency"          # or: party = "credit_agency"
    purpose = "authorised_query"
    calls = 61                      # calls made one after another
    subjects = 1                    # different people they ask about, in turn (default 1)
    seconds = 0                     # spread evenly over this many seconds (default 0)
    expect = "deny"                 # the last call: allow | deny
    limit = "burst"                 # optional: the limit that must refuse it
    why = "an agency's burst allowance is 60"

The run is played through the gateway's own quota step (gateway.policy.quotas) over counters in
memory, starting at the beginning of a city day, so a case means what a live gateway
would do. A role case is played for every party holding the role.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Catalogue
from gateway.clock import FixedClock
from gateway.errors import ConfigurationError, QuotaExceeded
from gateway.monitoring.replay import FILE_GLOB as MONITORING_GLOB
from gateway.policy.case_tables import QuotaCaseTable, read_case_file
from gateway.policy.case_tables import subject as case_subject
from gateway.policy.limits import KINDS, Limits
from gateway.policy.quotas import Quotas
from gateway.records.sql_quotas import share_of_remaining, take_tokens
from gateway.strict_toml import key_line

__all__ = ["QuotaCase", "QuotaCaseResult", "load_quota_cases", "run_quota_cases"]

#: Runs start at midnight in the city (UTC+8), so a run of a day stays in one day.
_START = datetime(2026, 1, 5, 0, 0, tzinfo=timezone(timedelta(hours=8)))


@dataclass(frozen=True)
class QuotaCase:
    """One named run of calls with the expected outcome of the last."""

    file: Path
    line: int
    name: str
    subject: str
    parties: tuple[str, ...]
    purpose: str
    calls: int
    subjects: int
    seconds: float
    expect: str
    limit: str
    why: str

    @property
    def id(self) -> str:
        """FILE/NAME, what `--run` matches."""
        return f"{self.file.stem}/{self.name}"


@dataclass(frozen=True)
class QuotaCaseResult:
    """A quota case and, per party, the limit that refused its last call ("" if none)."""

    case: QuotaCase
    outcomes: tuple[tuple[str, str], ...]  # (party, limit that refused the last call)

    def party_passed(self, refused_by: str) -> bool:
        """Whether a last call refused by `refused_by` ("" when allowed) is as expected."""
        if self.case.expect == "allow":
            return not refused_by
        return bool(refused_by) and (not self.case.limit or refused_by == self.case.limit)

    @property
    def passed(self) -> bool:
        """Whether the last call got the expected answer for every party."""
        return all(self.party_passed(limit) for _, limit in self.outcomes)

    def lines(self) -> list[str]:
        """PASS or FAIL, and for a failure what each party got."""
        case = self.case
        if self.passed:
            return [f"PASS {case.id} [quota]"]
        out = [f"FAIL {case.id} [quota] ({case.file}:{case.line})"]
        for party, limit in self.outcomes:
            if self.party_passed(limit):
                continue
            out += [f"  request:  {party}: {case.calls} calls for {case.purpose} about "
                    f"{case.subjects} people over {case.seconds:g} s",
                    f"  expected: {case.expect}"
                    + (f" ({case.limit})" if case.limit else "") + " on the last call",
                    f"  actual:   {f'deny ({limit})' if limit else 'allow'}"]
        out.append(f"  why:      {case.why}")
        return out

    def to_json(self) -> dict[str, Any]:
        """The result as plain data."""
        case = self.case
        return {"id": case.id, "file": str(case.file), "line": case.line, "name": case.name,
                "kind": "quota", "passed": self.passed, "expect": case.expect,
                "checks": [{"party": party, "passed": self.party_passed(limit),
                            "actual": "deny" if limit else "allow", "limit": limit or None}
                           for party, limit in self.outcomes]}


def load_quota_cases(cases_dir: Path, catalogue: Catalogue,
                     roles: Mapping[str, tuple[str, ...]]
                     ) -> tuple[list[QuotaCase], list[str]]:
    """The [[quota]] cases of cases_dir/*.toml, and the problems found (file, line, why).

    ``roles`` maps each party to itself and the roles it holds."""
    cases: list[QuotaCase] = []
    problems: list[str] = []
    for path in sorted(cases_dir.glob("*.toml")) if cases_dir.is_dir() else []:
        if path.match(MONITORING_GLOB):
            continue  # recorded entry streams of the monitoring rules (replay.py)
        try:
            data, text = read_case_file(path)
        except ConfigurationError:
            continue  # the decision cases' loader reports a file it cannot read
        for index, raw in enumerate(data.quota):
            line = key_line(text, ("quota", index))
            try:
                cases.append(_parse(raw, path, line, catalogue, roles))
            except ValueError as exc:
                problems.append(f"{path}:{line} quota case {raw.name!r}: {exc}")
    return cases, problems


def _parse(raw: QuotaCaseTable, path: Path, line: int, catalogue: Catalogue,
           roles: Mapping[str, tuple[str, ...]]) -> QuotaCase:
    subject, is_role = case_subject(raw)
    if not is_role:
        if subject not in catalogue.parties:
            raise ValueError(f"unknown party '{subject}'")
        parties: tuple[str, ...] = (subject,)
    else:
        parties = tuple(p for p in catalogue.parties if subject in roles.get(p, (p,)))
        if not parties:
            raise ValueError(f"no party holds role '{subject}'")
    if raw.purpose not in catalogue.purposes:
        raise ValueError(f"unknown purpose '{raw.purpose}'")
    if raw.limit and (raw.limit not in KINDS or raw.expect != "deny"):
        raise ValueError(f"limit names the limit that refuses (one of {', '.join(KINDS)}), "
                         "with expect = \"deny\"")
    return QuotaCase(file=path, line=line, name=raw.name, subject=subject, parties=parties,
                     purpose=raw.purpose, calls=raw.calls, subjects=raw.subjects,
                     seconds=raw.seconds, expect=raw.expect, limit=raw.limit, why=raw.why)


def run_quota_cases(cases: Sequence[QuotaCase], limits: Limits, catalogue: Catalogue,
                    run: str | None = None) -> list[QuotaCaseResult]:
    """Play every selected case through the quota step; never raises."""
    pattern = re.compile(run) if run else None
    results: list[QuotaCaseResult] = []
    for case in cases:
        if pattern is not None and not pattern.search(case.id):
            continue
        outcomes = []
        for party_id in case.parties:
            clock = FixedClock(_START)
            quotas = Quotas(MemoryCounters(), clock=clock)
            party = catalogue.parties[party_id]
            limit = ""
            for n in range(case.calls):
                clock.set(_START + timedelta(seconds=case.seconds * n / case.calls))
                try:
                    quotas.admit(limits, party, case.purpose, f"subject-{n % case.subjects}")
                    limit = ""
                except QuotaExceeded as refused:
                    limit = refused.limit
            outcomes.append((party_id, limit))
        results.append(QuotaCaseResult(case, tuple(outcomes)))
    return results


class MemoryCounters:
    """The store's quota counters, in memory, for playing cases (gateway.records.sql_quotas
    keeps the shared ones)."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._buckets: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def lease_quota(self, bucket: str, *, limit: int, want: int, expires_at: int,
                    now: int) -> int:
        """As the store's: take up to `want` of a window's allowance."""
        with self._lock:
            used = self._used.get(bucket, 0)
            granted = share_of_remaining(limit - used, want)
            self._used[bucket] = used + granted
            return granted

    def give_back_quota(self, bucket: str, amount: int) -> None:
        """As the store's: return an unused lease."""
        with self._lock:
            self._used[bucket] = max(0, self._used.get(bucket, 0) - amount)

    def lease_burst(self, bucket: str, *, capacity: int, per_minute: int, want: int,
                    now_ms: int) -> tuple[int, int]:
        """As the store's: take up to `want` burst tokens."""
        with self._lock:
            held, at = self._buckets.get(bucket, (capacity * 1000, now_ms))
            granted, milli, wait = take_tokens(held, at, now_ms=now_ms, capacity=capacity,
                                               per_minute=per_minute, want=want)
            self._buckets[bucket] = (milli, max(at, now_ms))
            return granted, wait
