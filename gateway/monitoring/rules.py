"""policies/monitoring.toml: anomaly rules over the audit stream, parsed into declared types.

Each ``[rules.<id>]`` table is one rule: a ``kind`` (what it counts), a ``severity``, a
plain-language explanation in English and Chinese, and the few numbers its kind needs.
Keys are strict (gateway.catalogue.policy_keys.MONITORING_KEYS); every value is checked
here, against the catalogue where it names a purpose or a party kind, so a rule that
could never fire, or fires on everything, is refused before it is rolled out.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalogue.policy_keys import MONITORING_KEYS, check_keys
from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError

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
_COMMON = frozenset({"kind", "severity", "explanation", "explanation_zh", "actions", "purposes",
                     "party_kinds", "decision", "max_tracked"})
_RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_ACTION = re.compile(r"\*|[a-z][a-z0-9_.]{0,62}")  # "*": every action
_REASON = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DIGIT_RUN = re.compile(r"[0-9]{15,}")
DEFAULT_MAX_TRACKED = 100_000


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
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{MONITORING_FILE}: cannot be read: {exc}") from None
    return parse_monitoring(doc, catalogue, version=hashlib.sha256(data).hexdigest()[:16])


def parse_monitoring(doc: Mapping[str, Any], catalogue: Catalogue, *,
                     version: str) -> MonitoringRules:
    """Rules from a parsed document; raises ConfigurationError naming the rule and key."""
    check_keys(doc, MONITORING_KEYS, MONITORING_FILE)
    rules = tuple(_rule(rule_id, raw, catalogue)
                  for rule_id, raw in dict(doc.get("rules", {})).items())
    return MonitoringRules(rules, version)


def _problem(rule_id: str, text: str) -> ConfigurationError:
    return ConfigurationError(f"{MONITORING_FILE}: rules.{rule_id}: {text}")


def _rule(rule_id: str, raw: Mapping[str, Any], catalogue: Catalogue) -> Rule:
    if not _RULE_ID.fullmatch(rule_id):
        raise _problem(rule_id[:64], "a rule id is lower-case letters, digits and _")
    kind = str(raw.get("kind"))
    if kind not in KIND_KEYS:
        raise _problem(rule_id, f"kind must be one of {', '.join(KIND_KEYS)}")
    needed, optional = KIND_KEYS[kind]
    allowed = _COMMON | needed | optional
    extra = sorted(set(raw) - allowed)
    if extra:
        raise _problem(rule_id, f"{', '.join(extra)} do(es) not apply to kind {kind}")
    missing = sorted(needed - set(raw))
    if missing:
        raise _problem(rule_id, f"kind {kind} needs {', '.join(missing)}")
    if raw.get("severity") not in SEVERITIES:
        raise _problem(rule_id, f"severity must be one of {', '.join(SEVERITIES)}")
    texts = {k: raw.get(k) for k in ("explanation", "explanation_zh")}
    for key, text in texts.items():
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            raise _problem(rule_id, f"{key} must be a plain-language text (1-1000 chars)")
        if _DIGIT_RUN.search(text):
            raise _problem(rule_id, f"{key} holds a long run of digits (personal data?)")
    values: dict[str, Any] = {"id": rule_id, "kind": kind, "severity": raw["severity"],
                              "explanation": raw["explanation"].strip(),
                              "explanation_zh": raw["explanation_zh"].strip()}
    for key, pattern in (("actions", _ACTION), ("reasons", _REASON)):
        if key in raw:
            values[key] = _codes(rule_id, key, raw[key], pattern)
    if "purposes" in raw:
        values["purposes"] = _codes(rule_id, "purposes", raw["purposes"], _RULE_ID)
        unknown = [p for p in values["purposes"] if p not in catalogue.purposes]
        if unknown:
            raise _problem(rule_id, f"unknown purpose(s) {', '.join(unknown)}")
    if "party_kinds" in raw:
        values["party_kinds"] = _codes(rule_id, "party_kinds", raw["party_kinds"], _RULE_ID)
        kinds = {p.kind for p in catalogue.parties.values()}
        unknown = [k for k in values["party_kinds"] if k not in kinds]
        if unknown:
            raise _problem(rule_id, f"no party is of kind {', '.join(unknown)}")
    if "decision" in raw:
        if raw["decision"] not in ("allow", "deny", ""):
            raise _problem(rule_id, 'decision must be "allow", "deny" or ""')
        values["decision"] = raw["decision"]
    for key, low, high in (("min_calls", 1, 10**9), ("warmup_weeks", 1, 52),
                           ("window_minutes", 1, 7 * 24 * 60), ("count", 1, 10**9),
                           ("learn_days", 1, 366), ("agencies", 2, 10_000),
                           ("max_tracked", 10, 10_000_000)):
        if key in raw:
            values[key] = _whole(rule_id, key, raw[key], low, high)
    for key, bottom, top in (("factor", 1.0, 10_000.0), ("share", 0.0, 1.0)):
        if key in raw:
            number = raw[key]
            if isinstance(number, bool) or not isinstance(number, int | float) or not (
                    bottom < number <= top):
                raise _problem(rule_id, f"{key} must be a number above {bottom:g} and at "
                                        f"most {top:g}")
            values[key] = float(number)
    for key in ("night_start", "night_end"):
        if key in raw:
            match = _CLOCK.fullmatch(str(raw[key]))
            if match is None:
                raise _problem(rule_id, f"{key} must be a time of day HH:MM")
            values[key] = int(match.group(1)) * 60 + int(match.group(2))
    if kind == "night_queries" and values["night_start"] == values["night_end"]:
        raise _problem(rule_id, "night_start and night_end must differ")
    return Rule(**values)


def _codes(rule_id: str, key: str, value: Any, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and pattern.fullmatch(v) for v in value):
        raise _problem(rule_id, f"{key} must be a non-empty list of codes")
    return tuple(value)


def _whole(rule_id: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _problem(rule_id, f"{key} must be a whole number from {low} to {high}")
    return value
