"""One kind of personal data, protected alike wherever it sits.

The catalogue gives every field a kind (person_name, address, mobile, id_number,
card_number, document_number, free_text, none). For each party, purpose and set of
condition facts, this module works out how well each field the party receives is
protected, from the policy's release (clear, masked, withheld) and the operator of the
party's masking profile for a masked field, and finds

- a kind released less protected in one category than in another (an address in clear
  in a court listing while the identity record's address is masked);
- free text released, other than through the scan operator (or redacted, or dropped),
  to a party that may not see some kind in clear: a narrative may hold any of them.

Only categories the party receives at all are compared: a category withheld whole
(student files for a credit agency) hides each of its kinds alike. A field withheld
because no rule grants it (a narrow grant of one field of a category) is not compared
either; one withheld by a deny is, as the most protected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.catalogue.registry import FIELD_KINDS, PERSONAL_KINDS, Catalogue, FieldSpec
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import FieldDecision, PolicyEngine
from gateway.policy.policyfile import Rule
from gateway.protect.profiles import Profile, operator_of
from gateway.protect.release import audience_of

FREE_TEXT = "free_text"
# How well a released field is protected: seen as written, masked in part, not seen.
CLEAR, PARTLY, HIDDEN = 0, 1, 2
_LEVEL_NAMES = {CLEAR: "in clear", PARTLY: "masked", HIDDEN: "withheld"}
# Operators that leave no personal data of any kind in free text.
SAFE_FREE_TEXT_OPERATORS = frozenset({"scan", "redact", "drop"})


@dataclass(frozen=True, slots=True)
class KindProblem:
    """A kind protected unevenly, or free text that skips the scan: where and why."""

    rule: Rule | None  # the rule that released the less protected field (None: no rule)
    message: str
    #: "error", or "warning" for a category opened through a rule on a kind alone.
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class _Released:
    obj: str
    spec: FieldSpec
    level: int
    operator: str  # "" for a field released in clear
    decision: FieldDecision


def protection(release: str, operator: str | None) -> int:
    """CLEAR, PARTLY or HIDDEN for a field's release and its profile operator."""
    if release == "clear" or (release == "masked" and operator == "keep"):
        return CLEAR
    if release != "masked" or operator in (None, "redact", "drop"):
        return HIDDEN
    return PARTLY


def kind_problems(engine: PolicyEngine, catalogue: Catalogue, profiles: Mapping[str, Profile],
                  contexts: Mapping[str, tuple[ConditionContext, ...]],
                  roles: Mapping[str, tuple[str, ...]]) -> list[KindProblem]:
    """Every uneven kind and unscanned free text, per party and query purpose.

    ``roles`` maps a party to itself and every role it holds: only the purposes some
    read or read_masked allow names for one of them are looked at (nothing else can
    release a field).
    """
    readable: dict[str, set[str]] = {}
    for rule in engine.rules:
        if rule.eft == "allow" and rule.act in ("read", "read_masked"):
            readable.setdefault(rule.sub, set()).add(rule.pur)
    found: dict[str, KindProblem] = {}
    for party in catalogue.parties.values():
        profile = profiles.get(audience_of(party))
        purposes = set().union(*(readable.get(r, set()) for r in roles.get(party.id,
                                                                         (party.id,))))
        for purpose, purpose_contexts in contexts.items():
            if purpose not in purposes:
                continue
            for ctx in purpose_contexts:
                received = _received(engine, catalogue, party.id, purpose, ctx, profile)
                for problem in _uneven(received, party.id, purpose):
                    found.setdefault(problem.message, problem)
                for problem in _unscanned(received, party.id, purpose):
                    found.setdefault(problem.message, problem)
                for problem in _opened_by_kind(received, party.id, purpose):
                    found.setdefault(problem.message, problem)
    return list(found.values())


def _received(engine: PolicyEngine, catalogue: Catalogue, party: str, purpose: str,
              ctx: ConditionContext, profile: Profile | None) -> list[_Released]:
    """The fields of every category the party receives anything of, with their protection."""
    out: list[_Released] = []
    for category in catalogue.categories.values():
        decisions = engine.decide_fields(party, category, purpose, ctx)
        if not decisions.any_released:
            continue
        for decision in decisions.fields:
            if decision.release == "withheld" and decision.rule is None:
                # Withheld only because no rule grants it, not by a deny: a narrow grant
                # (one field of a category) says nothing of how the kind is protected.
                continue
            spec = category.fields[decision.field]
            obj = category.object_name(decision.field)
            operator = (operator_of(profile, spec.type, obj) if profile is not None
                        and decision.release == "masked" else None)
            out.append(_Released(obj, spec, protection(decision.release, operator),
                                 operator or "", decision))
    return out


def _uneven(received: Iterable[_Released], party: str, purpose: str) -> Iterable[KindProblem]:
    by_kind: dict[str, list[_Released]] = {}
    for field in received:
        if field.spec.kind in PERSONAL_KINDS:
            by_kind.setdefault(field.spec.kind, []).append(field)
    for kind, fields in sorted(by_kind.items()):
        weakest = min(fields, key=lambda f: (f.level, f.obj))
        strongest = max(fields, key=lambda f: (f.level, f.obj))
        if weakest.level < strongest.level:
            yield KindProblem(
                weakest.decision.rule,
                f"{party} gets {weakest.obj} {_LEVEL_NAMES[weakest.level]} for {purpose}, "
                f"but {strongest.obj} {_LEVEL_NAMES[strongest.level]}: one kind "
                f"({kind}) must be protected alike in every category it receives. "
                f"Write the rule on the kind ('{kind}') instead of one field")


def _unscanned(received: list[_Released], party: str, purpose: str) -> Iterable[KindProblem]:
    hidden = sorted({f.spec.kind for f in received
                     if f.spec.kind in PERSONAL_KINDS and f.level > CLEAR})
    if not hidden:
        return
    for field in received:
        if field.spec.kind != FREE_TEXT or field.level == HIDDEN:
            continue
        if field.level == CLEAR or field.operator not in SAFE_FREE_TEXT_OPERATORS:
            how = ("in clear" if field.level == CLEAR
                   else f"masked by '{field.operator}'")
            yield KindProblem(
                field.decision.rule,
                f"{party} gets the free text {field.obj} {how} for {purpose}, but may not "
                f"see {', '.join(hidden)} in clear, which free text may hold: release it "
                "read_masked with the scan operator (masking.toml) or withhold it")


def _opened_by_kind(received: list[_Released], party: str, purpose: str
                    ) -> Iterable[KindProblem]:
    """Categories whose every released field comes from a rule naming a kind: a rule on
    a kind ("address") covers the fields of that kind in every category, so an allow on
    it also opens categories the party receives nothing else of (an exit-entry check got
    the identity record's address through "address, read_masked")."""
    by_category: dict[str, list[_Released]] = {}
    for field in received:
        if field.level < HIDDEN:
            by_category.setdefault(field.obj.partition(".")[0], []).append(field)
    for category, fields in sorted(by_category.items()):
        rules = [f.decision.rule for f in fields]
        if all(rule is not None and rule.obj in FIELD_KINDS for rule in rules):
            first = rules[0]
            yield KindProblem(
                first,
                f"{party} gets {', '.join(f.obj for f in fields)} for {purpose} through a "
                f"rule on the kind '{first.obj if first else ''}' alone: it receives nothing "
                f"else of {category}. A rule on a kind reaches every category that holds "
                "the kind; name the fields meant instead",
                severity="warning")
