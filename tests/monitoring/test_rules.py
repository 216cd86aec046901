"""monitoring.toml is policy: strict keys, checked values, validate, test and diff cover it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.cli import main
from gateway.crypto.keyring import generate_keyring
from gateway.errors import ConfigurationError
from gateway.monitoring.replay import StreamFile
from gateway.monitoring.rules import (
    MONITORING_FILE,
    MonitoringFile,
    load_monitoring,
    parse_monitoring,
)
from gateway.policy.diff import policy_diff
from gateway.policy.rollout import load_state
from gateway.policy.testing import run_policy_tests
from gateway.policy.validate import validate_policy
from gateway.strict_toml import decode
from tests.strict_files import Variant, check, group_id, grouped, variants
from tests.support import POLICIES

GOOD = {"kind": "repeated_refusals", "severity": "high", "explanation": "why",
        "explanation_zh": "原因", "window_minutes": 10, "count": 3, "reasons": ["consent_"]}


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def test_the_shipped_rules_cover_every_example_of_the_issue(catalogue: Catalogue) -> None:
    rules = load_monitoring(POLICIES, catalogue)
    kinds = {r.kind for r in rules.rules}
    assert kinds == {"volume_baseline", "night_queries", "refusal_share", "repeated_refusals",
                     "after_revocation", "unusual_purpose", "many_agencies"}
    assert {r.id for r in rules.rules} >= {"consent_failures", "blacklisted_calls"}
    for rule in rules.rules:
        assert rule.severity and rule.explanation and rule.explanation_zh


@pytest.mark.parametrize(("change", "words"), [
    ({"windw_minutes": 10}, "unknown key rules.r.windw_minutes"),
    ({"kind": "gut_feeling"}, "kind must be one of"),
    ({"severity": "urgent"}, "severity must be one of"),
    ({"count": 0}, "count must be a whole number"),
    ({"count": True}, "count must be a whole number"),
    ({"reasons": []}, "reasons must be a non-empty list"),
    ({"purposes": ["fishing"]}, "unknown purpose(s) fishing"),
    ({"factor": 3.0}, "do(es) not apply to kind repeated_refusals"),
    ({"party_kinds": ["pirate"]}, "no party is of kind pirate"),
    ({"explanation": ""}, "explanation must be a plain-language text"),
    ({"explanation_zh": "身份证 110105194912310021"}, "long run of digits"),
    ({"decision": "maybe"}, "decision must be"),
    ({"max_tracked": 1}, "max_tracked must be a whole number"),
])
def test_a_broken_rule_is_refused_with_its_key(catalogue: Catalogue, change: dict[str, object],
                                               words: str) -> None:
    raw = {**GOOD, **change}
    if "windw_minutes" in change:
        del raw["window_minutes"]
    with pytest.raises(ConfigurationError) as err:
        parse_monitoring({"rules": {"r": raw}}, catalogue, version="t")
    assert words in err.value.message and err.value.message.startswith(MONITORING_FILE)


def test_a_kind_without_its_numbers_is_refused(catalogue: Catalogue) -> None:
    raw = {k: v for k, v in GOOD.items() if k != "count"}
    with pytest.raises(ConfigurationError, match="needs count"):
        parse_monitoring({"rules": {"r": raw}}, catalogue, version="t")
    night = {**{k: GOOD[k] for k in ("severity", "explanation", "explanation_zh")},
             "kind": "night_queries", "night_start": "22:00", "night_end": "22:00",
             "purposes": ["cadre_selection"]}
    with pytest.raises(ConfigurationError, match="must differ"):
        parse_monitoring({"rules": {"r": night}}, catalogue, version="t")


def test_validate_reports_a_misspelt_monitoring_key_and_the_gateway_refuses_it(
        tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    path = policies / MONITORING_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("min_calls = 50",
                                                             "min_cals = 50"),
                    encoding="utf-8")
    errors = [f for f in validate_policy(policies) if f.severity == "error"]
    assert [f.file for f in errors] == [MONITORING_FILE]
    assert "min_cals" in errors[0].message
    with pytest.raises(ConfigurationError, match="min_cals"):
        load_state(policies, generate_keyring())  # as a rollout loads it: it cannot go live


def test_policy_test_fails_when_a_stream_expects_another_alert(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = copy_policies(tmp_path)
    tests = policies / "tests" / "monitoring_rules.toml"
    tests.write_text(tests.read_text(encoding="utf-8").replace(
        'rule = "night_queries"\nparty = "org_department"',
        'rule = "night_queries"\nparty = "hr_bureau"', 1), encoding="utf-8")
    report = run_policy_tests(policies)
    assert not report.ok
    failed = [r for r in report.streams if not r.passed]
    assert [r.stream.name for r in failed] == ["a cadre check at half past eleven at night"]
    assert main(["policy", "test", "--policies", str(policies)]) == 1
    out = capsys.readouterr().out
    assert "missing:    night_queries party=hr_bureau x1" in out
    assert "unexpected: night_queries party=org_department x1" in out


def test_diff_names_the_monitoring_rules_that_changed(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    path = policies / MONITORING_FILE
    text = path.read_text(encoding="utf-8").replace("factor = 5.0", "factor = 8.0")
    text = text.replace("[rules.many_agencies]", "[rules.many_agencies_gone]")
    path.write_text(text, encoding="utf-8")
    notes = policy_diff(POLICIES, policies).notes
    assert "monitoring rule volume_spike: factor 5.0 -> 8.0" in notes
    assert "removed monitoring rule: many_agencies" in notes
    assert "new monitoring rule: many_agencies_gone (many_agencies, high)" in notes


RULE_GROUPS = grouped(variants(MONITORING_FILE, (POLICIES / MONITORING_FILE).read_text(
    encoding="utf-8"), MonitoringFile))


@pytest.mark.parametrize("group", RULE_GROUPS, ids=[group_id(g) for g in RULE_GROUPS])
def test_every_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        catalogue: Catalogue, group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: parse_monitoring(doc, catalogue, version="t",
                                                          text=text), ConfigurationError)


def test_every_kind_of_break_is_covered() -> None:
    kinds = {v.kind for group in RULE_GROUPS for v in group}
    assert kinds == {"misspelt", "misspelt in the file", "missing", "wrong type",
                     "out of range"}


def test_validate_names_the_line_of_a_mistyped_monitoring_key(tmp_path: Path) -> None:
    policies = copy_policies(tmp_path)
    path = policies / MONITORING_FILE
    text = path.read_text(encoding="utf-8").replace("min_calls = 50", 'min_calls = "50"', 1)
    path.write_text(text, encoding="utf-8")
    line = text.split("\n").index('min_calls = "50"') + 1
    errors = [f for f in validate_policy(policies) if f.severity == "error"]
    assert [(f.file, f.line) for f in errors] == [(MONITORING_FILE, line)]
    assert errors[0].message.startswith("rules.volume_spike.min_calls must be a whole number")
    assert '"50"' not in errors[0].message


STREAM_FILE = POLICIES / "tests" / "monitoring_rules.toml"
STREAM_GROUPS = grouped(variants(STREAM_FILE.name, STREAM_FILE.read_text(encoding="utf-8"),
                                 StreamFile))


@pytest.mark.parametrize("group", STREAM_GROUPS, ids=[group_id(g) for g in STREAM_GROUPS])
def test_every_stream_key_misspelt_missing_or_mistyped_is_refused_at_its_line(
        group: list[Variant]) -> None:
    for variant in group:
        check(variant, lambda doc, text: decode(doc, StreamFile, file=STREAM_FILE.name,
                                                text=text), ConfigurationError)


def test_every_kind_of_stream_break_is_covered() -> None:
    kinds = {v.kind for group in STREAM_GROUPS for v in group}
    assert kinds == {"misspelt", "misspelt in the file", "missing", "wrong type",
                     "out of range"}


def test_policy_test_refuses_a_misspelt_stream_key_naming_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = copy_policies(tmp_path)
    path = policies / "tests" / STREAM_FILE.name
    text = path.read_text(encoding="utf-8")
    line = text[:text.index("\nevery = ")].count("\n") + 2
    path.write_text(text.replace("\nevery = ", "\nevrey = ", 1), encoding="utf-8")
    assert main(["policy", "test", "--policies", str(policies)]) == 2
    assert f"{path}:{line}: unknown key stream[0].entry[0].evrey" in capsys.readouterr().err
