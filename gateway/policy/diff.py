"""`credgate policy diff`: the change in effective access between two policies/ directories.

Computed from decisions, not from text: for every party, purpose and field of either
catalogue, and every combination of the facts conditions look at (consent presented or
not, subject adult or not), both policies decide how the field is released (clear,
masked, withheld), whether each category may be read by a yes/no check (`check`), and
for submission purposes whether each category may be submitted.
Reordering lines, renaming nothing or rewriting a rule as an equivalent one shows no
change; a new field, party or purpose shows exactly the access it receives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.catalogue.registry import Catalogue, load_catalogue
from gateway.errors import ConfigurationError
from gateway.monitoring.rules import MonitoringRules, load_monitoring
from gateway.policy import conditions
from gateway.policy.conditions import ADULT_AGE, ConditionContext
from gateway.policy.decide import PolicyEngine
from gateway.policy.limits import Limits, amounts_changed, load_limits

__all__ = ["AccessChange", "PolicyDiff", "policy_diff"]

# Levels from least to most access; read levels for queries, submit levels for submission.
_RANK = {"withheld": 0, "masked": 1, "clear": 2, "refused": 0, "allowed": 1}
# The facts a query can carry: (consent presented, subject adult).
_Facts = tuple[bool, bool]
_FACTS: tuple[_Facts, ...] = ((False, False), (False, True), (True, False), (True, True))
_QUERY_CONTEXTS = {f: ConditionContext(consent_presented=f[0],
                                       subject_age=ADULT_AGE + 12 if f[1] else ADULT_AGE - 1)
                   for f in _FACTS}
_SUBMIT_CONTEXT = ConditionContext()  # as the gateway asks for a submission


@dataclass(frozen=True, slots=True)
class AccessChange:
    """One party's access to a field (or a whole category) for a purpose, before and after."""

    party: str
    purpose: str
    object: str  # "category.field", or a category when all its fields changed alike
    before: str  # withheld | masked | clear (queries); refused | allowed (submission)
    after: str
    when: str  # the request facts under which it changed; "" for always
    #: "" for how fields are released (or submission); "check" for a minimal-disclosure check.
    action: str = ""

    @property
    def gained(self) -> bool:
        """True when the party gets more than before."""
        return _RANK[self.after] > _RANK[self.before]

    def to_json(self) -> dict[str, Any]:
        """The change as plain data."""
        out = {"party": self.party, "purpose": self.purpose, "object": self.object,
               "before": self.before, "after": self.after, "when": self.when or "always",
               "change": "gained" if self.gained else "lost"}
        if self.action:
            out["action"] = self.action
        return out


@dataclass(frozen=True)
class PolicyDiff:
    """Every change in effective access, and the catalogue changes behind some of them."""

    old_version: str
    new_version: str
    changes: tuple[AccessChange, ...]
    notes: tuple[str, ...]

    @property
    def gained(self) -> tuple[AccessChange, ...]:
        """Access newly given (more than before)."""
        return tuple(c for c in self.changes if c.gained)

    @property
    def lost(self) -> tuple[AccessChange, ...]:
        """Access newly taken away."""
        return tuple(c for c in self.changes if not c.gained)

    @property
    def empty(self) -> bool:
        """True when no party's effective access changed."""
        return not self.changes

    def by_party(self) -> dict[str, tuple[AccessChange, ...]]:
        """The changes grouped per party."""
        out: dict[str, list[AccessChange]] = defaultdict(list)
        for change in self.changes:
            out[change.party].append(change)
        return {party: tuple(changes) for party, changes in out.items()}

    def to_json(self) -> dict[str, Any]:
        """The diff as plain data."""
        return {"old_version": self.old_version, "new_version": self.new_version,
                "gained": [c.to_json() for c in self.gained],
                "lost": [c.to_json() for c in self.lost], "notes": list(self.notes)}


def policy_diff(old_dir: Path, new_dir: Path) -> PolicyDiff:
    """The effective access change from old_dir to new_dir; raises ConfigurationError."""
    old_cat, old = _load(old_dir, "old")
    new_cat, new = _load(new_dir, "new")
    parties = _union(old_cat.parties, new_cat.parties)
    purposes = _union(old_cat.purposes, new_cat.purposes)
    categories = _union(old_cat.categories, new_cat.categories)
    fields = {c: _union(*(cat.categories[c].fields for cat in (old_cat, new_cat)
                          if c in cat.categories)) for c in categories}
    situations = _situations(old, new)
    changes: list[AccessChange] = []
    for party in parties:
        for purpose in purposes:
            if not (old.concerns(party, purpose) or new.concerns(party, purpose)):
                continue  # default deny on both sides: nothing can have changed
            p = new_cat.purposes.get(purpose) or old_cat.purposes[purpose]
            if p.queryable:
                changes += _read_changes(old, new, party, purpose, fields, situations)
                for action in CATEGORY_ACTIONS:
                    changes += _check_changes(old, new, party, purpose, categories,
                                              situations, action)
            else:
                changes += _submit_changes(old, new, party, purpose, categories)
    limits = amounts_changed(_limits(old_dir, old_cat, "old"), _limits(new_dir, new_cat, "new"))
    monitoring = monitoring_notes(load_monitoring(old_dir, old_cat),
                                  load_monitoring(new_dir, new_cat))
    return PolicyDiff(old_version=old.version, new_version=new.version, changes=tuple(changes),
                      notes=(*_notes(old_cat, new_cat), *limits, *monitoring))


def monitoring_notes(old: MonitoringRules, new: MonitoringRules) -> list[str]:
    """Monitoring rules added, removed or changed (their settings before and after)."""
    before = {r.id: r for r in old.rules}
    after = {r.id: r for r in new.rules}
    notes = [f"new monitoring rule: {rid} ({after[rid].kind}, {after[rid].severity})"
             for rid in after if rid not in before]
    notes += [f"removed monitoring rule: {rid}" for rid in before if rid not in after]
    for rid in before.keys() & after.keys():
        o, n = asdict(before[rid]), asdict(after[rid])
        changed = [f"{k} {o[k]!r} -> {n[k]!r}" for k in o if o[k] != n[k]]
        if changed:
            notes.append(f"monitoring rule {rid}: {'; '.join(changed)}")
    return notes


def _load(policies_dir: Path, which: str) -> tuple[Catalogue, PolicyEngine]:
    try:
        catalogue = load_catalogue(policies_dir)
        return catalogue, PolicyEngine.load(policies_dir, catalogue)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{which} policy ({policies_dir}): {exc.message}") from None


def _limits(policies_dir: Path, catalogue: Catalogue, which: str) -> Limits:
    try:
        return load_limits(policies_dir, catalogue)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{which} policy ({policies_dir}): {exc.message}") from None


def _union(*mappings: Iterable[str]) -> list[str]:
    """Keys of several mappings, in first-seen order."""
    return list(dict.fromkeys(key for m in mappings for key in m))


def _release(engine: PolicyEngine, party: str, obj: str, purpose: str,
             ctx: ConditionContext) -> str:
    """How a field is released, as decide_fields computes it."""
    if engine.decide(party, obj, "read", purpose, ctx).allowed:
        return "clear"
    if engine.decide(party, obj, "read_masked", purpose, ctx).allowed:
        return "masked"
    return "withheld"


def _situations(*engines: PolicyEngine) -> list[tuple[ConditionContext, set[_Facts]]]:
    """One context per distinct outcome of the conditions the policies use, with the facts
    it stands for: a policy without age conditions is decided twice, not four times."""
    used = sorted({rule.cond for engine in engines for rule in engine.rules})
    checks = [conditions.get_condition(name) or (lambda _ctx: False) for name in used]
    groups: dict[tuple[bool, ...], tuple[ConditionContext, set[_Facts]]] = {}
    for facts, ctx in _QUERY_CONTEXTS.items():
        outcome = tuple(bool(check(ctx)) for check in checks)
        groups.setdefault(outcome, (ctx, set()))[1].add(facts)
    return list(groups.values())


def _read_changes(old: PolicyEngine, new: PolicyEngine, party: str, purpose: str,
                  fields: dict[str, list[str]],
                  situations: list[tuple[ConditionContext, set[_Facts]]]) -> list[AccessChange]:
    out: list[AccessChange] = []
    for category, codes in fields.items():
        per_field: dict[str, list[tuple[str, str, str]]] = {}
        for code in codes:
            obj = f"{category}.{code}"
            moves: dict[tuple[str, str], set[_Facts]] = defaultdict(set)
            for ctx, facts in situations:
                before = _release(old, party, obj, purpose, ctx)
                after = _release(new, party, obj, purpose, ctx)
                if before != after:
                    moves[(before, after)] |= facts
            per_field[obj] = sorted((b, a, _when(f)) for (b, a), f in moves.items())
        out += _collapse(party, purpose, category, per_field)
    return out


def _collapse(party: str, purpose: str, category: str,
              per_field: dict[str, list[tuple[str, str, str]]]) -> list[AccessChange]:
    """One change for the category when every field of it changed alike."""
    shapes = {tuple(moves) for moves in per_field.values()}
    if len(per_field) > 1 and len(shapes) == 1 and (shape := shapes.pop()):
        return [AccessChange(party, purpose, category, b, a, w) for b, a, w in shape]
    return [AccessChange(party, purpose, obj, b, a, w)
            for obj, moves in per_field.items() for b, a, w in moves]


def _submit_changes(old: PolicyEngine, new: PolicyEngine, party: str, purpose: str,
                    categories: list[str]) -> list[AccessChange]:
    out: list[AccessChange] = []
    for category in categories:
        before, after = (
            "allowed" if e.decide(party, category, "submit", purpose, _SUBMIT_CONTEXT).allowed
            else "refused" for e in (old, new))
        if before != after:
            out.append(AccessChange(party, purpose, category, before, after, ""))
    return out


def _check_changes(old: PolicyEngine, new: PolicyEngine, party: str, purpose: str,
                   categories: list[str],
                   situations: list[tuple[ConditionContext, set[_Facts]]],
                   action: str = "check") -> list[AccessChange]:
    """Categories a yes/no check (or the public feed) may newly, or no longer, use."""
    out: list[AccessChange] = []
    for category in categories:
        moves: dict[tuple[str, str], set[_Facts]] = defaultdict(set)
        for ctx, facts in situations:
            before, after = ("allowed" if e.decide(party, category, action, purpose,
                                                   ctx).allowed else "refused"
                             for e in (old, new))
            if before != after:
                moves[(before, after)] |= facts
        out += [AccessChange(party, purpose, category, b, a, _when(f), action=action)
                for (b, a), f in sorted(moves.items())]
    return out


#: Actions decided per whole category: minimal-disclosure checks and publication.
CATEGORY_ACTIONS = ("check", "publish")


def _when(facts: set[_Facts]) -> str:
    """The request facts under which a change happens, in words ("" for always)."""
    if len(facts) == len(_FACTS):
        return ""
    for index, words in ((0, ("without consent", "with consent")),
                         (1, ("subject under 18", "adult subject"))):
        for value in (False, True):
            if facts == {f for f in _FACTS if f[index] == value}:
                return words[value]
    return "; ".join(f"{'with' if c else 'without'} consent and "
                     f"{'adult subject' if a else 'subject under 18'}"
                     for c, a in sorted(facts))


def _notes(old: Catalogue, new: Catalogue) -> Iterable[str]:
    """Parties, purposes, categories and fields only one of the catalogues has, and
    catalogue changes that change access without a rule: what the public feed carries,
    a party's kind (its masking audience), a purpose's need for consent."""
    for what, o, n in (("party", old.parties, new.parties),
                       ("purpose", old.purposes, new.purposes),
                       ("category", old.categories, new.categories)):
        yield from (f"new {what}: {k}" for k in n if k not in o)
        yield from (f"removed {what}: {k}" for k in o if k not in n)
    for code in set(old.categories) & set(new.categories):
        o_fields, n_fields = old.categories[code].fields, new.categories[code].fields
        yield from (f"new field: {code}.{f}" for f in n_fields if f not in o_fields)
        yield from (f"removed field: {code}.{f}" for f in o_fields if f not in n_fields)
    for pid in set(old.parties) & set(new.parties):
        if old.parties[pid].roles != new.parties[pid].roles:
            yield (f"roles of {pid}: {', '.join(old.parties[pid].roles) or '(none)'} -> "
                   f"{', '.join(new.parties[pid].roles) or '(none)'}")
        if old.parties[pid].kind != new.parties[pid].kind:
            yield (f"kind of {pid} (its masking audience): {old.parties[pid].kind} -> "
                   f"{new.parties[pid].kind}")
    for code in sorted(set(old.categories) & set(new.categories)):
        before, after = old.categories[code], new.categories[code]
        published = [sev for sev in sorted(before.severities | after.severities)
                     if before.publishes(sev) != after.publishes(sev)]
        if published:
            yield (f"public feed of {code}: " + ", ".join(
                f"{sev} {'now published' if after.publishes(sev) else 'no longer published'}"
                for sev in published))
    for code in sorted(set(old.purposes) & set(new.purposes)):
        if old.purposes[code].consent_required != new.purposes[code].consent_required:
            yield (f"consent for {code}: "
                   f"{'required' if new.purposes[code].consent_required else 'no longer'}"
                   " required")
