"""The decide step: purpose-based access decisions from policies/model.conf + policy.csv.

Casbin is the reference: `decide_with_casbin` asks a real pycasbin Enforcer. Casbin's
`enforce()` scans every rule for every request, so the request path uses `decide`, a
fast path that gives exactly Casbin's answer for the one model in model.conf (checked
at load): it precomputes the role closure of every subject (g), the ancestor closure of
every data object (g2) and an index of rules by (sub, obj, act, pur), so a decision
costs a few dictionary look-ups however large the policy is.

An engine's answers never change after `load` (only its cache fills); a policy reload
builds a new engine, so any number of threads may share one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import casbin  # type: ignore[import-untyped]

from gateway.catalogue.registry import Catalogue, Category
from gateway.errors import ConfigurationError
from gateway.policy import conditions
from gateway.policy.conditions import ConditionContext, ConditionFn
from gateway.policy.policyfile import (
    ACTIONS,
    Edge,
    Rule,
    adjacency,
    catalogue_objects,
    closure,
    load_policy,
    shortest_path,
)

__all__ = ["Decision", "Explanation", "FieldDecision", "FieldDecisions", "PolicyEngine",
           "Release", "Rule"]

NO_RULE = "no rule allows"
# Callers choose category subsets, so that cache is capped (the per-field cache is not:
# it is bounded by the catalogue).
_MAX_CATEGORY_SETS = 4096

Release = Literal["clear", "masked", "withheld"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, the rule that decided (None: nothing allowed it), and why."""

    allowed: bool
    rule: Rule | None
    reason: str


@dataclass(frozen=True)
class Explanation:
    """A decision with the role chain and object chain that led to its rule."""

    request: tuple[str, str, str, str]
    decision: Decision
    casbin: Decision
    role_chain: tuple[str, ...]
    object_chain: tuple[str, ...]
    considered: tuple[tuple[Rule, bool], ...]

    @property
    def agrees(self) -> bool:
        """Whether the fast path and Casbin gave the same answer."""
        return self.decision.allowed == self.casbin.allowed

    def lines(self) -> list[str]:
        """The explanation as text for a security officer."""
        party, obj, act, pur = self.request
        out = [f"request: {party} {act} {obj} for {pur}",
               f"decision: {'ALLOW' if self.decision.allowed else 'DENY'} ({self.decision.reason})",
               f"roles: {' -> '.join(self.role_chain)}",
               f"object: {' -> '.join(self.object_chain)}"]
        out += [f"  {'holds ' if held else 'unmet '} {rule}" for rule, held in self.considered]
        if not self.agrees:
            out.append(f"CASBIN DISAGREES: {self.casbin.reason}")
        return out


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """How one field is released: clear if read is allowed, else masked, else withheld."""

    field: str
    release: Release
    read: Decision
    read_masked: Decision | None  # None: not asked, read was allowed

    @property
    def rule(self) -> Rule | None:
        """The rule behind the release (for a refusal, a deny rule if one decided)."""
        if self.release == "clear" or self.read_masked is None:
            return self.read.rule
        return self.read_masked.rule or self.read.rule


@dataclass(frozen=True)
class FieldDecisions:
    """The release of every field of one category for one party and purpose."""

    category: str
    purpose: str
    fields: tuple[FieldDecision, ...]

    def release(self, field_code: str) -> Release:
        """The release of one field; raises KeyError for a field not in the category."""
        for fd in self.fields:
            if fd.field == field_code:
                return fd.release
        raise KeyError(field_code)

    def _with(self, release: Release) -> tuple[str, ...]:
        return tuple(fd.field for fd in self.fields if fd.release == release)

    @property
    def clear(self) -> tuple[str, ...]:
        """Fields released in clear."""
        return self._with("clear")

    @property
    def masked(self) -> tuple[str, ...]:
        """Fields released only masked."""
        return self._with("masked")

    @property
    def withheld(self) -> tuple[str, ...]:
        """Fields not released at all."""
        return self._with("withheld")

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule that took part in these decisions, in policy order (for the audit)."""
        found = {d.rule for fd in self.fields for d in (fd.read, fd.read_masked)
                 if d is not None and d.rule is not None}
        return tuple(sorted(found, key=lambda r: (r.source, r.line)))

    @cached_property
    def rule_references(self) -> tuple[str, ...]:
        """Where the rules are written ("policy.csv:12"), as the audit records them: with
        the entry's policy version they name the rules exactly, in a tenth of the bytes
        of their texts, which every entry's personal-data check would scan (issue 12)."""
        return tuple(rule.reference for rule in self.rules)

    @cached_property
    def levels(self) -> Mapping[str, Release]:
        """Field code -> release, for the protect step (read-only: results are shared)."""
        return MappingProxyType({fd.field: fd.release for fd in self.fields})

    @cached_property
    def any_released(self) -> bool:
        """True when at least one field is released, clear or masked."""
        return any(fd.release != "withheld" for fd in self.fields)


# (condition, decision) pairs for denies and allows in policy order, then the refusal.
_Entry = tuple[tuple[tuple[ConditionFn, Decision], ...],
               tuple[tuple[ConditionFn, Decision], ...], Decision]


class PolicyEngine:
    """Decisions for one immutable policy version; build it with `PolicyEngine.load`."""

    def __init__(self, *, rules: tuple[Rule, ...], role_edges: list[Edge],
                 object_edges: list[Edge], catalogue: Catalogue,
                 enforcer: casbin.Enforcer, version: str) -> None:
        self._rules = rules
        self._catalogue = catalogue
        self._enforcer = enforcer
        self._version = version
        # Casbin's has_link adds every name it is asked about to its role manager.
        self._casbin_lock = threading.Lock()
        self._role_parents = adjacency(role_edges)
        self._object_parents = adjacency(object_edges)
        self._roles = closure(self._role_parents)
        self._ancestors = closure(self._object_parents)
        for name in [*catalogue.parties, *(r.sub for r in rules)]:
            self._roles.setdefault(name, (name,))
        for name in catalogue_objects(catalogue):
            self._ancestors.setdefault(name, (name,))
        self._purposes = frozenset(catalogue.purposes)
        self._index: dict[tuple[str, str, str, str], list[Rule]] = {}
        for rule in rules:
            self._index.setdefault((rule.sub, rule.obj, rule.act, rule.pur), []).append(rule)
        self._by_values = {rule.values: rule for rule in rules}
        self._subject_purposes = frozenset((rule.sub, rule.pur) for rule in rules)
        self._checks: dict[str, ConditionFn] = {}
        for rule in rules:
            fn = conditions.get_condition(rule.cond)
            if fn is None:
                raise ConfigurationError(f"{rule}: unknown condition '{rule.cond}'")
            self._checks[rule.cond] = fn
        # Built on first use: formatting 100k reasons up front would double the load time.
        self._decisions: dict[Rule, Decision] = {}
        # Only requests made of known names are cached, so the cache is bounded by the
        # catalogue and cannot be grown by callers inventing names.
        self._cache: dict[tuple[str, str, str, str], _Entry] = {}
        # decide_fields results depend only on the party, category, purpose and the
        # outcome of each condition the policy uses, so that tuple is an exact cache key.
        self._condition_fns = tuple(self._checks[name] for name in sorted(self._checks))
        self._field_cache: dict[tuple[str, str, str, tuple[bool, ...]], FieldDecisions] = {}
        self._categories_cache: dict[tuple[str, str, tuple[str, ...], tuple[bool, ...]],
                                     Mapping[str, FieldDecisions]] = {}

    @classmethod
    def load(cls, policies_dir: Path, catalogue: Catalogue) -> PolicyEngine:
        """Load model.conf and policy.csv; raises ConfigurationError naming file and line."""
        loaded = load_policy(policies_dir, catalogue)
        return cls(rules=loaded.rules, role_edges=list(loaded.role_edges),
                   object_edges=list(loaded.object_edges), catalogue=catalogue,
                   enforcer=loaded.enforcer, version=loaded.version)

    @property
    def version(self) -> str:
        """sha256 (hex) of model.conf, policy.csv and the catalogue: names the policy."""
        return self._version

    @property
    def rules(self) -> tuple[Rule, ...]:
        """All rules in policy order."""
        return self._rules

    def rule_by_reference(self, reference: str) -> Rule | None:
        """The rule an audit entry names ("policy.csv:12"), or None where this version
        has no rule."""
        return next((r for r in self._rules if r.reference == reference), None)

    def decide(self, party: str, obj: str, action: str, purpose: str,
               ctx: ConditionContext) -> Decision:
        """The decision Casbin would give, from indexes; deny overrides, default deny."""
        key = (party, obj, action, purpose)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._entry(key)
        denies, allows, refused = entry
        for check, decision in denies:
            if check(ctx):
                return decision
        for check, decision in allows:
            if check(ctx):
                return decision
        return refused

    def concerns(self, party: str, purpose: str) -> bool:
        """Whether any rule names this purpose for the party or one of its roles (when
        none does, every decision for the pair is the default deny)."""
        return any((sub, purpose) in self._subject_purposes
                   for sub in self._roles.get(party, (party,)))

    def _candidates(self, party: str, obj: str, action: str, purpose: str) -> list[Rule]:
        found: list[Rule] = []
        for sub in self._roles.get(party, (party,)):
            for anc in self._ancestors.get(obj, (obj,)):
                found.extend(self._index.get((sub, anc, action, purpose), ()))
        found.sort(key=lambda r: r.line)  # policy order, as Casbin scans it
        return found

    def _entry(self, key: tuple[str, str, str, str]) -> _Entry:
        party, obj, action, purpose = key
        found = self._candidates(party, obj, action, purpose)
        denies = tuple((self._checks[r.cond], self._decided(r)) for r in found if r.eft == "deny")
        allows = tuple((self._checks[r.cond], self._decided(r)) for r in found
                       if r.eft == "allow")
        unmet = sorted({r.cond for r in found if r.eft == "allow" and r.cond})
        reason = f"{NO_RULE} (condition not met: {', '.join(unmet)})" if unmet else NO_RULE
        entry: _Entry = (denies, allows, Decision(False, None, reason))
        if (party in self._roles and obj in self._ancestors and action in ACTIONS
                and purpose in self._purposes):
            # Concurrent readers may both fill the same key with equal values: harmless.
            self._cache[key] = entry
        return entry

    def decide_with_casbin(self, party: str, obj: str, action: str, purpose: str,
                           ctx: ConditionContext) -> Decision:
        """Casbin's own decision (slow: scans every rule); for tests and `explain`."""
        with self._casbin_lock:
            allowed, explained = self._enforcer.enforce_ex(party, obj, action, purpose, ctx)
        rule = self._by_values.get(tuple(explained)) if explained else None
        if rule is not None and rule.eft == ("allow" if allowed else "deny"):
            # For an allow Casbin names the last matching rule; `decide` names the first.
            return self._decided(rule)
        if allowed:  # not reachable with a non-empty policy; report Casbin faithfully
            return Decision(True, None, "allowed by Casbin without a rule")
        return Decision(False, None, NO_RULE)

    def _decided(self, rule: Rule) -> Decision:
        decision = self._decisions.get(rule)
        if decision is None:
            verb = "allowed" if rule.eft == "allow" else "denied"
            decision = Decision(rule.eft == "allow", rule, f"{verb} by {rule}")
            decision = self._decisions.setdefault(rule, decision)
        return decision

    def explain(self, party: str, obj: str, action: str, purpose: str,
                ctx: ConditionContext) -> Explanation:
        """The decision, Casbin's answer, and the chains from party and object to its rule."""
        decision = self.decide(party, obj, action, purpose, ctx)
        considered = tuple((r, bool(self._checks[r.cond](ctx)))
                           for r in self._candidates(party, obj, action, purpose))
        rule = decision.rule
        return Explanation(
            request=(party, obj, action, purpose),
            decision=decision,
            casbin=self.decide_with_casbin(party, obj, action, purpose, ctx),
            role_chain=shortest_path(self._role_parents, party, rule.sub if rule else None),
            object_chain=shortest_path(self._object_parents, obj, rule.obj if rule else None),
            considered=considered,
        )

    def decide_categories(self, party: str, categories: Sequence[Category], purpose: str,
                          ctx: ConditionContext) -> Mapping[str, FieldDecisions]:
        """decide_fields for several categories at once (one cache look-up per request)."""
        outcomes = tuple(bool(fn(ctx)) for fn in self._condition_fns)
        key = (party, purpose, tuple(c.code for c in categories), outcomes)
        cached = self._categories_cache.get(key)
        if cached is not None:
            return cached
        result = MappingProxyType(
            {c.code: self.decide_fields(party, c, purpose, ctx) for c in categories})
        # Only the engine's own categories are cached by code (as decide_fields does):
        # another Category object of the same code may hold other fields.
        own = self._catalogue.categories
        if (party in self._roles and purpose in self._purposes
                and all(own.get(c.code) is c for c in categories)
                and len(self._categories_cache) < _MAX_CATEGORY_SETS):
            self._categories_cache[key] = result
        return result

    def decide_fields(self, party: str, category: Category, purpose: str,
                      ctx: ConditionContext) -> FieldDecisions:
        """Per field: clear if read is allowed, masked if read_masked is, else withheld."""
        outcomes = tuple(bool(fn(ctx)) for fn in self._condition_fns)
        key = (party, category.code, purpose, outcomes)
        cached = self._field_cache.get(key)
        if cached is not None:
            return cached
        result = self._decide_fields(party, category, purpose, ctx)
        if (party in self._roles and purpose in self._purposes
                and self._catalogue.categories.get(category.code) is category):
            self._field_cache[key] = result
        return result

    def _decide_fields(self, party: str, category: Category, purpose: str,
                       ctx: ConditionContext) -> FieldDecisions:
        out: list[FieldDecision] = []
        for fcode in category.fields:
            obj = category.object_name(fcode)
            read = self.decide(party, obj, "read", purpose, ctx)
            if read.allowed:
                out.append(FieldDecision(fcode, "clear", read, None))
                continue
            masked = self.decide(party, obj, "read_masked", purpose, ctx)
            out.append(FieldDecision(fcode, "masked" if masked.allowed else "withheld",
                                     read, masked))
        return FieldDecisions(category=category.code, purpose=purpose, fields=tuple(out))
