"""Benchmark: what reading the policy files costs (issue 14 step 4: strict declared types).

Run ``python -m bench.policy_load [--repeat 7] [--number 20] [--policies DIR] [--keys DIR]``.

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
from pathlib import Path

from gateway.catalogue.registry import load_catalogue
from gateway.config import shipped
from gateway.crypto.keyring import load_keyring, parse_keyring_toml
from gateway.policy.limits import load_limits
from gateway.policy.rollout import load_state
from gateway.policy.testing import load_cases
from gateway.policy.validate import open_policies
from gateway.protect.profiles import read_profiles

_CATALOGUE_FILES = ("catalogue.toml", "parties.toml", "purposes.toml")


def _parse(policies: Path, names: tuple[str, ...]) -> Callable[[], object]:
    texts = [(policies / n).read_text(encoding="utf-8") for n in names]
    return lambda: [tomllib.loads(t) for t in texts]


def _forget_lines() -> None:
    """Drop the cached line index of the texts strict_toml located keys in (absent in a
    tree from before strict_toml, which the benchmark is also run on)."""
    try:
        from gateway.strict_toml import _lines
    except ImportError:
        return
    _lines.cache_clear()


def main(argv: list[str] | None = None) -> None:
    """Print ms per load of each loader beside tomllib alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20)
    parser.add_argument("--policies", type=Path, default=shipped("policies"))
    parser.add_argument("--keys", type=Path, default=shipped("keys_example"))
    args = parser.parse_args(argv)
    folder, keys = args.policies, args.keys
    catalogue = load_catalogue(folder)
    policies = open_policies(folder)
    case_files = sorted((folder / "tests").glob("*.toml"))
    case_texts = [p.read_text(encoding="utf-8") for p in case_files]
    key_text = (keys / "data-keys.toml").read_text(encoding="utf-8")
    keyring = load_keyring(keys)
    runs: list[tuple[str, Callable[[], object]]] = [
        ("tomllib: catalogue, parties, purposes", _parse(folder, _CATALOGUE_FILES)),
        ("load_catalogue", lambda: load_catalogue(folder)),
        ("tomllib: masking.toml", _parse(folder, ("masking.toml",))),
        ("read_profiles (masking.toml)", lambda: read_profiles(folder)),
        ("load_limits", lambda: load_limits(folder, catalogue)),
        ("load_state (SIGHUP reload)", lambda: load_state(folder, keyring)),
        ("tomllib: tests/*.toml", lambda: [tomllib.loads(t) for t in case_texts]),
        # Cold: the line index of each file's text (strict_toml) is built afresh, as in
        # a run of `policy test`, which reads each file once.
        ("load_cases (tests/*.toml)", lambda: (_forget_lines(),
                                               load_cases(folder / "tests", policies))),
        ("tomllib: data-keys.toml", lambda: tomllib.loads(key_text)),
        ("parse_keyring_toml", lambda: parse_keyring_toml(key_text)),
    ]
    width = max(len(name) for name, _ in runs)
    for name, run in runs:
        best = min(timeit.repeat(run, repeat=args.repeat, number=args.number))
        print(f"{name:<{width}}  {best / args.number * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
