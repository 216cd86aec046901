"""`credgate policy ...` through main([...]), with the policy group registered for the test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import gateway.cli
from gateway.policy.decide import PolicyEngine
from tests.support import POLICIES

Capture = pytest.CaptureFixture[str]


def credgate(*argv: str) -> int:
    return gateway.cli.main(list(argv))


def rule_line(city: PolicyEngine, *values: str) -> int:
    return next(r.line for r in city.rules if r.values == values)


def test_help_lists_the_subcommands(capsys: Capture) -> None:
    with pytest.raises(SystemExit):
        credgate("policy", "--help")
    out = capsys.readouterr().out
    for name in ("validate", "test", "diff", "explain"):
        assert name in out
    assert credgate("policy") == 2


# ------------------------------------------------------------------ validate


def test_validate_the_city_policy(capsys: Capture) -> None:
    assert credgate("policy", "validate", "--policies", str(POLICIES)) == 0
    assert capsys.readouterr().out.strip().endswith("0 error(s), 0 warning(s)")


def test_validate_exit_codes_follow_the_worst_finding(scratch: Path, capsys: Capture) -> None:
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, personnel_authority, honour, read_masked, cadre_selection, deny,\n")
    assert credgate("policy", "validate", "--policies", str(scratch)) == 0
    assert ": warning: denies the masked release" in capsys.readouterr().out
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, credit_agency, honour, read, authorised_query, allow,\n")
    assert credgate("policy", "validate", "--policies", str(scratch), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 1, 1)
    assert report["findings"][1]["severity"] == "error"
    assert report["findings"][1]["file"] == "policy.csv"


def test_validate_a_missing_directory_is_broken_input(tmp_path: Path, capsys: Capture) -> None:
    assert credgate("policy", "validate", "--policies", str(tmp_path / "nowhere")) == 2
    assert "is not a directory" in capsys.readouterr().err


# ------------------------------------------------------------------ test


def test_test_prints_failures_only_and_the_summary(capsys: Capture) -> None:
    assert credgate("policy", "test", "--policies", str(POLICIES)) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("PASS: ")
    n, m = lines[0].removeprefix("PASS: ").split("/")
    assert n == m and int(m) >= 60


def test_test_verbose_with_run(capsys: Capture) -> None:
    assert credgate("policy", "test", "--policies", str(POLICIES), "-v",
                    "--run", "^self_query/") == 0
    out = capsys.readouterr().out
    assert "PASS self_query/a person sees everything held about them" in out
    assert "cadre_selection/" not in out
    assert credgate("policy", "test", "--policies", str(POLICIES), "--run", "^nothing$") == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: no test cases in ") and "matching --run '^nothing$'" in out


def test_test_json(capsys: Capture) -> None:
    assert credgate("policy", "test", "--policies", str(POLICIES), "--json",
                    "--run", "joint_punishment/") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["passed"] == report["total"] == 12
    role_case = next(r for r in report["results"]
                     if r["name"] == "every department sees dishonest judgment debtors")
    assert len(role_case["checks"]) == 11  # 8 city departments and 3 county ones


def test_test_a_failure_exits_1_with_the_deciding_rule(scratch: Path, capsys: Capture) -> None:
    text = (scratch / "policy.csv").read_text(encoding="utf-8")
    assert text.endswith("\n")
    line = text.count("\n") + 1
    (scratch / "policy.csv").write_text(
        text + "p, personnel_authority, dishonest_debtor, read, cadre_selection, deny,\n",
        encoding="utf-8")
    assert credgate("policy", "test", "--policies", str(scratch), "--run", "cadre") == 1
    out = capsys.readouterr().out
    assert "FAIL cadre_selection/Organisation Department sees court debts" in out
    assert f"rule:     policy.csv:{line} p, personnel_authority, dishonest_debtor, read" in out
    assert "roles:    org_department -> personnel_authority" in out
    assert "object:   dishonest_debtor" in out
    assert "PASS: " in out and "PASS cadre" not in out


def test_test_broken_cases_are_broken_input(scratch: Path, capsys: Capture) -> None:
    (scratch / "tests" / "zz.toml").write_text(
        '[[case]]\nname = "x"\nparty = "nobody"\npurpose = "awards"\nobject = "honour"\n'
        'action = "read"\nexpect = "deny"\nwhy = "y"\n', encoding="utf-8")
    assert credgate("policy", "test", "--policies", str(scratch)) == 2
    err = capsys.readouterr().err
    assert f"{scratch / 'tests' / 'zz.toml'}:1 case 'x': unknown party 'nobody'" in err


# ------------------------------------------------------------------ diff


def test_diff_of_the_policy_with_itself(capsys: Capture) -> None:
    assert credgate("policy", "diff", str(POLICIES), str(POLICIES)) == 0
    assert capsys.readouterr().out.strip() == "no change in effective access"


def test_diff_table_and_json(scratch: Path, capsys: Capture) -> None:
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, credit_agency, honour, read, authorised_query, allow, consent\n"
                 "p, personnel_authority, identity, read, cadre_selection, deny,\n")
    assert credgate("policy", "diff", str(POLICIES), str(scratch)) == 0
    out = capsys.readouterr().out
    assert "party" in out and "before -> after" in out
    # `credit_agency` is also the role of every licensed agency (credit_agency_b too).
    assert re.search(r"credit_agency_b? +authorised_query +honour", out)
    assert "withheld -> clear" in out and "with consent" in out
    assert re.search(r"org_department +cadre_selection +identity.name", out)
    assert "2 gained, 6 lost" in out
    assert credgate("policy", "diff", str(POLICIES), str(scratch), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["gained"]) == 2 and len(report["lost"]) == 6
    assert {c["object"] for c in report["lost"]} == {"identity.name", "identity.gender",
                                                     "identity.ethnicity"}


def test_diff_broken_policy_is_broken_input(scratch: Path, capsys: Capture) -> None:
    (scratch / "policy.csv").write_text("", encoding="utf-8")
    assert credgate("policy", "diff", str(POLICIES), str(scratch)) == 2
    assert "new policy" in capsys.readouterr().err


# ------------------------------------------------------------------ explain


def test_explain_a_deny_names_the_rule_line_and_chains(capsys: Capture,
                                                      city: PolicyEngine) -> None:
    assert credgate("policy", "explain", "--party", "org_department", "--purpose",
                    "cadre_selection", "--object", "identity.address") == 1
    out = capsys.readouterr().out
    deny = rule_line(city, "personnel_authority", "address", "read", "cadre_selection",
                     "deny", "")
    allow = rule_line(city, "personnel_authority", "basic", "read", "cadre_selection",
                      "allow", "")
    assert "decision:  DENY" in out
    assert f"rule:      policy.csv:{deny} p, personnel_authority, address" in out
    assert "roles:     org_department -> personnel_authority" in out
    assert "object:    identity.address -> address" in out
    assert "release:   masked" in out
    assert f"decided  deny   [no condition]  policy.csv:{deny} " in out
    assert f"allow  [no condition]  policy.csv:{allow} " in out


def test_explain_a_consent_allow(capsys: Capture, city: PolicyEngine) -> None:
    args = ["policy", "explain", "--party", "credit_agency", "--purpose", "authorised_query",
            "--object", "dishonest_debtor.amount"]
    assert credgate(*args) == 1
    out = capsys.readouterr().out
    assert "no rule allows (condition not met: consent)" in out and "consent: unmet" in out
    assert credgate(*args, "--consent", "--subject-age", "40", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    line = rule_line(city, "credit_agency", "negative", "read", "authorised_query", "allow",
                     "consent")
    assert report["allowed"] and report["casbin_agrees"]
    assert report["rule"] == {"file": "policy.csv", "line": line, "text": str(
        next(r for r in city.rules if r.line == line))}
    assert report["object_chain"] == ["dishonest_debtor.amount", "dishonest_debtor", "negative"]
    assert report["role_chain"] == ["credit_agency"]
    assert report["considered"] == [{
        "rule": report["rule"]["text"], "line": line, "effect": "allow",
        "condition": "consent", "condition_holds": True, "decided": True}]


def test_explain_unknown_names_are_broken_input(capsys: Capture) -> None:
    assert credgate("policy", "explain", "--party", "nobody", "--purpose", "curiosity",
                    "--object", "honour", "--action", "write") == 2
    err = capsys.readouterr().err
    assert "unknown party 'nobody'" in err and "unknown purpose 'curiosity'" in err
    assert "unknown action 'write'" in err
