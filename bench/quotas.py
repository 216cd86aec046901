"""Benchmark: what the quota step costs per call, beside the decide step it precedes.

Run ``python -m bench.quotas [--calls 20000] [--postgres CONNINFO]``. In one process and
one run it times, in CPU time of the calling thread (``time.thread_time_ns``):

- decide        the decide step of a credit agency's QuerySubject (every category,
                field by field), as the servicer calls it: the baseline
- decide+limits the quota step first (gateway.policy.quotas.Quotas.admit, the shipped limits'
                five counters for an agency's authorised query: calls a minute, a day and
                for every purpose, distinct people a day, burst), then the same decide;
                every call asks about a new person, so the distinct-subject set grows
                and a slot is spent on every call (the worst case)

Counters are on a real SQLite store in a temporary folder (and on PostgreSQL with
``--postgres``), leased in blocks as the gateway does, so the figure includes the
amortised lease transactions. Limits are set high enough that nothing is refused.
The goal (issue 16): under 20 us of server CPU per call on top of today's path.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from gateway.catalogue.registry import load_catalogue
from gateway.clock import SystemClock
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine
from gateway.policy.limits import load_limits
from gateway.policy.quotas import Quotas
from gateway.records.sqlite_store import SqliteStore
from gateway.records.store import RecordStore

POLICIES = Path(__file__).resolve().parents[1] / "policies"
#: The shipped limits with their amounts raised, so the run measures counting, never a
#: refusal (same kinds, same number of counters per call).
HIGH = 100_000_000


def high_limits(folder: Path) -> Path:
    """A copy of the shipped policies whose limits are all HIGH."""
    dest = folder / "policies"
    shutil.copytree(POLICIES, dest)
    text = (dest / "limits.toml").read_text(encoding="utf-8")
    lines = []
    for line in text.split("\n"):
        key = line.split("=")[0].strip()
        if key in ("calls_per_minute", "calls_per_day", "subjects_per_minute",
                   "subjects_per_day", "burst"):
            line = f"{key} = {HIGH - 1 if key == 'burst' else HIGH}"
        lines.append(line)
    (dest / "limits.toml").write_text("\n".join(lines), encoding="utf-8")
    return dest


def per_call_us(run: Callable[[int], None], calls: int, rounds: int = 5) -> float:
    """The fastest round's CPU microseconds per call (the others saw more neighbours)."""
    best = float("inf")
    for _ in range(rounds):
        began = time.thread_time_ns()
        for n in range(calls):
            run(n)
        best = min(best, (time.thread_time_ns() - began) / calls / 1000)
    return best


def measure(store: RecordStore, folder: Path, calls: int, label: str) -> None:
    """Print decide alone and decide after the quota step, on one store."""
    policies = high_limits(folder)
    catalogue = load_catalogue(policies)
    engine = PolicyEngine.load(policies, catalogue)
    limits = load_limits(policies, catalogue)
    party = catalogue.parties["credit_agency"]
    purpose = "authorised_query"
    categories = list(catalogue.categories.values())
    ctx = ConditionContext(consent_presented=True, subject_age=40, now=SystemClock().now())
    quotas = Quotas(store, clock=SystemClock())
    people = itertools.count()  # a new person on every call, in every round

    def decide(_: int) -> None:
        engine.decide_categories(party.id, categories, purpose, ctx)

    def limited(n: int) -> None:
        quotas.admit(limits, party, purpose, f"person-{next(people)}")
        engine.decide_categories(party.id, categories, purpose, ctx)

    def admit_only(n: int) -> None:
        quotas.admit(limits, party, purpose, f"person-{next(people)}")

    decide(0)
    limited(0)  # the first lease of each counter outside the timing
    base = per_call_us(decide, calls)
    both = per_call_us(limited, calls)
    alone = per_call_us(admit_only, calls)
    counters = sum(len(r.amounts) for r in limits.applying(party, purpose))
    print(f"{label}: {counters} counters per call, {calls:,} calls a round, best of 5")
    print(f"  decide               {base:8.1f} us/call")
    print(f"  decide + limits      {both:8.1f} us/call   x{both / base:.2f}")
    print(f"  limits (difference)  {both - base:8.1f} us/call   goal < 20 us")
    print(f"  limits alone         {alone:8.1f} us/call")
    quotas.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--postgres", help="also on PostgreSQL (a conninfo)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="credgate-bench-quotas-") as scratch:
        folder = Path(scratch)
        store = SqliteStore(folder / "records.db")
        try:
            measure(store, folder / "sqlite", args.calls, "SQLite store")
        finally:
            store.close()
        if args.postgres:
            import psycopg

            from gateway.records.postgres_store import PostgresStore

            schema = f"bench_quotas_{uuid.uuid4().hex[:8]}"
            pg = PostgresStore(args.postgres, schema=schema)
            try:
                measure(pg, folder / "pg", args.calls, "PostgreSQL store")
            finally:
                pg.close()
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
