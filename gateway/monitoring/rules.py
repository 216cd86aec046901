"""policies/monitoring.toml: anomaly rules over the audit stream, parsed into declared types.

Each ``[rules.<id>]`` table is one rule: a ``kind`` (what it counts), a ``severity``, a
plain-language explanation in English and Chinese, and the few numbers its kind needs.
Keys are strict: a table is read into ``RuleTable`` (gateway.strict_toml), which refuses
an unknown, missing or mistyped key with its line and bounds every number; what a kind
needs, and what names a purpose or a party kind, is checked here against the catalogue,
so a rule that could never fire, or fires on everything, is refused before it is rolled
out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.strict_toml import Table, decode, read_toml

MONITORING_FILE = "monitoring.toml"
SEVERITIES = ("low", "medium", "high", "critical")
#: The audit actions that read a person's records (gateway.supervision.figures.QUERY_ACTIONS).
QUERY_ACTIONS = ("query.subject", "check.green_channel", "check.joint_punishment",
                 "check.incentive")
#: What each kind needs besides the common keys, and what it may also take.
KIND_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "volume_baseline": (frozenset({"factor", "min_calls", "warmup_weeks"}), frozenset()),
    "night_queries": (frozenset({"night_start", "night_end", "purposes"}), frozenset()),
    "refusal_share": (frozenset({"window_minutes", "min_calls", "share"}), frozenset()),
    "repeated_refusals": (frozenset({"window_minutes", "count", "reasons"}), frozenset()),
    "after_revocation": (frozenset({"window_minutes"}), frozenset()),
    "unusual_purpose": (frozenset({"learn_days"}), frozenset()),
    "many_agencies": (frozenset({"window_minutes", "agencies"}), frozenset()),
}
_RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_DIGIT_RUN = re.compile(r"[0-9]{15,}")
DEFAULT_MAX_TRACKED = 100_000


def _whole(low: int, high: int) -> Meta:
    return Meta(ge=low, le=high, description=f"a whole number from {low} to {high}")


def _number(above: float, most: float) -> Meta:
    return Meta(gt=above, le=most, description=f"a number above {above:g} and at most {most:g}")


_Code = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="a code")]
_Action = Annotated[str, Meta(pattern=r"^(?:\*|[a-z][a-z0-9_.]{0,62})$",
                              description='an action code or "*"')]  # "*": every action
_Codes = Annotated[tuple[_Code, ...], Meta(min_length=1, description="a non-empty list of codes")]
_Actions = Annotated[tuple[_Action, ...],
                     Meta(min_length=1, description="a non-empty list of codes")]
_Clock = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):([0-5][0-9])$",
                             description="a time of day HH:MM")]


class RuleTable(Table):
    """One ``[rules.<id>]`` table as written; a kind's own keys are left UNSET when absent
    (KIND_KEYS says which a kind needs and takes)."""

    kind: Literal["volume_baseline", "night_queries", "refusal_share", "repeated_refusals",
                  "after_revocation", "unusual_purpose", "many_agencies"]
    severity: Literal["low", "medium", "high", "critical"]
    explanation: str
    explanation_zh: str
    actions: _Actions | UnsetType = UNSET
    purposes: _Codes | UnsetType = UNSET
    reasons: _Codes | UnsetType = UNSET
    party_kinds: _Codes | UnsetType = UNSET
    decision: Annotated[Literal["allow", "deny", ""],
                        Meta(description='"allow", "deny" or ""')] | UnsetType = UNSET
    max_tracked: Annotated[int, _whole(10, 10_000_000)] | UnsetType = UNSET
    factor: Annotated[float, _number(1.0, 10_000.0)] | UnsetType = UNSET
    min_calls: Annotated[int, _whole(1, 10**9)] | UnsetType = UNSET
    warmup_weeks: Annotated[int, _whole(1, 52)] | UnsetType = UNSET
    night_start: _Clock | UnsetType = UNSET
    night_end: _Clock | UnsetType = UNSET
    window_minutes: Annotated[int, _whole(1, 7 * 24 * 60)] | UnsetType = UNSET
    count: Annotated[int, _whole(1, 10**9)] | UnsetType = UNSET
    share: Annotated[float, _number(0.0, 1.0)] | UnsetType = UNSET
    learn_days: Annotated[int, _whole(1, 366)] | UnsetType = UNSET
    agencies: Annotated[int, _whole(2, 10_000)] | UnsetType = UNSET


class MonitoringFile(Table):
    """monitoring.toml."""

    rules: dict[str, RuleTable] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One anomaly rule: what it watches, when it fires, how bad and why it matters."""

    id: str
    kind: str
    severity: str
    explanation: str
    explanation_zh: str
    #: Audit actions the rule counts (default: the query actions).
    actions: tuple[str, ...] = QUERY_ACTIONS
    #: Purposes the rule watches; empty: every purpose.
    purposes: tuple[str, ...] = ()
    #: Refusal reason prefixes (repeated_refusals).
    reasons: tuple[str, ...] = ()
    #: Kinds of the calling party the rule watches (parties.toml kind); empty: all.
    party_kinds: tuple[str, ...] = ()
    #: "allow" or "deny" to count only those entries; "" counts both.
    decision: str = ""
    factor: float = 0.0
    min_calls: int = 0
    warmup_weeks: int = 0
    #: Night from..to as minutes of the city's day (night_start may be after night_end).
    night_start: int = 0
    night_end: int = 0
    window_minutes: int = 0
    count: int = 0
    share: float = 0.0
    learn_days: int = 0
    agencies: int = 0
    #: Parties, subjects or keys the rule remembers at most (its state stays bounded).
    max_tracked: int = DEFAULT_MAX_TRACKED


@dataclass(frozen=True)
class MonitoringRules:
    """The rules of one monitoring.toml and the digest of its bytes (its version)."""

    rules: tuple[Rule, ...]
    version: str

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        return next((r for r in self.rules if r.id == rule_id), None)


NO_RULES = MonitoringRules((), "none")


def load_monitoring(policies_dir: Path, catalogue: Catalogue) -> MonitoringRules:
    """The rules of policies_dir/monitoring.toml (none if absent); raises ConfigurationError."""
    path = Path(policies_dir) / MONITORING_FILE
    if not path.exists():
        return NO_RULES
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{MONITORING_FILE} cannot be read: {type(exc).__name__}") \
            from None
    doc, text = read_toml(path, MONITORING_FILE)
    return parse_monitoring(doc, catalogue, version=hashlib.sha256(data).hexdigest()[:16],
                            text=text)


def parse_monitoring(doc: Mapping[str, Any], catalogue: Catalogue, *,
                     version: str, text: str = "") -> MonitoringRules:
    """Rules from a parsed document (``text``: the file, for the line of a bad key); raises
    ConfigurationError naming the rule and key."""
    tables = decode(doc, MonitoringFile, file=MONITORING_FILE, text=text).rules
    return MonitoringRules(tuple(_rule(rule_id, raw, catalogue)
                                 for rule_id, raw in tables.items()), version)


def _problem(rule_id: str, text: str) -> ConfigurationError:
    return ConfigurationError(f"{MONITORING_FILE}: rules.{rule_id}: {text}")


def _rule(rule_id: str, raw: RuleTable, catalogue: Catalogue) -> Rule:
    if not _RULE_ID.fullmatch(rule_id):
        raise _problem(rule_id[:64], "a rule id is lower-case letters, digits and _")
    given = {f: v for f in raw.__struct_fields__ if (v := getattr(raw, f)) is not UNSET}
    needed, optional = KIND_KEYS[raw.kind]
    common = {"kind", "severity", "explanation", "explanation_zh", "actions", "purposes",
              "party_kinds", "decision", "max_tracked"}
    extra = sorted(set(given) - common - needed - optional)
    if extra:
        raise _problem(rule_id, f"{', '.join(extra)} do(es) not apply to kind {raw.kind}")
    missing = sorted(needed - set(given))
    if missing:
        raise _problem(rule_id, f"kind {raw.kind} needs {', '.join(missing)}")
    for key in ("explanation", "explanation_zh"):
        text = given[key]
        if not text.strip() or len(text) > 1000:
            raise _problem(rule_id, f"{key} must be a plain-language text (1-1000 chars)")
        if _DIGIT_RUN.search(text):
            raise _problem(rule_id, f"{key} holds a long run of digits (personal data?)")
    values: dict[str, Any] = {**given, "id": rule_id,
                              "explanation": raw.explanation.strip(),
                              "explanation_zh": raw.explanation_zh.strip()}
    unknown = [p for p in values.get("purposes", ()) if p not in catalogue.purposes]
    if unknown:
        raise _problem(rule_id, f"unknown purpose(s) {', '.join(unknown)}")
    kinds = {p.kind for p in catalogue.parties.values()}
    unknown = [k for k in values.get("party_kinds", ()) if k not in kinds]
    if unknown:
        raise _problem(rule_id, f"no party is of kind {', '.join(unknown)}")
    for key in ("night_start", "night_end"):
        if key in values:
            hours, minutes = values[key].split(":")
            values[key] = int(hours) * 60 + int(minutes)
    if raw.kind == "night_queries" and values["night_start"] == values["night_end"]:
        raise _problem(rule_id, "night_start and night_end must differ")
    return Rule(**values)
