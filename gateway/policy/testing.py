"""`credgate policy test`: decision test cases kept beside the policy (policies/tests/*.toml).

Each `[[case]]` names one request and the decision the security officer expects:

    [[case]]
    name = "cadre check sees court debts"     # unique in its file
    party = "org_department"                   # or: role = "personnel_authority"
    purpose = "cadre_selection"
    object = "dishonest_debtor"                # a field, a category or a group
    action = "read"                            # read | read_masked | submit | check
    consent = false                            # optional: consent artefact presented
    subject_age = 35                           # optional: the person's age
    expect = "allow"                           # allow | deny
    why = "the plan's mandatory check"         # the reason, for the next reader

A role case is checked for every party holding the role and passes only if all do.
As in `opa test`, a run with no case selected fails. `[[quota]]` tables in the same
files test limits.toml (gateway.policy.quota_cases).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.monitoring.replay import FILE_GLOB as MONITORING_GLOB
from gateway.monitoring.replay import StreamResult, load_streams, run_streams
from gateway.monitoring.rules import load_monitoring
from gateway.policy.case_tables import CaseTable, read_case_file
from gateway.policy.case_tables import subject as case_subject
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import Decision, Explanation
from gateway.policy.limits import load_limits
from gateway.policy.policyfile import ACTIONS, catalogue_objects
from gateway.policy.quota_cases import QuotaCaseResult, load_quota_cases, run_quota_cases
from gateway.policy.validate import PolicySet, open_policies
from gateway.strict_toml import key_line

__all__ = ["Case", "CaseCheck", "CaseFileError", "CaseResult", "PolicyTestReport",
           "load_cases", "run_cases", "run_policy_tests"]

TESTS_DIR = "tests"


class CaseFileError(ConfigurationError):
    """Test case files that cannot be run; the message lists every problem found."""


@dataclass(frozen=True)
class Case:
    """One named request with its expected decision, and where it is written."""

    file: Path
    line: int
    name: str
    subject: str  # the party, or the role, as written
    is_role: bool
    parties: tuple[str, ...]  # the parties it is checked for
    purpose: str
    obj: str
    action: str
    consent: bool
    subject_age: int | None
    expect: str
    why: str

    @property
    def id(self) -> str:
        """FILE/NAME, what `--run` matches."""
        return f"{self.file.stem}/{self.name}"

    @property
    def where(self) -> str:
        """FILE:LINE of the case."""
        return f"{self.file}:{self.line}"

    @property
    def context(self) -> ConditionContext:
        """The condition facts of the request."""
        return ConditionContext(consent_presented=self.consent, subject_age=self.subject_age)

    def request(self, party: str) -> str:
        """The request in words, for one party."""
        facts = ["consent presented" if self.consent else "no consent"]
        if self.subject_age is not None:
            facts.append(f"subject aged {self.subject_age}")
        return (f"{party} {self.action} {self.obj} for {self.purpose} "
                f"({', '.join(facts)})")


@dataclass(frozen=True)
class CaseCheck:
    """The decision for one party of a case; failures carry the explanation."""

    party: str
    decision: Decision
    passed: bool
    explanation: Explanation | None


@dataclass(frozen=True)
class CaseResult:
    """A case and its checks (one per party); it passes when every check does."""

    case: Case
    checks: tuple[CaseCheck, ...]

    @property
    def passed(self) -> bool:
        """Whether every party got the expected decision."""
        return all(c.passed for c in self.checks)

    def lines(self) -> list[str]:
        """PASS or FAIL, and for a failure the request, decisions, rule and chains."""
        case = self.case
        who = f" [{case.subject}: {len(case.parties)} parties]" if case.is_role else ""
        if self.passed:
            return [f"PASS {case.id}{who}"]
        out = [f"FAIL {case.id}{who} ({case.where})"]
        # Parties of a role case that failed the same way are shown once.
        alike: dict[tuple[bool, str], list[CaseCheck]] = {}
        for check in self.checks:
            if not check.passed:
                key = (check.decision.allowed, check.decision.reason)
                alike.setdefault(key, []).append(check)
        for check, *others in alike.values():
            rule = check.decision.rule
            out += [f"  request:  {case.request(check.party)}",
                    f"  expected: {case.expect}",
                    f"  actual:   {'allow' if check.decision.allowed else 'deny'}",
                    f"  rule:     {rule if rule else check.decision.reason}"]
            if check.explanation is not None:
                out += [f"  roles:    {' -> '.join(check.explanation.role_chain)}",
                        f"  object:   {' -> '.join(check.explanation.object_chain)}"]
            if others:
                out.append(f"  same for: {', '.join(c.party for c in others)}")
        out.append(f"  why:      {case.why}")
        return out

    def to_json(self) -> dict[str, Any]:
        """The result as plain data."""
        case = self.case
        return {
            "id": case.id, "file": str(case.file), "line": case.line, "name": case.name,
            "passed": self.passed, "expect": case.expect,
            "checks": [{
                "party": c.party, "passed": c.passed,
                "actual": "allow" if c.decision.allowed else "deny",
                "rule": str(c.decision.rule) if c.decision.rule else None,
                "reason": c.decision.reason,
                "role_chain": list(c.explanation.role_chain) if c.explanation else None,
                "object_chain": list(c.explanation.object_chain) if c.explanation else None,
            } for c in self.checks],
        }


@dataclass(frozen=True)
class PolicyTestReport:
    """The results of a run; `ok` only when at least one case ran and all passed."""

    results: tuple[CaseResult | QuotaCaseResult, ...]
    policy_version: str
    run: str | None = None
    source: str = ""  # where the cases were read from
    #: The monitoring rules' recorded streams (tests/monitoring_*.toml) and their alerts.
    streams: tuple[StreamResult, ...] = ()

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(r.passed for r in self.results)

    @property
    def ok(self) -> bool:
        """At least one case ran, and every case and stream passed."""
        return (bool(self.results) and self.passed == len(self.results)
                and all(s.passed for s in self.streams))

    @property
    def summary(self) -> str:
        """`PASS: n/m`, as opa test prints it (with a note when nothing ran)."""
        if not self.results:
            where = f" in {self.source}" if self.source else ""
            selected = f" matching --run '{self.run}'" if self.run else ""
            return f"FAIL: no test cases{where}{selected} (an empty test set is a failure)"
        # Monitoring streams count as cases: PASS n/m covers both.
        passed = self.passed + sum(r.passed for r in self.streams)
        return f"PASS: {passed}/{len(self.results) + len(self.streams)}"

    def lines(self, verbose: bool = False) -> list[str]:
        """Failures always, passes too when verbose, then the summary."""
        out = [line for r in self.results if verbose or not r.passed for line in r.lines()]
        out += [line for r in self.streams if verbose or not r.passed for line in r.lines()]
        return [*out, self.summary]

    def to_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"ok": self.ok, "passed": self.passed, "total": len(self.results),
                "policy_version": self.policy_version, "run": self.run,
                "results": [r.to_json() for r in self.results],
                "streams": [r.to_json() for r in self.streams]}


def load_cases(cases_dir: Path, policies: PolicySet) -> list[Case]:
    """Every case of cases_dir/*.toml; raises CaseFileError naming each file, line and case."""
    problems: list[str] = []
    cases: list[Case] = []
    for path in sorted(cases_dir.glob("*.toml")) if cases_dir.is_dir() else []:
        if path.match(MONITORING_GLOB):
            continue  # recorded entry streams of the monitoring rules (replay.py)
        try:
            data, text = read_case_file(path)
        except ConfigurationError as exc:
            problems.append(exc.message)
            continue
        names: dict[str, int] = {}
        for index, raw in enumerate(data.case):
            line = key_line(text, ("case", index))
            label = f"{path}:{line} case {raw.name!r}"
            try:
                case = _parse_case(raw, path, line, policies)
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
                continue
            if case.name in names:
                problems.append(f"{label}: repeats the name of the case at line "
                                f"{names[case.name]}")
            names[case.name] = line
            cases.append(case)
    if problems:
        raise CaseFileError(f"{len(problems)} problem(s) in the test cases:\n  "
                            + "\n  ".join(problems))
    return cases


def run_cases(cases: Sequence[Case], policies: PolicySet, run: str | None = None,
              source: str = "") -> PolicyTestReport:
    """Decide every selected case (`run`: regex searched in FILE/NAME); never raises."""
    pattern = re.compile(run) if run else None
    engine = policies.engine
    results: list[CaseResult] = []
    for case in cases:
        if pattern is not None and not pattern.search(case.id):
            continue
        checks: list[CaseCheck] = []
        # The gateway releases reads field by field: "deny" on a category or group holds
        # only if no field under it is released at that level.
        fields = (fields_under(policies.catalogue, case.obj)
                  if case.expect == "deny" and case.action in FIELD_ACTIONS else ())
        for party in case.parties:
            request = (party, case.obj, case.action, case.purpose, case.context)
            decision = engine.decide(*request)
            passed = decision.allowed == (case.expect == "allow")
            for field in fields:
                if passed and engine.decide(party, field, *request[2:]).allowed:
                    passed, request = False, (party, field, *request[2:])
                    decision = engine.decide(*request)
            checks.append(CaseCheck(party, decision, passed,
                                    None if passed else engine.explain(*request)))
        results.append(CaseResult(case, tuple(checks)))
    return PolicyTestReport(tuple(results), engine.version, run, source)


FIELD_ACTIONS = frozenset({"read", "read_masked"})


def fields_under(catalogue: Catalogue, obj: str) -> tuple[str, ...]:
    """The field objects a category or group stands for (none for a field)."""
    children: dict[str, list[str]] = {}
    for child, parent in catalogue.hierarchy():
        children.setdefault(parent, []).append(child)
    found: list[str] = []
    stack = [obj]
    seen = {obj}
    while stack:
        node = stack.pop()
        for child in children.get(node, ()):
            if child in seen:
                continue
            seen.add(child)
            if child in children:
                stack.append(child)
            elif "." in child:
                found.append(child)
    return tuple(sorted(found))


def run_policy_tests(policies_dir: Path, run: str | None = None,
                     cases_dir: Path | None = None) -> PolicyTestReport:
    """Load the policy and its cases (default policies_dir/tests) and run them."""
    if run:
        try:
            re.compile(run)
        except re.error as exc:
            raise CaseFileError(f"--run '{run}' is not a regular expression: {exc}") from None
    policies = open_policies(policies_dir)
    cases_dir = cases_dir or policies_dir / TESTS_DIR
    report = run_cases(load_cases(cases_dir, policies), policies, run, str(cases_dir))
    quota_cases, problems = load_quota_cases(cases_dir, policies.catalogue, policies.roles)
    if problems:
        raise CaseFileError(f"{len(problems)} problem(s) in the quota cases:\n  "
                            + "\n  ".join(problems))
    if quota_cases:
        played = run_quota_cases(quota_cases, load_limits(policies_dir, policies.catalogue),
                                 policies.catalogue, run)
        report = replace(report, results=(*report.results, *played))
    rules = load_monitoring(policies_dir, policies.catalogue)
    streams = run_streams(load_streams(cases_dir, rules), rules, policies.catalogue,
                          re.compile(run) if run else None)
    return replace(report, streams=tuple(streams))


def _parse_case(raw: CaseTable, path: Path, line: int, ps: PolicySet) -> Case:
    """One [[case]] table, checked against the policy's names; raises ValueError."""
    subject, is_role = case_subject(raw)
    cat = ps.catalogue
    if not is_role:
        if subject not in cat.parties:
            hint = " (it is a role: write role = ...)" if ps.is_role(subject) else ""
            raise ValueError(f"unknown party '{subject}'{hint}")
        parties: tuple[str, ...] = (subject,)
    else:
        if not ps.is_role(subject):
            hint = " (it is a party: write party = ...)" if subject in cat.parties else ""
            raise ValueError(f"unknown role '{subject}'{hint}")
        parties = ps.holders(subject)
        if not parties:
            raise ValueError(f"no party holds role '{subject}': the case would test nothing")
    if raw.purpose not in cat.purposes:
        raise ValueError(f"unknown purpose '{raw.purpose}'")
    if raw.object not in catalogue_objects(cat):
        raise ValueError(f"unknown object '{raw.object}' (not a field, category or group)")
    if raw.action not in ACTIONS:
        raise ValueError(f"unknown action '{raw.action}' "
                         f"(one of {', '.join(sorted(ACTIONS))})")
    if raw.action not in FIELD_ACTIONS and raw.object not in (*cat.categories, *cat.groups):
        # The gateway asks these per category: a field case tests a request never made.
        raise ValueError(f"'{raw.action}' is decided per category: name a category or "
                         "group, not a field")
    return Case(file=path, line=line, name=raw.name, subject=subject, is_role=is_role,
                parties=parties, purpose=raw.purpose, obj=raw.object, action=raw.action,
                consent=raw.consent, subject_age=raw.subject_age, expect=raw.expect,
                why=raw.why)
