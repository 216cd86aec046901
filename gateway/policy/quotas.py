"""The quota step: a call must be within every limit of limits.toml that applies to it.

Counters live in the store every instance shares (gateway.records.sql_quotas), so a limit
holds across all instances and a restart does not reset it. So that a limit costs no
database round trip per call, each instance leases a small block of a window's allowance
at a time and spends it locally:

- a block is at most ``LEASE_MAX`` calls, a twentieth of the limit, and half of what the
  window has left, so the instances share the last calls of a window;
- what an instance leased but did not use is given back when it stops; after a crash it
  is lost for the rest of its window. So an agency may be refused early, never served
  late: the calls served in a window never exceed the limit. What a crash can cost a
  party is at most one block per limit and instance, until its window ends;
- distinct subjects are counted by blind index, never the ID number. Each instance keeps
  the blind indexes it counted in the current window (in memory, at most the limit), and
  spends a slot of the shared counter on each subject new to it: a subject asked about at
  two instances, or again after a restart, counts once at each. That too can only refuse
  early;
- a burst allowance is a token bucket in the store (refilled at calls_per_minute per
  minute, holding at most `burst`); an instance may hold the tokens it leased for one
  second at most, so a burst across instances stays within the bucket.

A window whose allowance is spent is remembered until it ends, so a party hammering at
its limit costs no database round trip either. A store that cannot be reached refuses
the call (fail closed).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Protocol

from gateway.catalogue.registry import Party
from gateway.clock import Clock
from gateway.errors import QuotaExceeded
from gateway.policy.limits import SUBJECT_KINDS, LimitRule, Limits

__all__ = ["LEASE_MAX", "QuotaCounters", "Quotas"]

#: The most calls (or subjects, or burst tokens) one lease takes, and the share of a
#: limit it takes at most (1/LEASE_SHARE).
LEASE_MAX = 500
LEASE_SHARE = 20
#: How long (seconds) an instance may hold burst tokens it leased.
_BURST_HOLD_S = 1.0
_CITY_OFFSET_S = 8 * 3600  # the city's day is UTC+8 (gateway.clock.CITY_TIME)
_WINDOW_S = {"calls_per_minute": 60, "subjects_per_minute": 60,
             "calls_per_day": 86_400, "subjects_per_day": 86_400}


def window_of(kind: str, now_s: float) -> tuple[int, int]:
    """(window number, Unix second at which it ends) of a minute or city-day limit."""
    length = _WINDOW_S[kind]
    offset = _CITY_OFFSET_S if length == 86_400 else 0
    number = int(now_s + offset) // length
    return number, (number + 1) * length - offset


class QuotaCounters(Protocol):
    """The shared counters (the record store's, gateway.records.sql_quotas)."""

    def lease_quota(self, bucket: str, *, limit: int, want: int, expires_at: int,
                    now: int) -> int:
        """Take up to `want` of a window's allowance of `limit`; the amount granted."""
        ...

    def give_back_quota(self, bucket: str, amount: int) -> None:
        """Return an unused lease to its window."""
        ...

    def lease_burst(self, bucket: str, *, capacity: int, per_minute: int, want: int,
                    now_ms: int) -> tuple[int, int]:
        """Take up to `want` burst tokens: (granted, milliseconds until the next one)."""
        ...


@dataclass
class _Allowance:
    """What this instance holds of one counter (rule, party, purpose scope, kind): its
    current window, what it leased there and has not spent, and for a distinct-subject
    counter the blind indexes it counted there."""

    rule: LimitRule
    party: str
    scope: str
    kind: str
    amount: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    window: int = -1  # the window number (burst: always -1)
    left: int = 0  # leased and not yet spent
    spent_out: bool = False  # the shared counter has nothing left in this window
    subjects: set[str] = field(default_factory=set)
    retry_at: float = 0.0  # burst: no token before this time
    held_until: float = 0.0  # burst: leased tokens are dropped after this time
    #: Whether this counter counts distinct subjects rather than calls.
    counts_subjects: bool = False


@dataclass(frozen=True)
class _Plan:
    """The counters one (party, purpose) spends, found once per policy version."""

    limits: Limits
    counters: tuple[_Allowance, ...]


class Quotas:
    """Admits calls within their limits; one per gateway instance."""

    def __init__(self, store: QuotaCounters, *, clock: Clock,
                 lease_max: int = LEASE_MAX) -> None:
        self._store = store
        self._clock = clock
        self._lease_max = lease_max
        self._lock = threading.Lock()
        self._allowances: dict[tuple[str, str, str, str], _Allowance] = {}
        self._plans: dict[tuple[str, str], _Plan] = {}

    def admit(self, limits: Limits, party: Party, purpose: str, subject_index: str) -> None:
        """Count one call against every limit that applies; raises QuotaExceeded (nothing
        is counted then) or StoreUnavailable."""
        plan = self._plans.get((party.id, purpose))
        if plan is None or plan.limits is not limits:
            plan = self._plan(limits, party, purpose)
        if not plan.counters:
            return
        now = self._clock.now().timestamp()
        minute = int(now) // 60
        day = int(now + _CITY_OFFSET_S) // 86_400
        taken: list[tuple[_Allowance, int]] = []
        try:
            for counter in plan.counters:
                kind = counter.kind
                window = -1 if kind == "burst" else (
                    minute if _WINDOW_S[kind] == 60 else day)
                with counter.lock:
                    if counter.window != window:  # a new window: the old one's lease expired
                        counter.window, counter.left, counter.spent_out = window, 0, False
                        counter.subjects = set()
                    if counter.counts_subjects and (not subject_index
                                                    or subject_index in counter.subjects):
                        continue  # no one person, or one counted here already
                    if kind == "burst":
                        self._spend_burst(counter, now)
                    elif counter.left:
                        counter.left -= 1
                    else:
                        self._spend_leased(counter, window, now)
                    if counter.counts_subjects:
                        counter.subjects.add(subject_index)
                taken.append((counter, window))
        except QuotaExceeded:
            for counter, window in reversed(taken):
                self._give_back(counter, subject_index, window)
            raise

    def _plan(self, limits: Limits, party: Party, purpose: str) -> _Plan:
        counters = []
        with self._lock:
            for rule in limits.applying(party, purpose):
                scope = rule.scope(purpose)
                for kind, amount in rule.amounts.items():
                    key = (rule.name, party.id, scope, kind)
                    found = self._allowances.get(key)
                    if found is None or found.amount != amount:
                        # A changed amount starts afresh here; the shared count stays.
                        found = self._allowances[key] = _Allowance(
                            rule=rule, party=party.id, scope=scope, kind=kind, amount=amount,
                            counts_subjects=kind in SUBJECT_KINDS)
                    found.rule = rule  # the same limit, perhaps explained anew
                    counters.append(found)
            plan = _Plan(limits=limits, counters=tuple(counters))
            self._plans[(party.id, purpose)] = plan
        return plan

    def _spend_leased(self, counter: _Allowance, window: int, now: float) -> None:
        """Lease a block of the window's allowance from the store and spend one."""
        length = _WINDOW_S[counter.kind]
        offset = _CITY_OFFSET_S if length == 86_400 else 0
        ends = (window + 1) * length - offset
        if not counter.spent_out:
            counter.left = self._store.lease_quota(
                _bucket(counter.rule.name, counter.party, counter.scope, counter.kind, window),
                limit=counter.amount, want=self._want(counter.amount), expires_at=ends,
                now=int(now))
            counter.spent_out = counter.left == 0
        if not counter.left:
            raise _refusal(counter.rule, counter.kind, max(1, math.ceil(ends - now)))
        counter.left -= 1

    def _spend_burst(self, counter: _Allowance, now: float) -> None:
        """Spend a burst token, leasing a few from the store's bucket when none is held."""
        if now > counter.held_until:
            counter.left = 0
        if not counter.left:
            if now < counter.retry_at:
                raise _refusal(counter.rule, "burst", max(1, math.ceil(counter.retry_at - now)))
            granted, wait_ms = self._store.lease_burst(
                _bucket(counter.rule.name, counter.party, counter.scope, "burst", 0),
                capacity=counter.amount, per_minute=counter.rule.amounts["calls_per_minute"],
                want=self._want(counter.amount), now_ms=int(now * 1000))
            if not granted:
                counter.retry_at = now + wait_ms / 1000
                raise _refusal(counter.rule, "burst", max(1, math.ceil(wait_ms / 1000)))
            counter.left, counter.held_until = granted, now + _BURST_HOLD_S
        counter.left -= 1

    def _want(self, amount: int) -> int:
        """How much one lease asks for: a twentieth of the limit, at most lease_max."""
        return max(1, min(self._lease_max, amount // LEASE_SHARE))

    @staticmethod
    def _give_back(counter: _Allowance, subject: str, window: int) -> None:
        """Undo one count of a call that another limit refused (locally)."""
        with counter.lock:
            if counter.window != window:
                return
            if counter.counts_subjects:
                if subject not in counter.subjects:
                    return
                counter.subjects.discard(subject)
            counter.left += 1

    def close(self) -> None:
        """Give what this instance leased and did not use back to the current windows
        (best effort: a store that cannot be reached keeps it until the window ends)."""
        now = self._clock.now().timestamp()
        with self._lock:
            held = list(self._allowances.values())
            self._allowances, self._plans = {}, {}
        for counter in held:
            if counter.kind == "burst" or counter.left <= 0:
                continue
            if counter.window != window_of(counter.kind, now)[0]:
                continue
            try:
                self._store.give_back_quota(_bucket(counter.rule.name, counter.party,
                                                    counter.scope, counter.kind,
                                                    counter.window), counter.left)
            except Exception:  # stopping must not fail for this
                return


def _bucket(rule: str, party: str, scope: str, kind: str, window: int) -> str:
    """The shared counter's name: rule, party, purpose scope, kind and window."""
    return "|".join((rule, party, scope, kind, str(window)))


def _refusal(rule: LimitRule, kind: str, retry_after: int) -> QuotaExceeded:
    what = {"calls_per_minute": "calls this minute", "calls_per_day": "calls today",
            "subjects_per_minute": "distinct people this minute",
            "subjects_per_day": "distinct people today",
            "burst": "calls at once"}[kind]
    return QuotaExceeded(
        f"quota reached: at most {rule.amounts[kind]} {what} (limits.toml [{rule.name}]); "
        f"retry after {retry_after} s", retry_after=retry_after, limit=kind,
        rule=rule.text(kind))
