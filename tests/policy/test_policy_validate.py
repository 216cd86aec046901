"""`validate_policy` finds each kind of mistake, with the file and line to fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy.validate import Finding, validate_policy
from tests.support import POLICIES


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the city's policies/ to break."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    return dest


def append(policies: Path, *lines: str) -> int:
    """Append rules to policy.csv; returns the line number of the first."""
    path = policies / "policy.csv"
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    first = text.count("\n") + 1
    path.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return first


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def test_the_city_policy_has_no_findings() -> None:
    assert validate_policy(POLICIES) == []


def test_load_errors_become_findings_one_per_broken_line(scratch: Path) -> None:
    first = append(scratch, "p, hr_bureau, honour, read, awards, permit,",
                   "p, hr_bureau, honours, read, awards, allow,",
                   "p, hr_bureau, honour, read, awards, allow, # why")
    findings = validate_policy(scratch)
    assert [(f.severity, f.file, f.line) for f in findings] == [
        ("error", "policy.csv", first), ("error", "policy.csv", first + 1),
        ("error", "policy.csv", first + 2)]
    assert "effect must be allow or deny, not 'permit'" in findings[0].message
    assert "unknown object 'honours'" in findings[1].message
    assert "is not a plain name" in findings[2].message
    assert str(findings[0]).startswith(f"policy.csv:{first}: error: effect must be")


def test_a_read_rule_for_the_submission_purpose_is_an_error(scratch: Path) -> None:
    line = append(scratch, "p, court, dishonest_debtor, read, submission, allow,")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.file, finding.line) == ("error", "policy.csv", line)
    assert "read/read_masked with a query purpose" in finding.message


def test_a_submission_outside_the_remit_is_an_error(scratch: Path) -> None:
    line = append(scratch, "p, tax_bureau, dishonest_debtor, submit, submission, allow,")
    finding = only(validate_policy(scratch))
    assert finding.line == line and "does not list it as a provider" in finding.message


def test_catalogue_errors_name_the_catalogue(scratch: Path) -> None:
    replace(scratch / "catalogue.toml", 'providers = ["court"]', 'providers = ["courts"]')
    finding = only(validate_policy(scratch))
    assert finding.file == "catalogue.toml" and finding.severity == "error"
    assert "unknown provider 'courts'" in finding.message
    text = (scratch / "catalogue.toml").read_text(encoding="utf-8").split("\n")
    assert text[finding.line - 1] == "[categories.dishonest_debtor]"


def test_broken_toml_names_file_and_line(scratch: Path) -> None:
    replace(scratch / "purposes.toml", "consent_required = true\n\n[purposes.self_query]",
            "consent_required = \n\n[purposes.self_query]")
    finding = only(validate_policy(scratch))
    assert finding.file == "purposes.toml" and finding.severity == "error"
    lines = (scratch / "purposes.toml").read_text(encoding="utf-8").split("\n")
    assert lines[finding.line - 1] == "consent_required = "


def test_a_rule_for_a_role_nobody_holds_never_applies(scratch: Path) -> None:
    # Roles declared only by each other: no party holds either of them.
    first = append(scratch, "g, vetting_team, vetting_office", "g, vetting_office, vetting_team",
                   "p, vetting_team, negative, read, cadre_selection, allow,")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("warning", first + 2)
    assert "never applies: no party in parties.toml is or holds 'vetting_team'" in \
        finding.message


def test_a_rule_on_a_group_without_fields_never_applies(scratch: Path) -> None:
    replace(scratch / "catalogue.toml", "[groups]\n",
            '[groups]\narchive = { name = "Archive", name_zh = "档案", parents = ["all"] }\n')
    line = append(scratch, "p, hr_bureau, archive, read, awards, allow,")
    finding = only(validate_policy(scratch))
    assert finding.line == line and finding.severity == "warning"
    assert "no field of catalogue.toml lies under 'archive'" in finding.message


def test_a_condition_that_cannot_hold_for_a_submission(scratch: Path) -> None:
    allow = append(scratch, "p, court, dishonest_debtor, submit, submission, allow, consent",
                   "p, public_security, violation, submit, submission, deny, consent")
    deny = allow + 1
    findings = validate_policy(scratch)
    assert [(f.severity, f.line) for f in findings] == [("warning", allow), ("error", deny)]
    assert "never applies: condition 'consent' cannot hold for a submission" in \
        findings[0].message
    assert "this deny never takes effect" in findings[1].message


def test_an_allow_every_request_of_which_a_deny_refuses(scratch: Path) -> None:
    line = append(scratch, "p, credit_agency, violation, read, authorised_query, allow, consent")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("warning", line)
    lines = (scratch / "policy.csv").read_text(encoding="utf-8").split("\n")
    deny = next(n for n, text in enumerate(lines, start=1)
                if text == "p, credit_agency, violation, read, authorised_query, deny,")
    # The description is free text, which the agency never reads in clear either.
    free_text = next(n for n, text in enumerate(lines, start=1)
                     if text == "p, credit_agency, free_text, read, authorised_query, deny,")
    assert finding.message == ("never takes effect: every request it allows is denied by "
                               f"policy.csv:{free_text}, policy.csv:{deny}")


def test_a_partly_denied_allow_is_not_reported(scratch: Path) -> None:
    # negative is allowed, student_integrity (part of it) denied: that is the design.
    append(scratch, "p, personnel_authority, honour.title, read, cadre_selection, deny,")
    assert validate_policy(scratch) == []


def test_a_consent_purpose_granted_without_consent_is_an_error(scratch: Path) -> None:
    line = append(scratch, "p, credit_agency, honour, read, authorised_query, allow,")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("error", line)
    assert "without the consent condition" in finding.message
    assert "purposes.toml requires the person's consent" in finding.message


def test_consent_on_a_purpose_that_does_not_verify_it_is_an_error(scratch: Path) -> None:
    line = append(scratch, "p, hr_bureau, identity, read, awards, allow, consent")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("error", line)
    assert "never verifies the artefact" in finding.message


def test_a_deny_with_a_condition_is_a_warning(scratch: Path) -> None:
    line = append(scratch, "p, credit_agency, employment.position, read, authorised_query, "
                           "deny, consent")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("warning", line)
    assert "this deny holds only when 'consent' holds" in finding.message


def test_a_masked_deny_does_not_withhold_a_field_read_in_clear(scratch: Path) -> None:
    line = append(scratch, "p, personnel_authority, honour, read_masked, cadre_selection, deny,")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.line) == ("warning", line)
    assert "may read honour.title in clear" in finding.message
    assert "Deny read as well" in finding.message


def test_a_provider_no_rule_lets_submit(scratch: Path) -> None:
    replace(scratch / "policy.csv", "p, civil_affairs, donation, submit, submission, allow,\n",
            "")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.file) == ("warning", "catalogue.toml")
    assert "lists civil_affairs as a provider of donation" in finding.message
    text = (scratch / "catalogue.toml").read_text(encoding="utf-8").split("\n")
    assert text[finding.line - 1] == "[categories.donation]"


def test_a_category_without_a_legal_basis_is_a_warning(scratch: Path) -> None:
    replace(scratch / "catalogue.toml",
            'basis = "中华人民共和国慈善法；市个人诚信体系建设实施方案（2018）：'
            '归集慈善捐赠信息"\n', "")
    finding = only(validate_policy(scratch))
    assert (finding.severity, finding.file) == ("warning", "catalogue.toml")
    assert "category donation names no legal basis" in finding.message
    text = (scratch / "catalogue.toml").read_text(encoding="utf-8").split("\n")
    assert text[finding.line - 1] == "[categories.donation]"


def test_a_missing_directory_is_one_error(tmp_path: Path) -> None:
    finding = only(validate_policy(tmp_path / "nowhere"))
    assert finding.severity == "error" and "missing" in finding.message
