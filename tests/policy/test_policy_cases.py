"""The decision test cases beside the policy (policies/tests/*.toml) and their runner."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import msgspec
import pytest

from gateway.cli import main
from gateway.cli.common import EXIT_BROKEN
from gateway.errors import ConfigurationError
from gateway.monitoring.replay import FILE_GLOB as MONITORING_GLOB
from gateway.policy.case_tables import CaseFile, CaseTable, QuotaCaseTable
from gateway.policy.testing import CaseFileError, load_cases, run_cases, run_policy_tests
from gateway.policy.validate import PolicySet, open_policies
from gateway.strict_toml import decode, dotted
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import POLICIES

CASE = """
[[case]]
name = "{name}"
{who}
purpose = "{purpose}"
object = "{obj}"
action = "{action}"
expect = "{expect}"
why = "a reason"
"""


def case(name: str = "a case", who: str = 'party = "org_department"',
         purpose: str = "cadre_selection", obj: str = "dishonest_debtor", action: str = "read",
         expect: str = "allow") -> str:
    return CASE.format(name=name, who=who, purpose=purpose, obj=obj, action=action,
                       expect=expect)


@pytest.fixture(scope="module")
def city_policies() -> PolicySet:
    return open_policies(POLICIES)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of policies/ whose tests/ directory starts empty."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest, ignore=shutil.ignore_patterns("tests"))
    (dest / "tests").mkdir()
    return dest


def rule_line(ps: PolicySet, *values: str) -> int:
    return next(r.line for r in ps.engine.rules if r.values == values)


# ------------------------------------------------------------------ the shipped cases


def test_every_shipped_case_passes() -> None:
    report = run_policy_tests(POLICIES)
    failures = [line for r in report.results if not r.passed for line in r.lines()]
    assert report.ok, "\n".join(failures)
    assert len(report.results) >= 60
    total = len(report.results) + len(report.streams)  # monitoring streams count too
    assert report.summary == f"PASS: {total}/{total}"


def test_shipped_cases_cover_every_purpose_and_party(city_policies: PolicySet) -> None:
    cases = load_cases(POLICIES / "tests", city_policies)
    catalogue = city_policies.catalogue
    assert {c.purpose for c in cases} == set(catalogue.purposes)
    assert {p for c in cases for p in c.parties} == set(catalogue.parties)
    assert {c.expect for c in cases} == {"allow", "deny"}
    assert {c.action for c in cases} == {"read", "read_masked", "submit", "check", "publish"}
    assert any(c.is_role for c in cases) and any(c.consent for c in cases)
    assert all(len(c.why) > 20 for c in cases)


def test_shipped_cases_pin_the_masked_only_fields_and_every_remit(
        city_policies: PolicySet) -> None:
    cases = load_cases(POLICIES / "tests", city_policies)
    masked_only = {(c.obj, c.purpose) for c in cases if c.action == "read" and c.expect == "deny"}
    masked_ok = {(c.obj, c.purpose) for c in cases
                 if c.action == "read_masked" and c.expect == "allow"}
    assert ("identity.address", "cadre_selection") in masked_only & masked_ok
    assert ("financial_dishonesty.bank_card", "joint_punishment") in masked_only & masked_ok
    submitted = {(p, c.obj) for c in cases if c.action == "submit" and c.expect == "allow"
                 for p in c.parties}
    remits = {(p, cat.code) for cat in city_policies.catalogue.categories.values()
              for p in cat.providers}
    assert submitted == remits


# ------------------------------------------------------------------ the runner


def test_a_failing_case_shows_request_decisions_rule_and_chains(
        scratch: Path, city_policies: PolicySet) -> None:
    (scratch / "tests" / "mine.toml").write_text(
        case("address in clear", obj="identity.address") + case("no rule", obj="honour",
                                                                purpose="awards",
                                                                who='party = "court"'),
        encoding="utf-8")
    report = run_policy_tests(scratch)
    assert not report.ok and report.summary == "PASS: 0/2"
    text = "\n".join(report.lines())
    line = rule_line(city_policies, "personnel_authority", "address", "read",
                     "cadre_selection", "deny", "")
    assert f"FAIL mine/address in clear ({scratch / 'tests' / 'mine.toml'}:2)" in text
    assert "request:  org_department read identity.address for cadre_selection" in text
    assert "expected: allow" in text and "actual:   deny" in text
    assert f"rule:     policy.csv:{line} p, personnel_authority, address" in text
    assert "roles:    org_department -> personnel_authority" in text
    assert "object:   identity.address -> address" in text
    assert "rule:     no rule allows" in text


def test_a_role_case_is_checked_for_every_holder_and_names_the_one_that_fails(
        scratch: Path) -> None:
    (scratch / "tests" / "role.toml").write_text(
        case("both see honours", who='role = "personnel_authority"', obj="honour"),
        encoding="utf-8")
    assert run_policy_tests(scratch).ok
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, hr_bureau, honour, read, cadre_selection, deny,\n")
    report = run_policy_tests(scratch)
    (result,) = report.results
    assert [c.party for c in result.checks] == ["hr_bureau", "org_department"]
    assert [c.passed for c in result.checks] == [False, True]
    text = "\n".join(result.lines())
    assert "request:  hr_bureau read honour" in text and "org_department read" not in text
    assert "roles:    hr_bureau" in text


def test_run_filters_by_file_and_name() -> None:
    report = run_policy_tests(POLICIES, run="^cadre_selection/")
    assert report.ok and report.results
    assert all(r.case.id.startswith("cadre_selection/") for r in report.results)
    report = run_policy_tests(POLICIES, run="bank card")
    assert {r.case.file.stem for r in report.results} >= {"cadre_selection", "joint_punishment"}


def test_an_empty_test_set_fails(scratch: Path) -> None:
    report = run_policy_tests(scratch)
    assert not report.ok and report.results == ()
    assert report.summary.startswith("FAIL: no test cases")
    report = run_policy_tests(POLICIES, run="no case is called this")
    assert not report.ok
    assert "matching --run 'no case is called this'" in report.summary


def test_a_bad_run_pattern_is_refused() -> None:
    with pytest.raises(CaseFileError, match="not a regular expression"):
        run_policy_tests(POLICIES, run="(")


# What follows FILE: in the problem. A name the policy must know is refused naming the
# case (the line of its [[case]] header, 11); a key of the wrong shape is refused by the
# file's declared type (gateway.policy.case_tables) at the key's own line, with its path.
BROKEN = {
    "unknown party": (case(who='party = "tax_bureu"'), "11 case 'a case': unknown party "
                                                       "'tax_bureu'"),
    "role as party": (case(who='party = "department"'),
                      "11 case 'a case': unknown party 'department' (it is a role: write "
                      "role = ...)"),
    "unknown role": (case(who='role = "auditors"'), "11 case 'a case': unknown role 'auditors'"),
    "party as role": (case(who='role = "court" \nparty = "court"'),
                      "11 case 'a case': name exactly one of party"),
    "neither": (case(who=""), "11 case 'a case': name exactly one of party"),
    "unknown purpose": (case(purpose="curiosity"),
                        "11 case 'a case': unknown purpose 'curiosity'"),
    "unknown object": (case(obj="identity.shoe_size"),
                       "11 case 'a case': unknown object 'identity.shoe_size'"),
    "unknown action": (case(action="write"), "11 case 'a case': unknown action 'write'"),
    "bad expect": (case(expect="permit"), '17: case[1].expect must be "allow" or "deny"'),
    "typo in a key": (case().replace("why", 'consnet = true\nwhy'),
                      "18: unknown key case[1].consnet"),
    "consent not a bool": (case().replace("why", 'consent = "yes"\nwhy'),
                           "18: case[1].consent must be true or false, not a string"),
    "bad age": (case().replace("why", "subject_age = -3\nwhy"),
                "18: case[1].subject_age must be a whole number of years (0-150)"),
    "missing expect": (case().replace('expect = "allow"\n', ""),
                       "11: missing key case[1].expect"),
    "empty why": (case().replace('why = "a reason"', 'why = "  "'),
                  "18: case[1].why must be a non-empty string"),
    "a stream table": (case() + '\n[[stream]]\nname = "x"\n', "20: unknown key stream"),
    # The feed publishes and the checks count whole categories: a field case tests a
    # request the gateway never makes.
    "publish of a field": (case(obj="dishonest_debtor.address", action="publish"),
                           "11 case 'a case': 'publish' is decided per category"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_case_is_refused_with_file_line_and_name(
        kind: str, scratch: Path, city_policies: PolicySet) -> None:
    text, message = BROKEN[kind]
    path = scratch / "tests" / "broken.toml"
    path.write_text(case("fine") + text, encoding="utf-8")
    with pytest.raises(CaseFileError) as info:
        load_cases(scratch / "tests", city_policies)
    assert f"{path}:{message}" in info.value.message


def test_every_problem_is_listed_and_names_are_unique(scratch: Path,
                                                      city_policies: PolicySet) -> None:
    (scratch / "tests" / "a.toml").write_text(case() + case(), encoding="utf-8")
    (scratch / "tests" / "b.toml").write_text("[[case]\nname = ", encoding="utf-8")
    with pytest.raises(CaseFileError) as info:
        load_cases(scratch / "tests", city_policies)
    message = info.value.message
    assert "2 problem(s)" in message
    assert "a.toml:11 case 'a case': repeats the name of the case at line 2" in message
    assert f"{scratch / 'tests' / 'b.toml'} is not valid TOML" in message


def test_the_same_name_in_two_files_is_fine(scratch: Path, city_policies: PolicySet) -> None:
    for name in ("a", "b"):
        (scratch / "tests" / f"{name}.toml").write_text(case(), encoding="utf-8")
    cases = load_cases(scratch / "tests", city_policies)
    report = run_cases(cases, city_policies)
    assert [r.case.id for r in report.results] == ["a/a case", "b/a case"]
    assert report.to_json()["passed"] == 2


def test_a_role_listed_in_parties_toml_counts_even_when_a_party_has_its_name(
        scratch: Path, city_policies: PolicySet) -> None:
    (scratch / "tests" / "r.toml").write_text(
        case(who='role = "court"', purpose="submission", action="submit"),
        encoding="utf-8")
    (loaded,) = load_cases(scratch / "tests", city_policies)
    assert loaded.is_role and loaded.parties == ("court",)


def test_a_deny_case_on_a_category_fails_when_one_of_its_fields_is_released(
        scratch: Path) -> None:
    # The gateway releases reads field by field: "the website gets no penalties for cadre
    # checks" is false as soon as one penalty field is released to it.
    (scratch / "tests" / "mine.toml").write_text(
        case("no penalties", who='party = "credit_website"', obj="admin_penalty",
             expect="deny")
        + case("no negatives", who='party = "credit_website"', obj="negative",
               expect="deny"), encoding="utf-8")
    assert run_policy_tests(scratch).ok
    with (scratch / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("p, credit_website, admin_penalty.reason, read, cadre_selection, allow,\n")
    report = run_policy_tests(scratch)
    assert report.summary == "PASS: 0/2"
    text = "\n".join(report.lines())
    assert "object:   admin_penalty.reason" in text  # the field that gives it away
    assert "p, credit_website, admin_penalty.reason, read, cadre_selection, allow" in text


# ------------------------------------------------------------------ strict case files


def _case_variants() -> list[list[Variant]]:
    """The broken variants of the shipped case files, one per key shape across them."""
    seen: set[tuple[str, str]] = set()
    found: list[Variant] = []
    for path in sorted((POLICIES / "tests").glob("*.toml")):
        if path.match(MONITORING_GLOB):
            continue
        for variant in variants(path.name, path.read_text(encoding="utf-8"), CaseFile):
            shape = (variant.kind, re.sub(r"\[\d+\]", "[]", dotted(variant.origin)))
            if variant.kind == "misspelt" or shape not in seen:
                seen.add(shape)
                found.append(variant)
    groups = grouped(found)
    # Misspellings of one key in several files: keep the first file's.
    first: dict[str, list[Variant]] = {}
    for group in groups:
        first.setdefault(group_id(group) + group[0].expected.split(":")[0], group)
    return list(first.values())


CASE_GROUPS = _case_variants()


@pytest.mark.parametrize("group", CASE_GROUPS,
                         ids=[f"{g[0].expected.split(':')[0]}:{group_id(g)}" for g in CASE_GROUPS])
def test_every_case_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        group: list[Variant]) -> None:
    for variant in group:
        file = variant.expected.split(":")[0]
        check(variant, lambda doc, text, file=file: decode(doc, CaseFile, file=file,
                                                           text=text), ConfigurationError)


def test_every_declared_case_key_is_broken_somewhere() -> None:
    broken = {str(v.origin[-1]) for group in CASE_GROUPS for v in group
              if v.kind == "wrong type"}
    for table in (CaseTable, QuotaCaseTable):
        assert {f.encode_name for f in msgspec.structs.fields(table)} <= broken | {"role"}, \
            table


@pytest.mark.parametrize(("old", "new", "says"), [
    ('expect = "deny"', 'expct = "deny"', "unknown key quota[1].expct"),
    ("calls = 61", 'calls = "61"',
     "quota[1].calls must be a whole number from 1 to 100,000, not a string"),
    ('why = "', 'reason = "', "unknown key quota[0].reason"),
])
def test_policy_test_refuses_a_broken_case_file_naming_the_line(
        scratch: Path, capsys: pytest.CaptureFixture[str], old: str, new: str,
        says: str) -> None:
    text = (POLICIES / "tests" / "limits.toml").read_text(encoding="utf-8")
    assert old in text
    line = text[:text.index(old)].count("\n") + 1
    path = scratch / "tests" / "limits.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert main(["policy", "test", "--policies", str(scratch)]) == EXIT_BROKEN
    assert f"{path}:{line}: {says}" in capsys.readouterr().err
