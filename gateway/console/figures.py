"""Supervision figures counted from audit entries: per party, purpose and day.

The console counts what the regulator's own log search returns: queries and checks
(``gateway.supervision.figures.QUERY_ACTIONS``), how many were refused and why, and how many
used a consent. No ID number or blind index is read or kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from gateway.clock import local_date, parse_rfc3339


@dataclass(frozen=True)
class Tally:
    """Queries, refusals (and their reasons) and consent uses of one group."""

    key: str
    queries: int
    refused: int
    consent_uses: int
    reasons: tuple[tuple[str, int], ...] = ()  # refusals by reason, most first


@dataclass(frozen=True)
class DayRow:
    """One (day, party, purpose) row: the finest grain, as exported."""

    day: date
    party: str
    purpose: str
    queries: int
    refused: int
    consent_uses: int


@dataclass(frozen=True)
class Figures:
    """Everything the supervision page shows."""

    by_party: tuple[Tally, ...]
    by_purpose: tuple[Tally, ...]
    by_day: tuple[Tally, ...]
    refusals: tuple[tuple[str, int], ...]
    rows: tuple[DayRow, ...]
    total: int
    # (day, party, purpose, reason, refused): refusals by reason at the finest grain.
    reason_rows: tuple[tuple[date, str, str, str, int], ...] = ()


def _by_count(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _tallies(q: Counter[str], r: Counter[str], c: Counter[str],
             why: dict[str, Counter[str]], *, by_key: bool = False) -> tuple[Tally, ...]:
    keys = sorted(q) if by_key else sorted(q, key=lambda k: (-q[k], k))
    return tuple(Tally(k, q[k], r[k], c[k], _by_count(why.get(k, Counter()))) for k in keys)


def count(entries: Iterable[object]) -> Figures:
    """Count entries (audit entry messages with time, requester, purpose, decision...)."""
    fine_q: Counter[tuple[date, str, str]] = Counter()
    fine_r: Counter[tuple[date, str, str]] = Counter()
    fine_c: Counter[tuple[date, str, str]] = Counter()
    fine_why: Counter[tuple[date, str, str, str]] = Counter()
    for e in entries:
        day = local_date(parse_rfc3339(e.time))  # type: ignore[attr-defined]
        key = (day, e.requester, e.purpose or "-")  # type: ignore[attr-defined]
        fine_q[key] += 1
        if e.decision == "deny":  # type: ignore[attr-defined]
            fine_r[key] += 1
            fine_why[(*key, e.reason or "unspecified")] += 1  # type: ignore[attr-defined]
        elif e.consent_id:  # type: ignore[attr-defined]
            fine_c[key] += 1
    groups = []
    for at in (1, 2, 0):  # party, purpose, day
        def pick(key: tuple[object, ...], at: int = at) -> str:
            value = key[at]
            return value.isoformat() if isinstance(value, date) else str(value)

        q: Counter[str] = Counter()
        r: Counter[str] = Counter()
        c: Counter[str] = Counter()
        why: dict[str, Counter[str]] = {}
        for key, n in fine_q.items():
            q[pick(key)] += n
            r[pick(key)] += fine_r[key]
            c[pick(key)] += fine_c[key]
        for wkey, n in fine_why.items():
            why.setdefault(pick(wkey), Counter())[wkey[3]] += n
        groups.append((q, r, c, why))
    reasons: Counter[str] = Counter()
    for wkey, n in fine_why.items():
        reasons[wkey[3]] += n
    rows = tuple(DayRow(d, p, u, fine_q[(d, p, u)], fine_r[(d, p, u)], fine_c[(d, p, u)])
                 for d, p, u in sorted(fine_q))
    return Figures(by_party=_tallies(*groups[0]), by_purpose=_tallies(*groups[1]),
                   by_day=_tallies(*groups[2], by_key=True), refusals=_by_count(reasons),
                   rows=rows, total=sum(fine_q.values()),
                   reason_rows=tuple((*k, n) for k, n in sorted(fine_why.items())))
