"""Quotas as policy: policies/limits.toml (issue 16 item 1).

Each ``[limits.NAME]`` table bounds one party, or each party holding a role, for one
purpose (or ``"*"``: every purpose, counted together):

    [limits.agency_queries]
    role = "credit_agency"          # or party = "credit_agency_b"
    purpose = "authorised_query"    # or "*"
    calls_per_minute = 120          # calls in one clock minute (UTC)
    burst = 30                      # calls at once: the minute's calls come at most this
                                    # many together, then refill at calls_per_minute / 60 s
    calls_per_day = 5000            # calls in one day of the city (Asia/Shanghai)
    subjects_per_minute = 60        # distinct people (by blind index) in one minute
    subjects_per_day = 2000         # distinct people in one day
    why = "the agency's licence covers ..."

Every kind is optional; a table needs at least one. A role limit holds for each holder
separately (each agency its own 5,000 a day). A call must be within every limit that
applies to it; over one, it is refused RESOURCE_EXHAUSTED (gateway.policy.quotas). The file is
optional: without it nothing is limited. Keys are strict: the file is read into
``LimitsFile`` (gateway.strict_toml), which refuses an unknown, missing or mistyped key
with its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from gateway.catalogue.registry import Catalogue, Party
from gateway.errors import ConfigurationError
from gateway.strict_toml import Table, decode, key_line, read_toml

__all__ = ["ANY_PURPOSE", "CALL_KINDS", "KINDS", "LIMITS_FILE", "NO_LIMITS", "SUBJECT_KINDS",
           "LimitRule", "Limits", "amounts_changed", "limit_problems", "load_limits"]

LIMITS_FILE = "limits.toml"
ANY_PURPOSE = "*"
#: Counted per call, per clock minute and per city day.
CALL_KINDS = ("calls_per_minute", "calls_per_day")
#: Counted per distinct subject (blind index), per clock minute and per city day.
SUBJECT_KINDS = ("subjects_per_minute", "subjects_per_day")
#: Every limit kind, `burst` (the calls_per_minute bucket's size) last.
KINDS = (*CALL_KINDS, *SUBJECT_KINDS, "burst")
#: The largest amount a limit may name (a day has 86,400 seconds; this is far above any).
MAX_AMOUNT = 100_000_000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Amount = Annotated[int, Meta(ge=1, le=MAX_AMOUNT,
                             description=f"a whole number from 1 to {MAX_AMOUNT:,}")]


class LimitTable(Table):
    """One ``[limits.NAME]`` table as written (every kind optional; KINDS names them)."""

    purpose: str
    party: str | None = None
    role: str | None = None
    calls_per_minute: Amount | None = None
    calls_per_day: Amount | None = None
    subjects_per_minute: Amount | None = None
    subjects_per_day: Amount | None = None
    burst: Amount | None = None
    why: str = ""


class LimitsFile(Table):
    """limits.toml."""

    limits: dict[str, LimitTable] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class LimitRule:
    """One [limits.NAME] table: whom it bounds, for which purpose, and by how much."""

    name: str
    subject: str  # the party or the role, as written
    is_role: bool
    purpose: str  # a purpose code, or ANY_PURPOSE
    amounts: Mapping[str, int]  # kind -> amount, only the kinds the table names
    why: str = ""
    line: int = 0

    def applies_to(self, party: Party, purpose: str) -> bool:
        """Whether a call by `party` for `purpose` counts against this rule."""
        holds = self.subject in party.roles if self.is_role else self.subject == party.id
        return holds and self.purpose in (ANY_PURPOSE, purpose)

    def scope(self, purpose: str) -> str:
        """What the rule's counters are kept per: the purpose, or '*' for all together."""
        return ANY_PURPOSE if self.purpose == ANY_PURPOSE else purpose

    def text(self, kind: str) -> str:
        """The rule as an audit entry names it: `limits.toml [NAME] kind = amount`."""
        return f"{LIMITS_FILE} [{self.name}] {kind} = {self.amounts[kind]}"


@dataclass(frozen=True)
class Limits:
    """The limits of one policy version, with the rules that apply to each call found
    once per (party, purpose) and kept."""

    rules: tuple[LimitRule, ...] = ()
    _applying: dict[tuple[str, str], tuple[LimitRule, ...]] = field(
        default_factory=dict, compare=False, repr=False)

    def applying(self, party: Party, purpose: str) -> tuple[LimitRule, ...]:
        """The rules a call by `party` for `purpose` must be within (cached)."""
        key = (party.id, purpose)
        found = self._applying.get(key)
        if found is None:
            found = tuple(r for r in self.rules if r.applies_to(party, purpose))
            self._applying[key] = found
        return found

    def by_name(self) -> dict[str, LimitRule]:
        """The rules by name."""
        return {r.name: r for r in self.rules}


NO_LIMITS = Limits()


def load_limits(policies_dir: Path, catalogue: Catalogue) -> Limits:
    """The limits of a policy folder (none without limits.toml); raises
    ConfigurationError naming the file, table and line of the first problem."""
    path = Path(policies_dir) / LIMITS_FILE
    if not path.is_file():
        return NO_LIMITS
    doc, text = read_toml(path, LIMITS_FILE)
    tables = decode(doc, LimitsFile, file=LIMITS_FILE, text=text).limits
    rules = []
    for name, raw in tables.items():
        line = key_line(text, ("limits", name))
        try:
            rules.append(_rule(name, raw, catalogue, line))
        except ValueError as exc:
            raise ConfigurationError(f"{LIMITS_FILE}:{line}: [limits.{name}] {exc}") from None
    return Limits(rules=tuple(rules))


def _rule(name: str, raw: LimitTable, catalogue: Catalogue, line: int) -> LimitRule:
    """One table, checked against the catalogue; raises ValueError."""
    if not _NAME.match(name):
        raise ValueError("the name must be lower case letters, digits and _")
    if (raw.party is None) == (raw.role is None):
        raise ValueError('names exactly one of party = "..." or role = "..."')
    is_role = raw.role is not None
    subject = raw.role if raw.role is not None else str(raw.party)
    if is_role and subject not in catalogue.roles:
        raise ValueError(f"unknown role '{subject}' (roles are listed in parties.toml)")
    if not is_role and subject not in catalogue.parties:
        raise ValueError(f"unknown party '{subject}'")
    if raw.purpose != ANY_PURPOSE and raw.purpose not in catalogue.purposes:
        raise ValueError('purpose must be a purpose of purposes.toml or "*" for every '
                         "purpose")
    amounts = {kind: amount for kind in KINDS
               if (amount := getattr(raw, kind)) is not None}
    if not amounts:
        raise ValueError(f"names no limit (one or more of {', '.join(KINDS)})")
    if "burst" in amounts and "calls_per_minute" not in amounts:
        raise ValueError("burst needs calls_per_minute: the burst refills at that rate")
    return LimitRule(name=name, subject=subject, is_role=is_role, purpose=raw.purpose,
                     amounts=amounts, why=raw.why, line=line)


def limit_problems(limits: Limits) -> Iterable[tuple[int, str]]:
    """(line, message) for limits that load but can never bind as written (warnings)."""
    for rule in limits.rules:
        a = rule.amounts
        for small, large in (("calls_per_minute", "calls_per_day"),
                             ("subjects_per_minute", "subjects_per_day"),
                             ("subjects_per_minute", "calls_per_minute"),
                             ("subjects_per_day", "calls_per_day")):
            if small in a and large in a and a[small] > a[large]:
                yield rule.line, (f"[{rule.name}] {small} = {a[small]} never binds: "
                                  f"{large} = {a[large]} is smaller")
        if "burst" in a and a["burst"] >= a["calls_per_minute"]:
            yield rule.line, (f"[{rule.name}] burst = {a['burst']} never binds: "
                              f"calls_per_minute = {a['calls_per_minute']} caps a minute "
                              "first")


def amounts_changed(old: Limits, new: Limits) -> Iterable[str]:
    """The limit changes from old to new, in words (for `policy diff` and rollouts)."""
    before, after = old.by_name(), new.by_name()
    for name in before.keys() - after.keys():
        yield f"limits: [{name}] removed ({_describe(before[name])})"
    for name in after.keys() - before.keys():
        yield f"limits: [{name}] new ({_describe(after[name])})"
    for name in sorted(before.keys() & after.keys()):
        o, n = before[name], after[name]
        if (o.subject, o.is_role, o.purpose) != (n.subject, n.is_role, n.purpose):
            yield f"limits: [{name}] now bounds {_whom(n)} (was {_whom(o)})"
        for kind in KINDS:
            was, now = o.amounts.get(kind), n.amounts.get(kind)
            if was != now:
                yield (f"limits: [{name}] {kind} {was if was is not None else 'none'} -> "
                       f"{now if now is not None else 'none'}")


def _whom(rule: LimitRule) -> str:
    who = f"each {rule.subject}" if rule.is_role else rule.subject
    return f"{who} for {'every purpose' if rule.purpose == ANY_PURPOSE else rule.purpose}"


def _describe(rule: LimitRule) -> str:
    return f"{_whom(rule)}: " + ", ".join(f"{k} {v}" for k, v in rule.amounts.items())

