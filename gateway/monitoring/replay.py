"""Tests of the monitoring rules: recorded entry streams and the alerts they must raise.

`credgate policy test` runs them beside the access cases. A file
``policies/tests/monitoring_<name>.toml`` holds ``[[stream]]`` tables::

    [[stream]]
    name = "a night query for a cadre check"      # unique in its file
    start = "2026-11-02T09:00:00+08:00"
    rules = ["night_queries"]                     # optional: only these rules run
    why = "the plan's cadre checks are office work"

    [[stream.entry]]          # one or more entries; seqs are numbered in time order
    at = "13h"                # offset from start: s, m, h, d or w
    party = "org_department"
    action = "query.subject"  # optional, default query.subject
    purpose = "cadre_selection"
    subject = "person-a"      # optional: a label, replayed as a blind index
    decision = "allow"        # optional, default allow
    reason = ""               # optional
    repeat = 1                # optional: this many entries ...
    every = "1h"              # ... this far apart

    [[stream.expect]]         # every alert the stream must raise, and no other
    rule = "night_queries"
    party = "org_department"  # optional
    subject = "person-a"      # optional
    count = 1                 # optional, default 1

An empty list of ``expect`` tables means: no alert at all.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.monitoring.engine import Alert, MonitorContext, RuleEngine
from gateway.monitoring.rules import MonitoringRules

FILE_GLOB = "monitoring_*.toml"
_OFFSET = re.compile(r"([0-9]+)(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STREAM_KEYS = frozenset({"name", "start", "rules", "why", "entry", "expect"})
_ENTRY_KEYS = frozenset({"at", "party", "action", "purpose", "subject", "decision",
                         "reason", "repeat", "every"})
_EXPECT_KEYS = frozenset({"rule", "party", "subject", "count"})
_MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class Stream:
    """One recorded stream, the rules it runs and the alerts it expects."""

    file: Path
    name: str
    rules: tuple[str, ...]
    why: str
    entries: tuple[AuditEntry, ...]
    expected: Counter[tuple[str, str, str]]
    #: The stand-in blind indexes and the subject labels they were made of.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """FILE/NAME, what `--run` matches."""
        return f"{self.file.stem}/{self.name}"


@dataclass(frozen=True)
class StreamResult:
    """The alerts a stream raised beside the ones it expected."""

    stream: Stream
    actual: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        """Exactly the expected alerts were raised."""
        return self.actual == self.stream.expected

    def lines(self) -> list[str]:
        """PASS, or FAIL with the missing and the unexpected alerts."""
        if self.passed:
            return [f"PASS {self.stream.id}"]
        missing = self.stream.expected - self.actual
        extra = self.actual - self.stream.expected
        out = [f"FAIL {self.stream.id} ({self.stream.file})"]
        out += [f"  missing:    {_label(k)} x{n}" for k, n in sorted(missing.items())]
        out += [f"  unexpected: {_label(k)} x{n}" for k, n in sorted(extra.items())]
        return [*out, f"  why:        {self.stream.why}"]

    def to_json(self) -> dict[str, Any]:
        """The result as plain data."""
        return {"id": self.stream.id, "file": str(self.stream.file), "passed": self.passed,
                "expected": [[*k, n] for k, n in sorted(self.stream.expected.items())],
                "actual": [[*k, n] for k, n in sorted(self.actual.items())]}


def _label(key: tuple[str, str, str]) -> str:
    rule, party, subject = key
    return " ".join(x for x in (rule, party and f"party={party}",
                                subject and f"subject={subject}") if x)


def subject_index(label: str) -> str:
    """The stand-in blind index of a subject label in a recorded stream."""
    return f"test:{hashlib.sha256(label.encode()).hexdigest()}"


def _offset(value: Any, where: str) -> timedelta:
    match = _OFFSET.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{where} must be a number and a unit (s, m, h, d, w), e.g. 90m")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _entries(raw: list[Any], start: datetime, labels: dict[str, str]) -> list[AuditEntry]:
    timed: list[tuple[datetime, int, AuditEntry]] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - _ENTRY_KEYS or "party" not in item:
            raise ValueError(f"entry {n + 1}: needs party; keys are {sorted(_ENTRY_KEYS)}")
        at = start + _offset(item.get("at", "0s"), f"entry {n + 1} at")
        every = _offset(item.get("every", "0s"), f"entry {n + 1} every")
        repeat = item.get("repeat", 1)
        if not isinstance(repeat, int) or not 1 <= repeat <= _MAX_ENTRIES:
            raise ValueError(f"entry {n + 1}: repeat must be 1 to {_MAX_ENTRIES}")
        label = str(item.get("subject", ""))
        index = subject_index(label) if label else ""
        if label:
            labels[index] = label
        entry = AuditEntry(
            time=at, trace_id="", requester=str(item["party"]),
            action=str(item.get("action", "query.subject")),
            purpose=str(item.get("purpose", "")), subject_index=index, categories=(),
            fields_released=(), consent_id="", policy_rule="", policy_version="replay",
            decision=str(item.get("decision", "allow")), reason=str(item.get("reason", "")),
            request_id="", record_count=0)
        timed += [(at + i * every, len(timed) + i, replace(entry, time=at + i * every))
                  for i in range(repeat)]
    if len(timed) > _MAX_ENTRIES:
        raise ValueError(f"a stream holds at most {_MAX_ENTRIES} entries")
    return [e for _, _, e in sorted(timed, key=lambda x: (x[0], x[1]))]


def _stream(raw: Any, path: Path, rules: MonitoringRules) -> Stream:
    if not isinstance(raw, dict) or set(raw) - _STREAM_KEYS or "name" not in raw:
        raise ValueError(f"a stream needs a name; keys are {sorted(_STREAM_KEYS)}")
    try:
        start = datetime.fromisoformat(str(raw.get("start", "")))
    except ValueError:
        raise ValueError("start must be an RFC 3339 time with its offset") from None
    if start.tzinfo is None:
        raise ValueError("start must name its UTC offset")
    names = tuple(raw.get("rules", ())) or tuple(r.id for r in rules.rules)
    unknown = [r for r in names if rules.get(r) is None]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
    labels: dict[str, str] = {}
    entries = _entries(list(raw.get("entry", [])), start.astimezone(UTC), labels)
    expected: Counter[tuple[str, str, str]] = Counter()
    for item in raw.get("expect", []):
        if not isinstance(item, dict) or set(item) - _EXPECT_KEYS or "rule" not in item:
            raise ValueError(f"an expect names a rule; keys are {sorted(_EXPECT_KEYS)}")
        if item["rule"] not in names:
            raise ValueError(f"expect names rule {item['rule']}, which the stream does not run")
        expected[(item["rule"], str(item.get("party", "")), str(item.get("subject", "")))] += \
            int(item.get("count", 1))
    return Stream(file=path, name=str(raw["name"]), rules=names, why=str(raw.get("why", "")),
                  entries=tuple(entries), expected=expected, labels=labels)


def load_streams(cases_dir: Path, rules: MonitoringRules) -> list[Stream]:
    """Every stream of cases_dir/monitoring_*.toml; raises ConfigurationError listing problems."""
    problems: list[str] = []
    streams: list[Stream] = []
    for path in sorted(cases_dir.glob(FILE_GLOB)) if cases_dir.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: cannot be read: {exc}")
            continue
        if set(data) - {"stream"}:
            problems.append(f"{path}: streams are [[stream]] tables")
        seen: set[str] = set()
        for n, raw in enumerate(data.get("stream", [])):
            try:
                stream = _stream(raw, path, rules)
            except (ValueError, TypeError) as exc:
                problems.append(f"{path} stream {n + 1}: {exc}")
                continue
            if stream.name in seen:
                problems.append(f"{path}: the stream name {stream.name!r} repeats")
            seen.add(stream.name)
            streams.append(stream)
    if problems:
        raise ConfigurationError(f"{len(problems)} problem(s) in the monitoring tests:\n  "
                                 + "\n  ".join(problems))
    return streams


def replay(stream: Stream, rules: MonitoringRules, ctx: MonitorContext) -> list[Alert]:
    """The alerts the stream raises under the rules it names."""
    chosen = MonitoringRules(tuple(r for r in rules.rules if r.id in stream.rules),
                             rules.version)
    engine = RuleEngine(chosen, ctx)
    return [a for seq, e in enumerate(stream.entries, start=1) for a in engine.feed(seq, e)]


def run_streams(streams: list[Stream], rules: MonitoringRules, catalogue: Catalogue,
                run: re.Pattern[str] | None = None) -> list[StreamResult]:
    """Replay every selected stream and compare its alerts with the expected ones."""
    ctx = MonitorContext.from_catalogue(catalogue)
    results: list[StreamResult] = []
    for stream in streams:
        if run is not None and not run.search(stream.id):
            continue
        actual: Counter[tuple[str, str, str]] = Counter(
            (a.rule, a.party, stream.labels.get(a.subject_index, "")) for a in
            replay(stream, rules, ctx))
        results.append(StreamResult(stream, actual))
    return results
