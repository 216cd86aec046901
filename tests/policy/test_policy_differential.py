"""Differential test: the fast path `decide` gives exactly Casbin's answer.

Random requests (known and unknown names, every condition context) are asked of the
city's policy and of a generated policy of ~2,000 random rules with random denies,
conditions and role-to-role lines; for every one, `decide` must equal Casbin's
`enforce`, and when Casbin names a deny rule, the fast path must name the same one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway.catalogue.registry import MARKET_BODY_KIND, Catalogue
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine

Request = tuple[str, str, str, str, ConditionContext]
CONDITIONS = ["", "", "", "consent", "subject_adult"]
# Casbin needs ~13 ms per request on 2,000 rules, so the default run stays near 15 s;
# CREDGATE_POLICY_DIFF_SCALE=20 (and another seed) makes a soak run.
SCALE = int(os.environ.get("CREDGATE_POLICY_DIFF_SCALE", "1"))
SEED = int(os.environ.get("CREDGATE_POLICY_DIFF_SEED", "1"))
CONTEXTS = [ConditionContext(consent_presented=c, subject_age=a)
            for c in (False, True) for a in (None, 12, 17, 18, 70)]


def closure(edges: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Reachability written independently of the engine's (no depth limit needed here)."""
    parents: dict[str, set[str]] = {}
    for child, parent in edges:
        parents.setdefault(child, set()).add(parent)
    out: dict[str, set[str]] = {}
    for start in list(parents):
        seen, todo = {start}, [start]
        while todo:
            for nxt in parents.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out[start] = seen
    return out


def objects_of(catalogue: Catalogue) -> list[str]:
    return sorted({c.object_name(f) for c in catalogue.categories.values() for f in c.fields}
                  | set(catalogue.categories) | set(catalogue.groups))


def random_policy(catalogue: Catalogue, rng: random.Random, size: int) -> str:
    """~size random rules (reads with random denies and conditions, in-remit submits)."""
    extra_roles = [f"extra_role_{i}" for i in range(6)]
    # Market bodies may only check (the loader refuses a rule letting one read), so the
    # generated reads reach none of them: their parties and roles stay out of the chains.
    market = {p.id for p in catalogue.parties.values() if p.kind == MARKET_BODY_KIND}
    market_roles = {r for p in catalogue.parties.values() if p.id in market for r in p.roles}
    base_roles = sorted(catalogue.roles - market_roles)
    lines: list[str] = ["# generated"]
    for i, role in enumerate(extra_roles):  # chains and diamonds, at most a few links deep
        lines.append(f"g, {rng.choice(base_roles + extra_roles[:i])}, {role}")
        lines.append(f"g, {rng.choice(base_roles)}, {role}")
    lines = list(dict.fromkeys(lines))  # both picks may name the same role: one line
    subjects = sorted(set(catalogue.parties) - market) + base_roles + extra_roles
    objects = objects_of(catalogue)
    queries = sorted(p for p, v in catalogue.purposes.items() if v.queryable)
    rules: set[str] = set()
    for cat in catalogue.categories.values():
        for provider in sorted(cat.providers):
            if rng.random() < 0.7:
                rules.add(f"p, {provider}, {cat.code}, submit, submission, allow, "
                          f"{rng.choice(CONDITIONS)}")
    while len(rules) < size:
        act = rng.choice(["read", "read", "read_masked"])
        eft = "deny" if rng.random() < 0.25 else "allow"
        rules.add(f"p, {rng.choice(subjects)}, {rng.choice(objects)}, {act}, "
                  f"{rng.choice(queries)}, {eft}, {rng.choice(CONDITIONS)}")
        if rng.random() < 0.02:
            rules.add(f"p, {rng.choice(subjects)}, {rng.choice(sorted(catalogue.categories))}, "
                      f"submit, submission, deny, {rng.choice(CONDITIONS)}")
    rule_lines = sorted(rules)
    rng.shuffle(rule_lines)
    # Interleave the g lines with the rules: their position must not matter.
    for g_line in lines[1:]:
        rule_lines.insert(rng.randrange(len(rule_lines) + 1), g_line)
    return "\n".join([lines[0], *rule_lines]) + "\n"


def random_requests(engine: PolicyEngine, catalogue: Catalogue, policy_text: str,
                    rng: random.Random, count: int) -> Iterator[Request]:
    """Half aimed at a random rule (a member of its subject, an object below it), half wild."""
    g_edges = [tuple(line.split(", ")[1:3]) for line in policy_text.splitlines()
               if line.startswith("g, ")]
    roles = closure([*catalogue.role_edges(), *g_edges])  # type: ignore[list-item]
    ancestors = closure(catalogue.hierarchy())
    subjects = sorted({*catalogue.parties, *roles, *(r.sub for r in engine.rules)})
    objects = objects_of(catalogue)
    wild_names = ["nobody", "", "all", "dishonest_debtor", "court.name", "identity.nope"]
    actions = ["submit", "read", "read_masked", "write", "READ"]
    purposes = [*sorted(catalogue.purposes), "curiosity", ""]
    for _ in range(count):
        ctx = rng.choice(CONTEXTS)
        if engine.rules and rng.random() < 0.5:
            rule = rng.choice(engine.rules)
            members = [s for s in subjects if rule.sub in roles.get(s, {s})]
            below = [o for o in objects if rule.obj in ancestors.get(o, {o})]
            yield (rng.choice(members), rng.choice(below), rule.act, rule.pur, ctx)
        else:
            yield (rng.choice(subjects + wild_names), rng.choice(objects + wild_names),
                   rng.choice(actions), rng.choice(purposes), ctx)


def check_agreement(engine: PolicyEngine, requests: Iterator[Request]) -> tuple[int, int]:
    asked = granted = 0
    for party, obj, act, pur, ctx in requests:
        fast = engine.decide(party, obj, act, pur, ctx)
        reference = engine.decide_with_casbin(party, obj, act, pur, ctx)
        request = (party, obj, act, pur, ctx)
        assert fast.allowed == reference.allowed, (request, fast, reference)
        assert engine.decide(party, obj, act, pur, ctx) == fast, request  # cached path
        if reference.rule is not None and reference.rule.eft == "deny":
            assert fast.rule == reference.rule, (request, fast, reference)
        if fast.allowed:
            assert fast.rule is not None and fast.rule.eft == "allow"
        asked += 1
        granted += fast.allowed
    return asked, granted


def test_fast_path_equals_casbin_on_the_city_policy(city: PolicyEngine,
                                                    catalogue: Catalogue) -> None:
    rng = random.Random(20180701 + SEED)
    text = (Path(__file__).resolve().parents[2] / "policies" / "policy.csv").read_text()
    count = 3000 * SCALE
    asked, granted = check_agreement(city, random_requests(city, catalogue, text, rng, count))
    assert asked == count
    assert 0.2 * asked < granted < 0.8 * asked  # both outcomes well exercised


def test_fast_path_equals_casbin_on_a_generated_policy(
        write_policy: Callable[..., Path], catalogue: Catalogue) -> None:
    rng = random.Random(SEED)
    text = random_policy(catalogue, rng, size=2000)
    engine = PolicyEngine.load(write_policy(text), catalogue)
    assert len(engine.rules) >= 2000
    requests = random_requests(engine, catalogue, text, rng, 600 * SCALE)
    asked, granted = check_agreement(engine, requests)
    assert 0.1 * asked < granted < 0.9 * asked
