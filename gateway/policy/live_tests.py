"""The live policy's decision tests bind every proposal (no officer weakens them alone).

A proposal brings its own decision tests, so one officer could weaken the tests along
with the policy. Two rules close that:

1. the proposal must pass the decision tests of the live version as well as its own;
2. a proposal that removes or changes any live test case, decision or quota case (a case
   is its file and name; any change of its keys counts) is a change that needs a second
   security officer, even where the two-person rule is off (a development set-up).

To change a decision the live tests fix, first remove or change the test (two officers),
then change the policy.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from gateway.errors import ConfigurationError
from gateway.policy.testing import TESTS_DIR, run_policy_tests

__all__ = ["CASE_TABLES", "changed_live_cases", "live_test_problems"]

#: The tables of policies/tests/*.toml that are test cases: [[case]] (decisions) and
#: [[quota]] (limits.toml).
CASE_TABLES = ("case", "quota")


def _cases(files: Mapping[str, bytes]) -> dict[str, object]:
    """Every test case of a bundle by FILE/NAME (what a case is known as), raw as written.

    A file that cannot be read stands as one opaque case: changing it is a change.
    """
    cases: dict[str, object] = {}
    for name, data in files.items():
        if not name.startswith(f"{TESTS_DIR}/"):
            continue
        stem = Path(name).stem
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            cases[f"{stem}/*"] = data
            continue
        # Decision and quota cases, and the monitoring rules' streams (replay.py).
        for table in (*CASE_TABLES, "stream"):
            raw = doc.get(table, [])
            if not isinstance(raw, list):
                cases[f"{stem}/*"] = data
                continue
            for index, case in enumerate(raw):
                label = case.get("name") if isinstance(case, dict) else None
                number = f"{table} #{index + 1}"
                cases[f"{stem}/{label if isinstance(label, str) else number}"] = case
    return cases


def changed_live_cases(live: Mapping[str, bytes], proposed: Mapping[str, bytes]) -> list[str]:
    """The live test cases (FILE/NAME) that a proposed bundle removes or changes."""
    # Only files whose bytes differ can change a case: parse those alone (cases are known
    # by file stem, so every file of a touched stem is read on both sides).
    touched = {Path(name).stem for name in live.keys() | proposed.keys()
               if live.get(name) != proposed.get(name)}

    def of_touched(files: Mapping[str, bytes]) -> dict[str, bytes]:
        return {name: data for name, data in files.items() if Path(name).stem in touched}

    before, after = _cases(of_touched(live)), _cases(of_touched(proposed))
    return sorted(case for case, raw in before.items() if after.get(case) != raw)


def live_test_problems(live_dir: Path, proposal_dir: Path) -> str:
    """Why the proposal fails the live version's decision tests ("" when it passes them)."""
    cases_dir = live_dir / TESTS_DIR
    if not cases_dir.is_dir():
        return ""
    try:
        report = run_policy_tests(proposal_dir, cases_dir=cases_dir)
    except ConfigurationError as exc:
        return f"the live policy's decision tests cannot run against it: {exc.message}"
    failed = [r.case.id for r in report.results if not r.passed]
    failed += [r.stream.id for r in report.streams if not r.passed]
    if not failed:
        return ""
    return (f"fails the live policy's decision tests ({len(failed)} of "
            f"{len(report.results) + len(report.streams)}): {', '.join(failed[:10])}")
