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
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Catalogue
from gateway.clock import FixedClock
from gateway.errors import QuotaExceeded
from gateway.policy.case_tables import check_case_table
from gateway.policy.limits import KINDS, Limits
from gateway.policy.quotas import Quotas
from gateway.records.sql_quotas import share_of_remaining, take_tokens

__all__ = ["QuotaCase", "QuotaCaseResult", "load_quota_cases", "run_quota_cases"]

_REQUIRED = ("name", "purpose", "calls", "expect", "why")
_KNOWN = frozenset({*_REQUIRED, "party", "role", "subjects", "seconds", "limit"})
_HEADER = re.compile(r"^\s*\[\[\s*quota\s*\]\]")
#: Runs start at midnight in the city (UTC+8), so a run of a day stays in one day.
_START = datetime(2026, 1, 5, 0, 0, tzinfo=timezone(timedelta(hours=8)))
#: The most calls one case may play (a case is a test, not a load run).
MAX_CALLS = 100_000


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
        try:
            text = path.read_text(encoding="utf-8")
            raw_cases = tomllib.loads(text).get("quota", [])
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # the decision cases' loader reports an unreadable file
        lines = [n for n, line in enumerate(text.split("\n"), start=1) if _HEADER.match(line)]
        if not isinstance(raw_cases, list):
            problems.append(f"{path}: `quota` must be an array of tables, written [[quota]]")
            continue
        for index, raw in enumerate(raw_cases):
            line = lines[index] if index < len(lines) else 0
            try:
                cases.append(_parse(raw, path, line, catalogue, roles))
            except ValueError as exc:
                name = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else ""
                problems.append(f"{path}:{line} quota case {name!r}: {exc}")
    return cases, problems


def _parse(raw: Any, path: Path, line: int, catalogue: Catalogue,
           roles: Mapping[str, tuple[str, ...]]) -> QuotaCase:
    check_case_table(raw, known=_KNOWN, required=_REQUIRED, what="quota case")
    subject = raw.get("party") or raw.get("role")
    if "party" in raw:
        if subject not in catalogue.parties:
            raise ValueError(f"unknown party '{subject}'")
        parties: tuple[str, ...] = (str(subject),)
    else:
        parties = tuple(p for p in catalogue.parties if subject in roles.get(p, (p,)))
        if not parties:
            raise ValueError(f"no party holds role '{subject}'")
    if raw["purpose"] not in catalogue.purposes:
        raise ValueError(f"unknown purpose '{raw['purpose']}'")
    calls, people = raw["calls"], raw.get("subjects", 1)
    seconds = raw.get("seconds", 0)
    for key, value, low in (("calls", calls, 1), ("subjects", people, 1)):
        if isinstance(value, bool) or not isinstance(value, int) \
                or not low <= value <= MAX_CALLS:
            raise ValueError(f"{key} must be a whole number from {low} to {MAX_CALLS:,}")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) \
            or not 0 <= seconds <= 7 * 86_400:
        raise ValueError("seconds must be a number from 0 to a week (604800)")
    if raw["expect"] not in ("allow", "deny"):
        raise ValueError("expect must be \"allow\" or \"deny\"")
    limit = raw.get("limit", "")
    if limit and (limit not in KINDS or raw["expect"] != "deny"):
        raise ValueError(f"limit names the limit that refuses (one of {', '.join(KINDS)}), "
                         "with expect = \"deny\"")
    return QuotaCase(file=path, line=line, name=str(raw["name"]), subject=str(subject),
                     parties=parties, purpose=raw["purpose"], calls=calls, subjects=people,
                     seconds=float(seconds), expect=raw["expect"], limit=limit,
                     why=str(raw["why"]))


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
