"""Explaining one decision: the deciding rule, the chains that led to it, every candidate.

One explanation for every door: `credgate policy explain` on a folder, and the gateway's
PolicyAdmin/ExplainDecision on the version it serves or on another kept version (which
`credgate policy explain --gateway` and the console's explain form ask for).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.pii.identifiers import nearest_code
from gateway.policy.conditions import ConditionContext
from gateway.policy.policyfile import ACTIONS, catalogue_objects
from gateway.policy.validate import PolicySet, open_policies

__all__ = ["ExplainRequest", "ExplainedDecision", "ExplainedRule", "PolicySetCache",
           "explain_decision", "unknown_names"]

#: Actions that release no field, so an explanation names no release level for them.
_NO_RELEASE = ("submit", "check")
MAX_AGE = 150


@dataclass(frozen=True)
class ExplainRequest:
    """What to explain: who asks, for what purpose, which object, how, on which facts."""

    party: str
    purpose: str
    obj: str
    action: str = "read"
    consent: bool = False
    subject_age: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as `credgate policy explain --json` prints it."""
        return {"party": self.party, "object": self.obj, "action": self.action,
                "purpose": self.purpose, "consent": self.consent,
                "subject_age": self.subject_age}


@dataclass(frozen=True)
class ExplainedRule:
    """A rule that names the request, as explained: where, what, and how it fared."""

    file: str
    line: int
    text: str  # "policy.csv:12 p, sub, obj, act, pur, eft, cond"
    effect: str
    condition: str  # "" when the rule has none
    condition_holds: bool
    decided: bool


@dataclass(frozen=True)
class ExplainedDecision:
    """A decision with its rule, the role and object chains, the release and candidates."""

    request: ExplainRequest
    allowed: bool
    reason: str
    rule: ExplainedRule | None  # None: nothing allowed it (default deny)
    role_chain: tuple[str, ...]
    roles_held: tuple[str, ...]
    object_chain: tuple[str, ...]
    object_ancestors: tuple[str, ...]
    #: clear, masked or withheld for a field read; "" otherwise.
    release: str
    #: Every rule naming the party's roles, the object or one above it, the action and
    #: purpose, deny rules and allows in policy order.
    candidates: tuple[ExplainedRule, ...]
    casbin_agrees: bool
    casbin_reason: str = ""  # Casbin's own reason, shown when it disagrees

    def to_json(self) -> dict[str, Any]:
        """The explanation as `credgate policy explain --json` prints it."""
        rule = self.rule
        return {
            "request": self.request.to_json(), "allowed": self.allowed, "reason": self.reason,
            "rule": None if rule is None else {"file": rule.file, "line": rule.line,
                                               "text": rule.text},
            "role_chain": list(self.role_chain), "object_chain": list(self.object_chain),
            "roles_held": list(self.roles_held),
            "object_ancestors": list(self.object_ancestors),
            "release": self.release or None,
            "considered": [{"rule": c.text, "line": c.line, "effect": c.effect,
                            "condition": c.condition or None,
                            "condition_holds": c.condition_holds, "decided": c.decided}
                           for c in self.candidates],
            "casbin_agrees": self.casbin_agrees}

    def lines(self) -> list[str]:
        """The explanation as text for a security officer, the candidates one per line."""
        req = self.request
        facts = ["consent presented" if req.consent else "no consent",
                 "age unknown" if req.subject_age is None else f"aged {req.subject_age}"]
        out = [f"request:   {req.party} {req.action} {req.obj} for {req.purpose} "
               f"({', '.join(facts)})",
               f"decision:  {'ALLOW' if self.allowed else 'DENY'}",
               f"rule:      {self.rule.text if self.rule is not None else self.reason}",
               f"roles:     {' -> '.join(self.role_chain)}"
               f"   (holds: {', '.join(self.roles_held)})",
               f"object:    {' -> '.join(self.object_chain)}"
               f"   (lies under: {', '.join(self.object_ancestors)})"]
        if self.release:
            out.append(f"release:   {self.release} (the gateway asks read, then read_masked)")
        if not self.candidates:
            out.append("candidates: none: no rule names this party's roles, this object or "
                       "one above it, this action and this purpose")
        else:
            out.append("candidates (deny rules are checked first, then allows):")
            for c in self.candidates:
                cond = "no condition" if not c.condition else \
                    f"{c.condition}: {'holds' if c.condition_holds else 'unmet'}"
                mark = "decided" if c.decided else "       "
                out.append(f"  {mark}  {c.effect:<5}  [{cond}]  {c.text}")
        if not self.casbin_agrees:
            out.append(f"WARNING: Casbin decides differently: {self.casbin_reason}")
        return out


def unknown_names(ps: PolicySet, request: ExplainRequest, *, quote: bool) -> list[str]:
    """What in a request the policy does not know ([] when it knows it all).

    With ``quote`` the unknown value is repeated (the officer's own terminal); without it
    (the gateway's answer to a caller) only the nearest catalogue code is named.
    """
    cat = ps.catalogue

    def named(value: str, codes: Any) -> str:
        return f" '{value}'" if quote else f" code{nearest_code(value, codes)}"

    out = []
    if request.party not in cat.parties:
        out.append(f"unknown party{named(request.party, cat.parties)} (parties.toml)")
    if request.purpose not in cat.purposes:
        out.append(f"unknown purpose{named(request.purpose, cat.purposes)} (purposes.toml)")
    objects = catalogue_objects(cat)
    if request.obj not in objects:
        out.append(f"unknown object{named(request.obj, objects)} "
                   "(not a field, category or group)")
    if request.action not in ACTIONS:
        out.append(f"unknown action{named(request.action, ACTIONS)} "
                   f"({', '.join(sorted(ACTIONS))})")
    if request.subject_age is not None and not 0 <= request.subject_age <= MAX_AGE:
        out.append(f"the subject's age must be 0-{MAX_AGE}")
    return out


def explain_decision(ps: PolicySet, request: ExplainRequest) -> ExplainedDecision:
    """Decide one request under a policy and explain it; names must be known
    (unknown_names), else raises KeyError."""
    ctx = ConditionContext(consent_presented=request.consent, subject_age=request.subject_age)
    engine = ps.engine
    ex = engine.explain(request.party, request.obj, request.action, request.purpose, ctx)
    decided = ex.decision.rule
    candidates = tuple(ExplainedRule(file=r.source, line=r.line, text=str(r), effect=r.eft,
                                     condition=r.cond, condition_holds=held,
                                     decided=r == decided)
                       for r, held in ex.considered)
    rule = None if decided is None else ExplainedRule(
        file=decided.source, line=decided.line, text=str(decided), effect=decided.eft,
        condition=decided.cond, condition_holds=True, decided=True)
    return ExplainedDecision(
        request=request, allowed=ex.decision.allowed, reason=ex.decision.reason, rule=rule,
        role_chain=ex.role_chain, roles_held=tuple(ps.roles[request.party]),
        object_chain=ex.object_chain, object_ancestors=tuple(ps.ancestors[request.obj]),
        release=_release(ps, request, ctx), candidates=candidates, casbin_agrees=ex.agrees,
        casbin_reason=ex.casbin.reason)


def _release(ps: PolicySet, request: ExplainRequest, ctx: ConditionContext) -> str:
    """For a field read: how the gateway would release it (clear, masked or withheld)."""
    if request.action in _NO_RELEASE or "." not in request.obj:
        return ""
    engine = ps.engine
    if engine.decide(request.party, request.obj, "read", request.purpose, ctx).allowed:
        return "clear"
    if engine.decide(request.party, request.obj, "read_masked", request.purpose, ctx).allowed:
        return "masked"
    return "withheld"


class PolicySetCache:
    """Loaded policies of version folders, by folder; a folder named by its bundle hash
    never changes, so a loaded one stays right. The newest few are kept."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._sets: OrderedDict[Path, PolicySet] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: Path) -> PolicySet:
        """The policy of a folder; raises ConfigurationError when it cannot be loaded."""
        with self._lock:
            found = self._sets.get(folder)
            if found is not None:
                self._sets.move_to_end(folder)
                return found
        loaded = open_policies(folder)  # outside the lock: loading takes a tenth of a second
        with self._lock:
            self._sets[folder] = loaded
            self._sets.move_to_end(folder)
            while len(self._sets) > self._size:
                self._sets.popitem(last=False)
        return loaded
