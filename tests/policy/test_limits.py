"""limits.toml as a policy file: strict loading, `policy validate`, `policy test` with
[[quota]] cases, and `policy diff`, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway.cli
from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.policy.limits import KINDS, LimitsFile, load_limits
from gateway.policy.validate import validate_policy
from gateway.strict_toml import decode
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import POLICIES

Capture = pytest.CaptureFixture[str]


def write_limits(policies: Path, text: str) -> None:
    (policies / "limits.toml").write_text(text, encoding="utf-8")


def validate(policies: Path, capsys: Capture) -> tuple[int, dict[str, object]]:
    code = gateway.cli.main(["policy", "validate", "--policies", str(policies), "--json"])
    return code, json.loads(capsys.readouterr().out)


GOOD = """
[limits.agency]
role = "credit_agency"
purpose = "authorised_query"
calls_per_minute = 10
"""


@pytest.mark.parametrize(("table", "says"), [
    ('role = "credit_agency"\npurpose = "authorised_query"\ncalls_per_minut = 3',
     "unknown key limits.agency.calls_per_minut"),
    ('role = "credit_agncy"\npurpose = "authorised_query"\ncalls_per_day = 3',
     "unknown role 'credit_agncy'"),
    ('party = "nobody"\npurpose = "authorised_query"\ncalls_per_day = 3', "unknown party"),
    ('role = "credit_agency"\npurpose = "authorized_query"\ncalls_per_day = 3',
     "purpose must be"),
    ('role = "credit_agency"\nparty = "credit_agency"\npurpose = "*"\ncalls_per_day = 3',
     "exactly one of"),
    ('role = "credit_agency"\npurpose = "*"', "names no limit"),
    ('role = "credit_agency"\npurpose = "*"\ncalls_per_day = 0', "from 1 to"),
    ('role = "credit_agency"\npurpose = "*"\ncalls_per_day = true', "whole number"),
    ('role = "credit_agency"\npurpose = "*"\ncalls_per_day = 2.5', "whole number"),
    ('role = "credit_agency"\npurpose = "*"\nburst = 5', "burst needs calls_per_minute"),
])
def test_a_broken_limit_is_refused_naming_it(tmp_path: Path, catalogue: Catalogue,
                                             table: str, says: str) -> None:
    write_limits(tmp_path, "# quotas\n\n[limits.agency]\n" + table + "\n")
    with pytest.raises(ConfigurationError) as refused:
        load_limits(tmp_path, catalogue)
    assert says in refused.value.message
    assert refused.value.message.startswith("limits.toml")


def test_validate_points_at_the_broken_line(scratch: Path, capsys: Capture) -> None:
    write_limits(scratch, GOOD + "calls_per_dya = 3\n")
    code, report = validate(scratch, capsys)
    assert code == 1
    errors = [f for f in report["findings"] if f["severity"] == "error"]  # type: ignore
    assert [(e["file"], e["line"]) for e in errors] == [("limits.toml", 6)]
    write_limits(scratch, GOOD.replace('"credit_agency"', '"credit_agncy"'))
    code, report = validate(scratch, capsys)
    errors = [f for f in report["findings"] if f["severity"] == "error"]  # type: ignore
    assert code == 1 and [(e["file"], e["line"]) for e in errors] == [("limits.toml", 2)]


def test_a_limit_that_never_binds_is_a_warning(scratch: Path, capsys: Capture) -> None:
    write_limits(scratch, GOOD + "calls_per_day = 5\nburst = 10\n")
    code, report = validate(scratch, capsys)
    assert code == 0
    messages = [f["message"] for f in report["findings"]  # type: ignore[attr-defined]
                if f["file"] == "limits.toml"]
    assert any("calls_per_minute = 10 never binds" in m for m in messages)
    assert any("burst = 10 never binds" in m for m in messages)


def test_without_limits_toml_nothing_is_limited(scratch: Path,
                                                catalogue: Catalogue) -> None:
    (scratch / "limits.toml").unlink()
    assert load_limits(scratch, catalogue).rules == ()
    assert not [f for f in validate_policy(scratch) if f.file == "limits.toml"]


@settings(max_examples=60)
@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20))
def test_every_unknown_key_is_refused(catalogue: Catalogue, tmp_path_factory: pytest.
                                      TempPathFactory, key: str) -> None:
    known = {"party", "role", "purpose", "why", *KINDS}
    folder = tmp_path_factory.mktemp("limits")
    write_limits(folder, GOOD + f"{key} = 1\n")
    if key in known:
        return
    with pytest.raises(ConfigurationError, match=f"unknown key limits.agency.{key}"):
        load_limits(folder, catalogue)


def test_quota_cases_pass_and_fail_through_policy_test(scratch: Path, capsys: Capture
                                                       ) -> None:
    assert gateway.cli.main(["policy", "test", "--policies", str(scratch),
                             "--run", "limits/"]) == 0
    assert "PASS: 8/8" in capsys.readouterr().out
    # Halve the burst: the case that sends the whole burst at once must now fail.
    text = (scratch / "limits.toml").read_text(encoding="utf-8")
    write_limits(scratch, text.replace("burst = 60", "burst = 30"))
    code = gateway.cli.main(["policy", "test", "--policies", str(scratch), "--run",
                             "whole burst", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["ok"]
    check = report["results"][0]["checks"][0]
    assert check["actual"] == "deny" and check["limit"] == "burst"


def test_a_broken_quota_case_is_named(scratch: Path, capsys: Capture) -> None:
    with (scratch / "tests" / "limits.toml").open("a", encoding="utf-8") as out:
        out.write('\n[[quota]]\nname = "x"\nrole = "credit_agency"\npurpose = "authorised_query"'
                  '\ncalls = 0\nexpect = "deny"\nwhy = "."\n')
    assert gateway.cli.main(["policy", "test", "--policies", str(scratch)]) == 2
    assert "calls must be a whole number" in capsys.readouterr().err


def test_diff_names_every_limit_change(scratch: Path, capsys: Capture) -> None:
    text = (scratch / "limits.toml").read_text(encoding="utf-8")
    write_limits(scratch, text.replace("calls_per_minute = 120", "calls_per_minute = 60")
                 .replace("[limits.market_bodies]", "[limits.market_members]"))
    assert gateway.cli.main(["policy", "diff", str(POLICIES), str(scratch)]) == 0
    out = capsys.readouterr().out
    assert "limits: [agency_authorised_queries] calls_per_minute 120 -> 60" in out
    assert "limits: [market_bodies] removed" in out
    assert "limits: [market_members] new (each market_body for every purpose" in out


LIMIT_GROUPS = grouped(variants("limits.toml", (POLICIES / "limits.toml").read_text(
    encoding="utf-8"), LimitsFile))


@pytest.mark.parametrize("group", LIMIT_GROUPS, ids=[group_id(g) for g in LIMIT_GROUPS])
def test_every_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: decode(doc, LimitsFile, file="limits.toml", text=text),
              ConfigurationError)


def test_every_kind_of_break_is_covered() -> None:
    kinds = {v.kind for group in LIMIT_GROUPS for v in group}
    assert kinds == {"misspelt", "misspelt in the file", "missing", "wrong type",
                     "out of range"}


@pytest.mark.parametrize(("table", "line", "says"), [
    ('role = "credit_agency"\ncalls_per_day = 3', 3, "missing key limits.agency.purpose"),
    ('role = "credit_agency"\npurpose = "*"\ncalls_per_day = -3', 6,
     "limits.agency.calls_per_day must be a whole number from 1 to 100,000,000"),
    ('role = ["credit_agency"]\npurpose = "*"\ncalls_per_day = 3', 4,
     "limits.agency.role must be a string, not an array"),
    ('role = "credit_agency"\npurpose = "*"\ncalls_per_day = 3\nwhy = 1', 7,
     "limits.agency.why must be a string, not an integer"),
])
def test_validate_names_the_line_of_a_missing_or_mistyped_key(
        scratch: Path, capsys: Capture, table: str, line: int, says: str) -> None:
    write_limits(scratch, "# quotas\n\n[limits.agency]\n" + table + "\n")
    code, report = validate(scratch, capsys)
    errors = [f for f in report["findings"] if f["severity"] == "error"]  # type: ignore
    assert code == 1 and [(e["file"], e["line"]) for e in errors] == [("limits.toml", line)]
    assert says in errors[0]["message"]
