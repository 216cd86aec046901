"""`credgate policy validate`: find policy mistakes before they are rolled out.

Load errors (syntax, unknown names, submissions outside a remit) become findings with
file and line; a broken line is then set aside and loading retried, so one run lists
every broken line. A policy that loads is then checked for rules that can never apply,
allows that a deny always overrides, consent that a rule forgets or cannot rely on, and
denies that do not hold back what their author meant them to.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.catalogue.registry import Catalogue, Purpose, load_catalogue
from gateway.errors import ConfigurationError
from gateway.monitoring.rules import MONITORING_FILE, load_monitoring
from gateway.policy import conditions
from gateway.policy.conditions import ADULT_AGE, ConditionContext
from gateway.policy.decide import PolicyEngine
from gateway.policy.kinds import kind_problems
from gateway.policy.limits import LIMITS_FILE, limit_problems, load_limits
from gateway.policy.policyfile import (
    MODEL_FILE,
    POLICY_FILE,
    Rule,
    adjacency,
    catalogue_objects,
    closure,
    load_policy,
)
from gateway.policy.unconsented import unconsented_reads
from gateway.protect.profiles import MASKING_FILE, read_profiles
from gateway.strict_toml import key_line

__all__ = ["Finding", "PolicySet", "open_policies", "possible_contexts", "validate_policy"]

Severity = Literal["error", "warning"]
# Each broken line is reported, then commented out and the load retried; this bounds it.
_MAX_LOAD_ERRORS = 25


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: how bad, where (file and line; 0 when no line applies), and what."""

    severity: Severity
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else (self.file or "policies")
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class PolicySet:
    """A loaded policies/ directory: catalogue, engine and the role and data hierarchies."""

    directory: Path
    catalogue: Catalogue
    engine: PolicyEngine
    roles: Mapping[str, tuple[str, ...]]  # subject -> itself and every role it holds
    ancestors: Mapping[str, tuple[str, ...]]  # object -> itself and every object above it

    def holders(self, subject: str) -> tuple[str, ...]:
        """The parties that are `subject` or hold it as a role, in parties.toml order."""
        return tuple(p for p in self.catalogue.parties if subject in self.roles.get(p, (p,)))

    def is_role(self, name: str) -> bool:
        """Whether `name` is a role: listed in parties.toml or declared by a `g` line."""
        return name in self.catalogue.roles or any(name in held[1:]
                                                   for held in self.roles.values())

    def fields_under(self, obj: str) -> tuple[str, ...]:
        """Every field ("category.field") at or below a field, category or group."""
        return tuple(c.object_name(f) for c in self.catalogue.categories.values()
                     for f in c.fields if obj in self.ancestors.get(c.object_name(f), ()))


def open_policies(policies_dir: Path) -> PolicySet:
    """Load catalogue and policy; raises ConfigurationError naming file and line."""
    catalogue = load_catalogue(policies_dir)
    engine = PolicyEngine.load(policies_dir, catalogue)
    # The engine keeps its hierarchies private; load_policy hands out the same edges.
    loaded = load_policy(policies_dir, catalogue)
    roles = closure(adjacency(loaded.role_edges))
    for party in catalogue.parties:
        roles.setdefault(party, (party,))
    ancestors = closure(adjacency(loaded.object_edges))
    for obj in catalogue_objects(catalogue):
        ancestors.setdefault(obj, (obj,))
    return PolicySet(directory=policies_dir, catalogue=catalogue, engine=engine,
                     roles=roles, ancestors=ancestors)


def possible_contexts(purpose: Purpose) -> tuple[ConditionContext, ...]:
    """The condition facts a request for this purpose can carry, as the gateway sets them."""
    if not purpose.queryable:
        # A submission carries no consent and no single subject (services/records.py).
        return (ConditionContext(),)
    # A query may name a consent id or not; the age comes from the ID number.
    return tuple(ConditionContext(consent_presented=c, subject_age=a)
                 for c in (False, True) for a in (ADULT_AGE - 1, ADULT_AGE + 12))


def validate_policy(policies_dir: Path) -> list[Finding]:
    """Every problem found in policies_dir, errors and warnings; never raises for bad input."""
    try:
        catalogue = load_catalogue(policies_dir)
    except ConfigurationError as exc:
        return [_from_error(exc.message, policies_dir)]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Finding("error", "catalogue.toml", 0,
                        f"the catalogue is malformed: {type(exc).__name__}: {exc}")]
    limits = _limit_findings(policies_dir, catalogue)
    findings = _load_findings(policies_dir, catalogue)
    if findings:
        return [*findings, *limits]
    policies = open_policies(policies_dir)
    found = [*_rule_findings(policies), *_shadowed_allows(policies),
             *_masked_denies(policies), *_providers_without_rule(policies),
             *_categories_without_basis(policies),
             *(Finding("warning", POLICY_FILE, line, message)
               for line, message in unconsented_reads(policies)),
             *_kind_findings(policies), *limits,
             *_monitoring_findings(policies)]
    return sorted(found, key=lambda f: (f.file != POLICY_FILE, f.file, f.line))


def _monitoring_findings(policies: PolicySet) -> list[Finding]:
    """monitoring.toml must load: strict keys, known kinds, purposes and party kinds."""
    try:
        load_monitoring(policies.directory, policies.catalogue)
    except ConfigurationError as exc:
        found = _from_error(exc.message, policies.directory)
        return [found if found.file else Finding("error", MONITORING_FILE, 0, exc.message)]
    return []


# ------------------------------------------------------------------ load errors


def _limit_findings(policies_dir: Path, catalogue: Catalogue) -> list[Finding]:
    """limits.toml: an error for a limit that cannot load, warnings for one never binding."""
    try:
        limits = load_limits(policies_dir, catalogue)
    except ConfigurationError as exc:
        return [_from_error(exc.message, policies_dir)]
    return [Finding("warning", LIMITS_FILE, line, message)
            for line, message in limit_problems(limits)]


def _load_findings(policies_dir: Path, catalogue: Catalogue) -> list[Finding]:
    try:
        PolicyEngine.load(policies_dir, catalogue)
        return []
    except ConfigurationError as exc:
        first = _from_error(exc.message, policies_dir)
    findings = [first]
    if first.file != POLICY_FILE or not first.line:
        return findings
    # Set each broken line aside and load again, to report the next one too.
    lines = (policies_dir / POLICY_FILE).read_text(encoding="utf-8").split("\n")
    with tempfile.TemporaryDirectory(prefix="credgate-validate-") as scratch:
        shutil.copy(policies_dir / MODEL_FILE, Path(scratch) / MODEL_FILE)
        finding = first
        while finding.file == POLICY_FILE and finding.line and len(findings) < _MAX_LOAD_ERRORS:
            lines[finding.line - 1] = "# " + lines[finding.line - 1]
            (Path(scratch) / POLICY_FILE).write_text("\n".join(lines), encoding="utf-8")
            try:
                PolicyEngine.load(Path(scratch), catalogue)
                break
            except ConfigurationError as exc:
                finding = _from_error(exc.message, policies_dir)
                if finding.message.endswith("an empty policy is refused"):
                    break  # only because every line was set aside
                findings.append(finding)
    # Syntax is checked for the whole file before names, so sort into line order.
    return sorted(findings, key=lambda f: f.line)


_AT_LINE = re.compile(r"^([\w.-]+\.(?:csv|conf|toml)):(\d+): (.*)$", re.S)
_TOML_LINE = re.compile(r"^([\w.-]+\.toml) is not valid TOML: .*\(at line (\d+)", re.S)
_TABLE = [
    (re.compile(r"^catalogue\.toml \[categories\.([\w-]+)\]"), "catalogue.toml", "categories"),
    (re.compile(r"^category ([\w-]+):"), "catalogue.toml", "categories"),
    (re.compile(r"^parties\.toml \[([\w-]+)\]"), "parties.toml", "parties"),
    (re.compile(r"^purposes\.toml \[([\w-]+)\]"), "purposes.toml", "purposes"),
]


def _from_error(message: str, policies_dir: Path) -> Finding:
    """A load refusal as a finding, with the file and line its message names."""
    if m := _AT_LINE.match(message):
        return Finding("error", m[1], int(m[2]), m[3])
    if m := _TOML_LINE.match(message):
        return Finding("error", m[1], int(m[2]), message)
    for pattern, file, table in _TABLE:
        if m := pattern.match(message):
            return Finding("error", file, _table_line(policies_dir / file, table, m[1]),
                           message)
    file = next((f for f in (POLICY_FILE, MODEL_FILE, "catalogue.toml", "parties.toml",
                             "purposes.toml", MASKING_FILE, LIMITS_FILE, MONITORING_FILE,
                             "sharing.toml")
                 if message.startswith(f)), "")
    return Finding("error", file, 0, message)


def _table_line(path: Path, table: str, key: str) -> int:
    """The line of the table `table.key` in a TOML file (0 when it cannot be found)."""
    try:
        return key_line(path.read_text(encoding="utf-8"), (table, key))
    except (OSError, UnicodeDecodeError):
        return 0


# ------------------------------------------------------------------ rules that cannot work


def _rule_findings(ps: PolicySet) -> Iterable[Finding]:
    """Per rule: nobody it applies to, no data under it, and condition problems."""
    for rule in ps.engine.rules:
        purpose = ps.catalogue.purposes[rule.pur]
        allow = rule.eft == "allow"
        if not ps.holders(rule.sub):
            yield _warn(rule, f"never applies: no party in parties.toml is or holds "
                              f"'{rule.sub}'")
        if rule.act != "submit" and not ps.fields_under(rule.obj):
            yield _warn(rule, f"never applies: no field of catalogue.toml lies under "
                              f"'{rule.obj}'")
        check = conditions.get_condition(rule.cond)
        contexts = possible_contexts(purpose)
        holds = [bool(check(ctx)) for ctx in contexts] if check else [False]
        if rule.cond and not any(holds):
            if allow:
                yield _warn(rule, f"never applies: condition '{rule.cond}' cannot hold for "
                                  f"a {rule.pur} request")
            else:
                yield _error(rule, f"this deny never takes effect: condition '{rule.cond}' "
                                   f"cannot hold for a {rule.pur} request")
        elif rule.cond and not allow and not all(holds):
            yield _warn(rule, f"this deny holds only when '{rule.cond}' holds; otherwise the "
                              "request falls through to the allow rules. A deny meant to "
                              "hold always has no condition")
        if allow and purpose.consent_required and rule.cond != "consent":
            yield _error(rule, f"grants {rule.act} of '{rule.obj}' for {rule.pur} without the "
                               "consent condition, but purposes.toml requires the person's "
                               "consent for this purpose")
        if allow and rule.cond == "consent" and purpose.queryable \
                and not purpose.consent_required:
            yield _error(rule, f"relies on consent for {rule.pur}, but purposes.toml does not "
                               "require consent for it, so the gateway never verifies the "
                               "artefact: any caller meets the condition by naming a consent "
                               "id. Require consent for the purpose or drop the condition")


def _shadowed_allows(ps: PolicySet) -> Iterable[Finding]:
    """Allows such that every request they match is refused by a deny that then holds."""
    denies: dict[tuple[str, str], list[Rule]] = {}
    for rule in ps.engine.rules:
        if rule.eft == "deny":
            denies.setdefault((rule.act, rule.pur), []).append(rule)
    for allow in ps.engine.rules:
        candidates = denies.get((allow.act, allow.pur))
        if allow.eft != "allow" or not candidates:
            continue
        parties = ps.holders(allow.sub)
        objects = (allow.obj,) if allow.act == "submit" else ps.fields_under(allow.obj)
        check = conditions.get_condition(allow.cond)
        contexts = [c for c in possible_contexts(ps.catalogue.purposes[allow.pur])
                    if check is not None and check(c)]
        if not parties or not objects or not contexts:
            continue  # reported by _rule_findings as never applying
        used = _covering_denies(ps, candidates, parties, objects, contexts)
        if used:
            lines = ", ".join(f"{POLICY_FILE}:{d.line}" for d in sorted(used, key=_line))
            yield _warn(allow, f"never takes effect: every request it allows is denied by "
                               f"{lines}")


def _covering_denies(ps: PolicySet, denies: list[Rule], parties: Iterable[str],
                     objects: Iterable[str], contexts: list[ConditionContext]) -> set[Rule]:
    """Denies that refuse every one of these requests; empty when one gets through."""
    used: set[Rule] = set()
    for party in parties:
        for obj in objects:
            for ctx in contexts:
                deny = next((d for d in denies
                             if d.sub in ps.roles[party] and d.obj in ps.ancestors[obj]
                             and conditions.evaluate(d.cond, ctx)), None)
                if deny is None:
                    return set()
                used.add(deny)
    return used


def _masked_denies(ps: PolicySet) -> Iterable[Finding]:
    """A deny of read_masked does not hold a field back when read (clear) is allowed."""
    for deny in ps.engine.rules:
        if deny.eft != "deny" or deny.act != "read_masked":
            continue
        for party in ps.holders(deny.sub):
            leaks = [(obj, d.rule) for obj in ps.fields_under(deny.obj)
                     for ctx in possible_contexts(ps.catalogue.purposes[deny.pur])
                     if (d := ps.engine.decide(party, obj, "read", deny.pur, ctx)).allowed]
            if leaks:
                obj, rule = leaks[0]
                yield _warn(deny, f"denies the masked release, but {party} may read {obj} in "
                                  f"clear ({rule}); a field read in clear is never masked. "
                                  "Deny read as well to withhold it")
                break


def _providers_without_rule(ps: PolicySet) -> Iterable[Finding]:
    """Providers the catalogue names whose submissions no rule allows."""
    submit_purposes = [p.code for p in ps.catalogue.purposes.values() if not p.queryable]
    for cat in ps.catalogue.categories.values():
        for party in sorted(cat.providers):
            if not any(ps.engine.decide(party, cat.code, "submit", pur, ConditionContext())
                       .allowed for pur in submit_purposes):
                line = _table_line(ps.directory / "catalogue.toml", "categories", cat.code)
                yield Finding("warning", "catalogue.toml", line,
                              f"lists {party} as a provider of {cat.code}, but no rule in "
                              f"{POLICY_FILE} lets it submit: its records would be refused")


def _categories_without_basis(ps: PolicySet) -> Iterable[Finding]:
    """Categories that do not say what authorises collecting them (依法归集)."""
    for cat in ps.catalogue.categories.values():
        if not cat.basis.strip():
            line = _table_line(ps.directory / "catalogue.toml", "categories", cat.code)
            yield Finding("warning", "catalogue.toml", line,
                          f"category {cat.code} names no legal basis (basis): no collection "
                          "without legal authorisation")


def _kind_findings(ps: PolicySet) -> Iterable[Finding]:
    """Errors for a kind protected unevenly and for free text that skips the scan."""
    try:
        profiles = read_profiles(ps.directory)
    except ConfigurationError as exc:
        found = _from_error(exc.message, ps.directory)
        yield found if found.file else Finding("error", MASKING_FILE, 0, exc.message)
        return
    contexts = {p.code: possible_contexts(p) for p in ps.catalogue.purposes.values()
                if p.queryable}
    for problem in kind_problems(ps.engine, ps.catalogue, profiles, contexts, ps.roles):
        if problem.rule is None:
            yield Finding("error", POLICY_FILE, 0, problem.message)
        elif problem.severity == "warning":
            yield _warn(problem.rule, problem.message)
        else:
            yield _error(problem.rule, problem.message)


def _line(rule: Rule) -> int:
    return rule.line


def _warn(rule: Rule, message: str) -> Finding:
    return Finding("warning", rule.source, rule.line, message)


def _error(rule: Rule, message: str) -> Finding:
    return Finding("error", rule.source, rule.line, message)
