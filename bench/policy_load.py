"""Benchmark: what reading the policy files costs (issue 14 step 4: strict declared types).

Run ``python -m bench.policy_load [--repeat 7] [--number 20]``.

Each figure is the best of ``--repeat`` runs of ``--number`` loads (timeit), in
milliseconds per load, beside a same-run baseline: ``tomllib`` parsing the same files,
which every loader pays first. A SIGHUP reload runs ``load_state``; ``policy test`` runs
``load_cases`` over policies/tests; the server start reads data-keys.toml once.
"""

from __future__ import annotations

import argparse
import timeit
import tomllib
from collections.abc import Callable

from gateway.catalogue.registry import load_catalogue
from gateway.config import shipped
from gateway.crypto.keyring import load_keyring, parse_keyring_toml
from gateway.policy.limits import load_limits
from gateway.policy.rollout import load_state
from gateway.policy.testing import load_cases
from gateway.policy.validate import open_policies
from gateway.protect.profiles import read_profiles

POLICIES = shipped("policies")
KEYS = shipped("keys_example")
_CATALOGUE_FILES = ("catalogue.toml", "parties.toml", "purposes.toml")


def _parse(names: tuple[str, ...]) -> Callable[[], object]:
    texts = [(POLICIES / n).read_text(encoding="utf-8") for n in names]
    return lambda: [tomllib.loads(t) for t in texts]


def main(argv: list[str] | None = None) -> None:
    """Print ms per load of each loader beside tomllib alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20)
    args = parser.parse_args(argv)
    catalogue = load_catalogue(POLICIES)
    policies = open_policies(POLICIES)
    case_files = sorted((POLICIES / "tests").glob("*.toml"))
    case_texts = [p.read_text(encoding="utf-8") for p in case_files]
    key_text = (KEYS / "data-keys.toml").read_text(encoding="utf-8")
    keyring = load_keyring(KEYS)
    runs: list[tuple[str, Callable[[], object]]] = [
        ("tomllib: catalogue, parties, purposes", _parse(_CATALOGUE_FILES)),
        ("load_catalogue", lambda: load_catalogue(POLICIES)),
        ("tomllib: masking.toml", _parse(("masking.toml",))),
        ("read_profiles (masking.toml)", lambda: read_profiles(POLICIES)),
        ("load_limits", lambda: load_limits(POLICIES, catalogue)),
        ("load_state (SIGHUP reload)", lambda: load_state(POLICIES, keyring)),
        ("tomllib: tests/*.toml", lambda: [tomllib.loads(t) for t in case_texts]),
        ("load_cases (tests/*.toml)", lambda: load_cases(POLICIES / "tests", policies)),
        ("tomllib: data-keys.toml", lambda: tomllib.loads(key_text)),
        ("parse_keyring_toml", lambda: parse_keyring_toml(key_text)),
    ]
    width = max(len(name) for name, _ in runs)
    for name, run in runs:
        best = min(timeit.repeat(run, repeat=args.repeat, number=args.number))
        print(f"{name:<{width}}  {best / args.number * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
