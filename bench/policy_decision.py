"""Benchmark: microseconds per policy decision, fast path against Casbin's enforce.

Run ``python -m bench.policy_decision [--sizes 1000,10000,100000] [--decisions 20000]``.
For each size it builds a synthetic catalogue (many departments x categories x purposes)
and a policy of that many rules, loads it with `PolicyEngine.load`, and times:

- fast, cold   the first decision for a request (candidate rules looked up and cached)
- fast, warm   the same requests again (the cached path every later request takes)
- casbin       `enforce_ex` on the same enforcer, same rules, same requests; it scans every
               rule per request (~1 s at 100k rules), so it gets only a few requests there
- casbin g-first  the same with the matcher terms in the textbook order (g() first), which
               makes Casbin evaluate role links for every rule: what policies usually ship

Each figure is the median and p99 of per-decision times (perf_counter_ns around one call).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.catalogue.registry import Catalogue, Category, FieldSpec, Group, Party, Purpose
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine

POLICIES = Path(__file__).resolve().parents[1] / "policies"
TEXTBOOK_MATCHER = (
    "m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act"
    " && r.pur == p.pur && condition(p.cond, r.ctx)"
)
FIELDS_PER_CATEGORY = 6
GROUPS = 5
KINDS = 5
# (departments, categories, purposes) whose product is the number of rules.
SHAPES = {1_000: (10, 10, 10), 10_000: (40, 25, 10), 100_000: (100, 50, 20)}
CASBIN_REQUESTS = {1_000: 300, 10_000: 40, 100_000: 4}

Request = tuple[str, str, str, str, ConditionContext]


@dataclass(frozen=True)
class Timing:
    """Per-decision times of one measured path."""

    label: str
    micros: list[float]

    @property
    def median(self) -> float:
        """Median in microseconds."""
        return statistics.median(self.micros)

    @property
    def p99(self) -> float:
        """99th percentile in microseconds (the maximum for small samples)."""
        ordered = sorted(self.micros)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def line(self, baseline: Timing | None = None) -> str:
        """One human-readable summary line, with the ratio to `baseline`."""
        ratio = f"  x{self.median / baseline.median:>11,.0f}" if baseline else ""
        return (
            f"  {self.label:<16} n={len(self.micros):>6,}  median {self.median:>12,.1f} us"
            f"  p99 {self.p99:>12,.1f} us{ratio}"
        )


def synthetic_catalogue(departments: int, categories: int, purposes: int) -> Catalogue:
    """A catalogue shaped like the city's, only much wider."""
    groups = {"all": Group("all", "All", "全部", ())}
    groups |= {
        f"group_{i}": Group(f"group_{i}", f"Group {i}", "组", ("all",)) for i in range(GROUPS)
    }
    parties = {
        f"dept_{i}": Party(
            f"dept_{i}",
            f"Department {i}",
            "部门",
            "department",
            ("department", f"kind_{i % KINDS}"),
        )
        for i in range(departments)
    }
    cats = {}
    for i in range(categories):
        fields = {
            f"f{j}": FieldSpec(f"f{j}", "text", False, True, 200)
            for j in range(FIELDS_PER_CATEGORY)
        }
        cats[f"cat_{i}"] = Category(
            code=f"cat_{i}",
            name=f"Category {i}",
            name_zh="类别",
            providers=frozenset({"dept_0"}),
            polarity="negative",
            severities=frozenset({"serious"}),
            groups=(f"group_{i % GROUPS}",),
            public=False,
            min_subject_age=0,
            display_months={"serious": 36},
            fields=fields,
        )
    purps = {
        f"purpose_{i}": Purpose(f"purpose_{i}", f"Purpose {i}", "目的", "bench", False, True)
        for i in range(purposes)
    }
    purps["submission"] = Purpose("submission", "Submission", "报送", "bench", False, False)
    return Catalogue(
        parties=parties,
        categories=cats,
        groups=groups,
        purposes=purps,
        severities={"serious": ("Serious", "严重")},
        max_batch=500,
        max_field_chars=4000,
        roles=frozenset(r for p in parties.values() for r in p.roles),
    )


def synthetic_policy(catalogue: Catalogue, rng: random.Random) -> str:
    """One rule per (department, category, purpose): mostly allows, some denies/conditions."""
    lines = ["# synthetic benchmark policy"]
    purposes = [p for p, v in catalogue.purposes.items() if v.queryable]
    for party in catalogue.parties:
        for code, cat in catalogue.categories.items():
            for purpose in purposes:
                roll = rng.random()
                if roll < 0.05:
                    sub, obj = f"kind_{rng.randrange(KINDS)}", cat.groups[0]  # role x group
                else:
                    sub = party
                    obj = code if roll < 0.8 else cat.object_name(rng.choice(list(cat.fields)))
                act = "read" if rng.random() < 0.8 else "read_masked"
                eft = "deny" if rng.random() < 0.1 else "allow"
                cond = "consent" if rng.random() < 0.3 else ""
                lines.append(f"p, {sub}, {obj}, {act}, {purpose}, {eft}, {cond}")
    return "\n".join(dict.fromkeys(lines)) + "\n"  # role x group rules may repeat


def requests(catalogue: Catalogue, rng: random.Random, count: int) -> list[Request]:
    """Distinct random requests for a field, as the query service asks them."""
    parties = list(catalogue.parties)
    objects = [c.object_name(f) for c in catalogue.categories.values() for f in c.fields]
    purposes = [p for p, v in catalogue.purposes.items() if v.queryable]
    count = min(count, len(parties) * len(objects) * 2 * len(purposes) // 2)
    out: dict[tuple[str, str, str, str], ConditionContext] = {}
    while len(out) < count:
        key = (
            rng.choice(parties),
            rng.choice(objects),
            rng.choice(["read", "read_masked"]),
            rng.choice(purposes),
        )
        out[key] = ConditionContext(consent_presented=rng.random() < 0.5)
    return [(*key, ctx) for key, ctx in out.items()]


def measure(label: str, decide: Callable[..., object], reqs: list[Request]) -> Timing:
    """Time each call of `decide` on each request."""
    clock = time.perf_counter_ns
    micros: list[float] = []
    for req in reqs:
        start = clock()
        decide(*req)
        micros.append((clock() - start) / 1000)
    return Timing(label, micros)


def run(size: int, decisions: int, textbook: bool, seed: int) -> None:
    """Build a policy of about `size` rules and print the timings."""
    departments, categories, purposes = SHAPES.get(size) or (max(size // 100, 1), 10, 10)
    rng = random.Random(seed)
    catalogue = synthetic_catalogue(departments, categories, purposes)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        shutil.copy(POLICIES / "model.conf", directory / "model.conf")
        (directory / "policy.csv").write_text(synthetic_policy(catalogue, rng), encoding="utf-8")
        started = time.perf_counter()
        engine = PolicyEngine.load(directory, catalogue)
        load_s = time.perf_counter() - started
        textbook_engine = None
        if textbook:
            model = (directory / "model.conf").read_text(encoding="utf-8")
            (directory / "model.conf").write_text(
                re.sub(r"(?m)^m = .*$", TEXTBOOK_MATCHER, model), encoding="utf-8"
            )
            textbook_engine = PolicyEngine.load(directory, catalogue)
    reqs = requests(catalogue, rng, decisions)
    cold = measure("fast, cold", engine.decide, reqs)
    warm = measure("fast, warm", engine.decide, reqs)
    few = reqs[: CASBIN_REQUESTS.get(size, 10)]
    casbin = measure("casbin", engine.decide_with_casbin, few)
    allowed = sum(engine.decide(*r).allowed for r in reqs)
    print(
        f"{len(engine.rules):,} rules ({departments} departments x {categories} categories"
        f" x {purposes} purposes), loaded in {load_s:.2f} s, {allowed / len(reqs):.0%} allowed"
    )
    print(warm.line())
    print(cold.line())
    print(casbin.line(warm) + "  (ratio to fast, warm)")
    if textbook_engine is not None:
        fewer = few[: max(2, len(few) // 2)]
        g_first = measure("casbin g-first", textbook_engine.decide_with_casbin, fewer)
        print(g_first.line(warm) + "  (ratio to fast, warm)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments and run each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated numbers of rules (default: %(default)s)",
    )
    parser.add_argument(
        "--decisions",
        type=int,
        default=20_000,
        help="distinct fast-path requests per size (default: %(default)s)",
    )
    parser.add_argument(
        "--no-textbook", action="store_true", help="skip timing Casbin with the g()-first matcher"
    )
    parser.add_argument("--seed", type=int, default=2018)
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.decisions, not args.no_textbook, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
