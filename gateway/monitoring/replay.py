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

An empty list of ``expect`` tables means: no alert at all. A file is read into
``StreamFile`` (gateway.strict_toml): an unknown, missing or mistyped key is refused with
its line and key path.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.audit.entry import AuditEntry
from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.monitoring.engine import Alert, MonitorContext, RuleEngine
from gateway.monitoring.rules import MonitoringRules
from gateway.strict_toml import Table, decode, read_toml

FILE_GLOB = "monitoring_*.toml"
_OFFSET = re.compile(r"([0-9]+)(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_ENTRIES = 200_000

Offset = Annotated[str, Meta(pattern=r"^[0-9]+(s|m|h|d|w)$",
                             description="a number and a unit (s, m, h, d, w), e.g. 90m")]


class EntryTable(Table):
    """One ``[[stream.entry]]``: an audit entry, or a run of them."""

    party: str
    at: Offset = "0s"
    action: str = "query.subject"
    purpose: str = ""
    subject: str = ""
    decision: str = "allow"
    reason: str = ""
    repeat: Annotated[int, Meta(ge=1, le=_MAX_ENTRIES,
                                description=f"a whole number from 1 to {_MAX_ENTRIES}")] = 1
    every: Offset = "0s"


class ExpectTable(Table):
    """One ``[[stream.expect]]``: an alert the stream must raise."""

    rule: str
    party: str = ""
    subject: str = ""
    count: Annotated[int, Meta(ge=1, description="a whole number >= 1")] = 1


class StreamTable(Table):
    """One ``[[stream]]``."""

    name: str
    start: Annotated[datetime, Meta(tz=True, description="an RFC 3339 time with its UTC "
                                                         "offset")]
    rules: tuple[str, ...] = ()
    why: str = ""
    entry: list[EntryTable] = msgspec.field(default_factory=list)
    expect: list[ExpectTable] = msgspec.field(default_factory=list)


class StreamFile(Table):
    """A file of recorded streams, policies/tests/monitoring_*.toml."""

    stream: list[StreamTable] = msgspec.field(default_factory=list)


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


def _offset(value: str) -> timedelta:
    match = _OFFSET.fullmatch(value)
    assert match is not None  # the form is declared by Offset
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _entries(raw: list[EntryTable], start: datetime, labels: dict[str, str]
             ) -> list[AuditEntry]:
    timed: list[tuple[datetime, int, AuditEntry]] = []
    for item in raw:
        at, every = start + _offset(item.at), _offset(item.every)
        index = subject_index(item.subject) if item.subject else ""
        if item.subject:
            labels[index] = item.subject
        entry = AuditEntry(
            time=at, trace_id="", requester=item.party, action=item.action,
            purpose=item.purpose, subject_index=index, categories=(),
            fields_released=(), consent_id="", policy_rule="", policy_version="replay",
            decision=item.decision, reason=item.reason, request_id="", record_count=0)
        timed += [(at + i * every, len(timed) + i, replace(entry, time=at + i * every))
                  for i in range(item.repeat)]
    if len(timed) > _MAX_ENTRIES:
        raise ValueError(f"a stream holds at most {_MAX_ENTRIES} entries")
    return [e for _, _, e in sorted(timed, key=lambda x: (x[0], x[1]))]


def _stream(raw: StreamTable, path: Path, rules: MonitoringRules) -> Stream:
    names = raw.rules or tuple(r.id for r in rules.rules)
    unknown = [r for r in names if rules.get(r) is None]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}")
    labels: dict[str, str] = {}
    entries = _entries(raw.entry, raw.start.astimezone(UTC), labels)
    expected: Counter[tuple[str, str, str]] = Counter()
    for item in raw.expect:
        if item.rule not in names:
            raise ValueError(f"expect names rule {item.rule}, which the stream does not run")
        expected[(item.rule, item.party, item.subject)] += item.count
    return Stream(file=path, name=raw.name, rules=names, why=raw.why,
                  entries=tuple(entries), expected=expected, labels=labels)


def load_streams(cases_dir: Path, rules: MonitoringRules) -> list[Stream]:
    """Every stream of cases_dir/monitoring_*.toml; raises ConfigurationError listing problems."""
    problems: list[str] = []
    streams: list[Stream] = []
    for path in sorted(cases_dir.glob(FILE_GLOB)) if cases_dir.is_dir() else []:
        try:
            doc, text = read_toml(path, str(path))
            data = decode(doc, StreamFile, file=str(path), text=text)
        except ConfigurationError as exc:
            problems.append(exc.message)
            continue
        seen: set[str] = set()
        for n, raw in enumerate(data.stream):
            try:
                stream = _stream(raw, path, rules)
            except ValueError as exc:
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
