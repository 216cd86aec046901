"""The rule engine: audit entries in seq order in, alerts out; nothing of gRPC or databases.

`RuleEngine.feed(seq, entry)` looks at one entry and returns the alerts it triggers.
Everything the rules remember (hourly counts, baselines, recent revocations, who queried
a subject) is bounded by each rule's ``max_tracked`` (least recently seen first out)
and is plain JSON (`state()` / `restore()`), so a runner can save it beside its
position and carry on after a crash. The engine reads time only from the entries, so
the same stream gives the same alerts with the same ids on any instance, any day.

An alert's id is a digest of its rule and its trigger key (party and hour, subject and
revocation, ...): whoever evaluates the same entries finds the same id, which is what
makes alerts idempotent across instances (gateway.monitoring.runner).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.catalogue.registry import Catalogue
from gateway.clock import CITY_TIME
from gateway.monitoring.rules import MonitoringRules, Rule

#: Seconds to add to a UTC epoch for the city's wall clock.
_OFFSET = int(CITY_TIME.utcoffset(None).total_seconds())
_WEEK_HOURS = 168
#: Audit actions of the monitor itself, never evaluated (an alert cannot trigger one).
OWN_ACTIONS = frozenset({"alert", "alert.ack"})
REVOKE_ACTION = "consent.revoke"
UNREGISTERED = "unregistered"
_BLIND_INDEX = re.compile(r"[A-Za-z0-9._-]{1,64}:[0-9a-f]{32,128}")
_MAX_SEQS = 20


class Observed(Protocol):
    """What the engine reads of an audit entry (gateway.audit.entry.AuditEntry has it)."""

    @property
    def time(self) -> datetime: ...
    @property
    def requester(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def subject_index(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Alert:
    """One anomaly: which rule, about whom (a party id, a blind index), and the entries."""

    rule: str
    severity: str
    key: str
    party: str
    subject_index: str
    trigger_seqs: tuple[int, ...]

    @property
    def alert_id(self) -> str:
        """A digest of rule and trigger key: the same anomaly has the same id everywhere.

        Base32 (letters and 2-7), so no id holds the long digit runs the identifier
        grammar refuses (gateway.identifiers), as hex sometimes would.
        """
        digest = hashlib.sha256(f"{self.rule}\x00{self.key}".encode()).digest()
        return "al-" + base64.b32encode(digest[:15]).decode("ascii").lower()


@dataclass(frozen=True)
class MonitorContext:
    """What the rules need of the catalogue: party kinds and the purpose codes."""

    party_kinds: Mapping[str, str]
    purposes: frozenset[str]

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> MonitorContext:
        """The context of a catalogue."""
        return cls({p.id: p.kind for p in catalogue.parties.values()},
                   frozenset(catalogue.purposes))


class _Lru(OrderedDict[str, Any]):
    """A mapping that forgets its least recently touched keys beyond a bound."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound

    def touch(self, key: str, default: Any) -> Any:
        """The value of key (made most recent), or default stored under it."""
        value = self.get(key)
        if value is None:
            return self.add(key, default)
        self.move_to_end(key)
        return value

    def add(self, key: str, value: Any) -> Any:
        """Store a new key's value (forgetting the least recent beyond the bound)."""
        self[key] = value
        if len(self) > self.bound:
            self.popitem(last=False)
        return value


class _Evaluator:
    """One rule's filter and state; `see` returns an alert or None."""

    def __init__(self, rule: Rule, ctx: MonitorContext) -> None:
        self.rule = rule
        self.ctx = ctx
        self.purposes = frozenset(rule.purposes)
        self.parties = (frozenset(p for p, k in ctx.party_kinds.items()
                                  if k in rule.party_kinds) if rule.party_kinds else None)
        self.decision = rule.decision
        self.state = _Lru(rule.max_tracked)
        self.fired = _Lru(rule.max_tracked)

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Count one matching entry; the alert it completes, if any."""
        raise NotImplementedError

    def fire(self, key: str, seqs: Iterable[int], *, party: str = "",
             subject: str = "") -> Alert | None:
        """An alert for key unless this rule already fired it."""
        if key in self.fired:
            return None
        self.fired.touch(key, True)
        return Alert(rule=self.rule.id, severity=self.rule.severity, key=key,
                     party=party and (party if party in self.ctx.party_kinds else UNREGISTERED),
                     subject_index=subject if _BLIND_INDEX.fullmatch(subject) else "",
                     trigger_seqs=tuple(sorted(set(seqs)))[-_MAX_SEQS:])

    def dump(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return {"state": list(self.state.items()), "fired": list(self.fired)}

    def load(self, data: Mapping[str, Any]) -> None:
        """Take back a dumped state."""
        for key, value in data.get("state", []):
            self.state.touch(key, value)
        for key in data.get("fired", []):
            self.fired.touch(key, True)


class VolumeBaseline(_Evaluator):
    """Calls in an hour over `factor` times the party's own mean for that hour of the week."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Count the call in its hour; compare with the hour-of-week baseline."""
        rule = self.rule
        hour = int((t + _OFFSET) // 3600)
        # [hour, calls this hour, seqs, baseline per hour of week, weeks observed]
        s = self.state.get(e.requester)
        if s is None:
            s = self.state.add(e.requester, [hour, 0, [], [0.0] * _WEEK_HOURS,
                                             [0] * _WEEK_HOURS])
        elif hour > s[0]:
            self._close(s, hour)
        s[1] += 1
        seqs = s[2]
        seqs.append(seq)
        if len(seqs) > 5:
            del seqs[0]
        how = (s[0] + 72) % _WEEK_HOURS  # epoch hour 0 was a Thursday 00:00
        base, weeks = s[3][how], s[4][how]
        if weeks >= rule.warmup_weeks and s[1] >= rule.min_calls and (
                s[1] > rule.factor * max(base, 1.0)):
            return self.fire(f"{e.requester}|{s[0]}", s[2], party=e.requester)
        return None

    def _close(self, s: list[Any], hour: int) -> None:
        """Fold the finished hour, and the silent hours after it, into the baselines."""
        last = min(hour, s[0] + 1 + _WEEK_HOURS * max(self.rule.warmup_weeks, 4))
        calls = s[1]
        for h in range(s[0], last):
            how = (h + 72) % _WEEK_HOURS
            w = s[4][how]
            s[3][how] += (calls - s[3][how]) / min(w + 1, 4)
            s[4][how] = min(w + 1, 1000)
            calls = 0
        s[0], s[1], s[2] = hour, 0, []


class NightQueries(_Evaluator):
    """A query at night for a purpose that has no night work."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Fire once per party, purpose and night."""
        rule = self.rule
        local = t + _OFFSET
        minute = int(local % 86400) // 60
        start, end = rule.night_start, rule.night_end
        night = (minute >= start or minute < end) if start > end else start <= minute < end
        if not night:
            return None
        night_of = int((local - end * 60) // 86400)
        return self.fire(f"{e.requester}|{e.purpose}|{night_of}", (seq,), party=e.requester)


class RefusalShare(_Evaluator):
    """A high share of refused calls in a window (at least `min_calls` calls)."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Count calls and refusals per party and window."""
        rule = self.rule
        bucket = int(t // (rule.window_minutes * 60))
        s = self.state.touch(e.requester, [bucket, 0, 0, []])
        if bucket > s[0]:
            s[:] = [bucket, 0, 0, []]
        s[1] += 1
        if e.decision == "deny":
            s[2] += 1
            s[3] = [*s[3][-(_MAX_SEQS - 1):], seq]
        if s[1] >= rule.min_calls and s[2] >= rule.share * s[1]:
            return self.fire(f"{e.requester}|{bucket}", s[3], party=e.requester)
        return None


class RepeatedRefusals(_Evaluator):
    """`count` refusals with given reasons (consent failures, blacklist) in a window."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Count matching refusals per party and window."""
        rule = self.rule
        if e.decision != "deny" or not e.reason.startswith(rule.reasons):
            return None
        bucket = int(t // (rule.window_minutes * 60))
        s = self.state.touch(e.requester, [bucket, 0, []])
        if bucket > s[0]:
            s[:] = [bucket, 0, []]
        s[1] += 1
        s[2] = [*s[2][-(_MAX_SEQS - 1):], seq]
        if s[1] >= rule.count:
            return self.fire(f"{e.requester}|{bucket}", s[2], party=e.requester)
        return None


class AfterRevocation(_Evaluator):
    """A query on a subject within minutes of a revocation of that subject's consent."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Remember revocations; fire on a query of the same blind index soon after."""
        subject = e.subject_index
        if not subject:
            return None
        if e.action == REVOKE_ACTION:
            if e.decision == "allow":
                self.state.touch(subject, [t, seq])[:] = [t, seq]
            return None
        revoked = self.state.get(subject)
        if revoked is None or not 0 <= t - revoked[0] <= self.rule.window_minutes * 60:
            return None
        return self.fire(f"{subject}|{revoked[1]}|{e.requester}", (revoked[1], seq),
                         party=e.requester, subject=subject)


class UnusualPurpose(_Evaluator):
    """A party querying under a purpose it has not used in its last `learn_days`."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Learn each party's purposes; fire on a new one once it has a history."""
        learn = self.rule.learn_days * 86400
        s = self.state.touch(e.requester, [t, {}])
        used: dict[str, float] = s[1]
        last = used.get(e.purpose)
        if len(used) < 256 or last is not None:
            used[e.purpose] = t
        if t - s[0] < learn or (last is not None and t - last <= learn):
            return None
        day = int((t + _OFFSET) // 86400)
        return self.fire(f"{e.requester}|{e.purpose}|{day}", (seq,), party=e.requester)


class ManyAgencies(_Evaluator):
    """The same subject queried by `agencies` different parties within a window."""

    def see(self, seq: int, e: Observed, t: float) -> Alert | None:
        """Keep each subject's recent queriers; fire once per window when enough."""
        subject = e.subject_index
        if not subject:
            return None
        window = self.rule.window_minutes * 60
        s = self.state.touch(subject, [0.0, []])  # [quiet until, [[t, party, seq]]]
        recent = [r for r in s[1] if t - r[0] <= window and r[1] != e.requester]
        recent.append([t, e.requester, seq])
        s[1] = recent[-64:]
        if len(recent) >= self.rule.agencies and t >= s[0]:
            s[0] = t + window
            return self.fire(f"{subject}|{seq}", (r[2] for r in recent), subject=subject)
        return None


KINDS: Mapping[str, type[_Evaluator]] = {
    "volume_baseline": VolumeBaseline, "night_queries": NightQueries,
    "refusal_share": RefusalShare, "repeated_refusals": RepeatedRefusals,
    "after_revocation": AfterRevocation, "unusual_purpose": UnusualPurpose,
    "many_agencies": ManyAgencies,
}


class RuleEngine:
    """Feeds entries in seq order to every rule; remembers how far it has read."""

    def __init__(self, rules: MonitoringRules, ctx: MonitorContext) -> None:
        self.rules = rules
        self.position = 0
        self._evaluators = {r.id: KINDS[r.kind](r, ctx) for r in rules.rules}
        self._any: list[_Evaluator] = []
        self._by_action: dict[str, list[_Evaluator]] = {}
        for ev in self._evaluators.values():
            if "*" in ev.rule.actions:
                self._any.append(ev)
                continue
            for action in ev.rule.actions:
                self._by_action.setdefault(action, []).append(ev)
        for evaluators in self._by_action.values():
            evaluators.extend(self._any)  # "*" rules see these actions too
        #: Revocations reach the after_revocation rules whatever their filters.
        self._revocations = [ev for ev in self._evaluators.values()
                             if isinstance(ev, AfterRevocation)]

    def feed(self, seq: int, entry: Observed) -> list[Alert]:
        """The alerts entry `seq` triggers; an entry at or before the position is skipped."""
        if seq <= self.position:
            return []
        self.position = seq
        action = entry.action
        evaluators = self._by_action.get(action)
        if evaluators is None:
            if action in OWN_ACTIONS:
                return []
            evaluators = self._any
        out: list[Alert] = []
        if action == REVOKE_ACTION:  # remembered by the after_revocation rules, unfiltered
            t = entry.time.timestamp()
            for rev in self._revocations:
                rev.see(seq, entry, t)
        if not evaluators:
            return out
        t = entry.time.timestamp()
        decision, purpose, requester = entry.decision, entry.purpose, entry.requester
        for ev in evaluators:
            # The rule's common filter (decision, purposes, party kinds), inline: it runs
            # for every rule on every entry.
            if ((ev.decision and decision != ev.decision)
                    or (ev.purposes and purpose not in ev.purposes)
                    or (ev.parties is not None and requester not in ev.parties)):
                continue
            alert = ev.see(seq, entry, t)
            if alert is not None:
                out.append(alert)
        return out

    def state(self) -> dict[str, Any]:
        """Position and every rule's state, as JSON-able data."""
        return {"position": self.position, "version": self.rules.version,
                "rules": {rid: ev.dump() for rid, ev in self._evaluators.items()}}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back a saved state; rules no longer present are dropped, new ones start empty."""
        self.position = int(data.get("position", 0))
        for rid, dumped in dict(data.get("rules", {})).items():
            ev = self._evaluators.get(rid)
            if ev is not None:
                ev.load(dumped)
