"""`policy_diff` reports the change in effective access, computed from decisions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue.registry import load_catalogue
from gateway.errors import ConfigurationError
from gateway.policy import conditions
from gateway.policy.conditions import ADULT_AGE, ConditionContext
from gateway.policy.decide import PolicyEngine
from gateway.policy.diff import CATEGORY_ACTIONS, AccessChange, policy_diff
from tests.support import POLICIES


@pytest.fixture
def new(tmp_path: Path) -> Path:
    """A copy of the city's policies/ to change."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    return dest


def append(policies: Path, *lines: str) -> None:
    with (policies / "policy.csv").open("a", encoding="utf-8") as fh:
        fh.write("\n" + "\n".join(lines) + "\n")


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def changes(new_dir: Path) -> set[tuple[str, ...]]:
    diff = policy_diff(POLICIES, new_dir)
    return {(c.party, c.purpose, c.object, c.before, c.after, c.when) for c in diff.changes}


def test_the_policy_against_itself_is_empty_and_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    # "Quick" as a count, not a stopwatch (a loaded machine makes any time limit flaky):
    # the diff decides each field and category once per distinct outcome of the
    # conditions the policy uses, not once per combination of request facts.
    decisions = [0]
    decide = PolicyEngine.decide

    def counted(self: PolicyEngine, *args: Any, **kwargs: Any) -> Any:
        decisions[0] += 1
        return decide(self, *args, **kwargs)

    monkeypatch.setattr(PolicyEngine, "decide", counted)
    diff = policy_diff(POLICIES, POLICIES)
    assert diff.empty and diff.notes == () and diff.old_version == diff.new_version
    catalogue = load_catalogue(POLICIES)
    engine = PolicyEngine.load(POLICIES, catalogue)
    checks = [conditions.get_condition(name) or (lambda _ctx: False)
              for name in sorted({rule.cond for rule in engine.rules})]
    facts = [ConditionContext(consent_presented=consent, subject_age=age)
             for consent in (False, True) for age in (ADULT_AGE - 1, ADULT_AGE + 12)]
    situations = len({tuple(bool(check(ctx)) for check in checks) for ctx in facts})
    fields = sum(len(c.fields) for c in catalogue.categories.values())
    categories = len(catalogue.categories)
    queryable = sum(1 for p in catalogue.purposes.values() if p.queryable)
    submitting = len(catalogue.purposes) - queryable
    per_party = (queryable * situations * 2 * (2 * fields + len(CATEGORY_ACTIONS) * categories)
                 + submitting * 2 * categories)  # 2: the old and the new policy
    assert 0 < decisions[0] <= len(catalogue.parties) * per_party


def test_reordering_and_comments_change_nothing(new: Path) -> None:
    lines = (POLICIES / "policy.csv").read_text(encoding="utf-8").split("\n")
    rules = [line for line in lines if line.startswith("p,")]
    (new / "policy.csv").write_text("# reordered\n" + "\n".join(reversed(rules)) + "\n",
                                    encoding="utf-8")
    diff = policy_diff(POLICIES, new)
    assert diff.empty and diff.old_version != diff.new_version


def test_adding_an_allow_shows_exactly_the_gain(new: Path) -> None:
    append(new, "p, hr_bureau, identity.name, read, awards, allow,")
    assert changes(new) == {("hr_bureau", "awards", "identity.name", "withheld", "clear", "")}
    diff = policy_diff(POLICIES, new)
    assert diff.lost == () and len(diff.gained) == 1


def test_a_whole_category_is_reported_once(new: Path) -> None:
    append(new, "p, credit_agency, honour, read, authorised_query, allow, consent")
    # `credit_agency` is also the role every licensed agency holds.
    assert changes(new) == {(agency, "authorised_query", "honour", "withheld", "clear",
                             "with consent") for agency in ("credit_agency", "credit_agency_b")}


def test_adding_a_deny_shows_the_loss_for_every_holder_of_the_role(new: Path) -> None:
    append(new, "p, personnel_authority, honour, read, cadre_selection, deny,")
    assert changes(new) == {(party, "cadre_selection", "honour", "clear", "withheld", "")
                            for party in ("hr_bureau", "org_department")}
    assert not policy_diff(POLICIES, new).gained


def test_removing_a_masked_allow_shows_masked_to_withheld(new: Path) -> None:
    replace(new / "policy.csv",
            "p, credit_agency, address, read_masked, authorised_query, allow, consent\n",
            "")
    # The court listing's address stays masked: the agency's masked allow on negative
    # information (for its free text) covers it too.
    assert changes(new) == {(agency, "authorised_query", "identity.address", "masked",
                             "withheld", "with consent")
                            for agency in ("credit_agency", "credit_agency_b")}


def test_removing_a_deny_shows_masked_to_clear(new: Path) -> None:
    replace(new / "policy.csv",
            "p, personnel_authority, mobile, read, cadre_selection, deny,\n", "")
    assert changes(new) == {(party, "cadre_selection", "identity.mobile", "masked", "clear", "")
                            for party in ("hr_bureau", "org_department")}


def test_losing_a_submission_remit(new: Path) -> None:
    replace(new / "policy.csv", "p, court, dishonest_debtor, submit, submission, allow,\n", "")
    (change,) = policy_diff(POLICIES, new).changes
    assert change == AccessChange("court", "submission", "dishonest_debtor", "allowed",
                                  "refused", "")
    assert not change.gained and change.to_json()["change"] == "lost"


def test_giving_a_party_a_role_in_parties_toml(new: Path) -> None:
    replace(new / "parties.toml", 'roles = ["department"]\n\n[parties.credit_agency]',
            'roles = ["department", "personnel_authority"]\n\n[parties.credit_agency]')
    diff = policy_diff(POLICIES, new)
    assert diff.lost == ()
    assert {(c.party, c.purpose) for c in diff.changes} == {("civil_affairs", "cadre_selection")}
    got = changes(new)
    assert ("civil_affairs", "cadre_selection", "dishonest_debtor.debtor_name", "withheld",
            "clear", "") in got
    assert ("civil_affairs", "cadre_selection", "dishonest_debtor.address", "withheld",
            "masked", "") in got
    assert ("civil_affairs", "cadre_selection", "identity.address", "withheld", "masked",
            "") in got
    assert ("civil_affairs", "cadre_selection", "financial_dishonesty.bank_card", "withheld",
            "masked", "") in got
    assert not any(obj.startswith("student_integrity") for _, _, obj, *_ in got)
    assert diff.notes == ("roles of civil_affairs: department -> department, "
                          "personnel_authority",)


def test_taking_a_role_away(new: Path) -> None:
    replace(new / "parties.toml", 'roles = ["department", "licensing_authority"]\n\n'
                                  '[parties.civil_affairs]',
            'roles = ["department"]\n\n[parties.civil_affairs]')
    diff = policy_diff(POLICIES, new)
    assert diff.gained == ()
    # The county branch holds public security's rules (its counterpart): it loses them too.
    assert {(c.party, c.purpose) for c in diff.changes} == {
        (party, purpose) for party in ("public_security", "renhe_public_security")
        for purpose in ("admin_licensing", "officer_appointment")}


def test_a_new_field_gets_what_its_category_gets(new: Path) -> None:
    replace(new / "catalogue.toml", "fields.mobile = {",
            'fields.alias = { type = "person_name", kind = "person_name", required = false, '
            'sensitive = true, '
            "max = 64 }\nfields.mobile = {")
    diff = policy_diff(POLICIES, new)
    assert diff.notes == ("new field: identity.alias",)
    assert diff.lost == ()
    assert {c.object for c in diff.changes} == {"identity.alias"}
    got = changes(new)
    assert ("org_department", "cadre_selection", "identity.alias", "withheld", "clear", "") in got
    assert ("credit_agency", "authorised_query", "identity.alias", "withheld", "clear",
            "with consent") in got


def test_a_new_party_and_category(new: Path) -> None:
    with (new / "parties.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[parties.audit_bureau]\nname = "Audit Bureau"\nname_zh = "审计局"\n'
                 'kind = "department"\nroles = ["department"]\n')
    catalogue = (new / "catalogue.toml").read_text(encoding="utf-8")
    catalogue += ('\n[categories.audit_finding]\nname = "Audit finding"\nname_zh = "审计"\n'
                  'providers = ["audit_bureau"]\npolarity = "negative"\n'
                  'severities = ["serious"]\ngroups = ["negative"]\n'
                  'display = { serious = 36 }\n'
                  'fields.finding = { type = "free_text", kind = "free_text", required = true, '
                  'max = 2000 }\n'
                  'fields.amount = { type = "money", kind = "none", required = false, '
                  'max = 32 }\n')
    (new / "catalogue.toml").write_text(catalogue, encoding="utf-8")
    append(new, "p, audit_bureau, audit_finding, submit, submission, allow,")
    diff = policy_diff(POLICIES, new)
    assert set(diff.notes) == {"new party: audit_bureau", "new category: audit_finding"}
    got = changes(new)
    assert ("audit_bureau", "submission", "audit_finding", "refused", "allowed", "") in got
    # As a department it joins joint punishment; the new category is negative information.
    # (Per field: the listing's obligation is free text, released scanned.)
    assert ("audit_bureau", "joint_punishment", "dishonest_debtor.debtor_name", "withheld",
            "clear", "") in got
    assert ("audit_bureau", "joint_punishment", "dishonest_debtor.obligation", "withheld",
            "masked", "") in got
    assert ("org_department", "cadre_selection", "audit_finding.amount", "withheld", "clear",
            "") in got
    assert ("org_department", "cadre_selection", "audit_finding.finding", "withheld", "masked",
            "") in got
    assert ("credit_agency", "authorised_query", "audit_finding.amount", "withheld", "clear",
            "with consent") in got
    assert ("credit_agency", "authorised_query", "audit_finding.finding", "withheld",
            "masked", "with consent") in got
    assert diff.lost == ()


def test_a_broken_policy_is_named(new: Path) -> None:
    append(new, "p, hr_bureau, honour, read, awards, permit,")
    with pytest.raises(ConfigurationError, match=r"^new policy \(.*\): policy.csv:\d+: effect"):
        policy_diff(POLICIES, new)


def test_a_new_check_rule_is_an_access_change(new: Path) -> None:
    append(new, "p, tax_bureau, violation, check, joint_punishment, allow,")
    diff = policy_diff(POLICIES, new)
    assert [(c.party, c.purpose, c.object, c.before, c.after, c.action)
            for c in diff.changes] == [("tax_bureau", "joint_punishment", "violation",
                                        "refused", "allowed", "check")]
    assert diff.to_json()["gained"][0]["action"] == "check"


def test_catalogue_changes_that_change_access_without_a_rule_are_noted(new: Path) -> None:
    # What the feed publishes and whose masking applies are access too.
    text = (new / "catalogue.toml").read_text(encoding="utf-8")
    replace(new / "catalogue.toml", 'public_severities = ["general", "serious"]',
            'public_severities = ["general", "serious", "minor"]')
    assert 'public_severities = ["general", "serious"]' in text
    # (An agency's kind cannot change while it provides market information: a bank's can.)
    replace(new / "parties.toml", 'kind = "market"\nroles = ["market_body", "lender"]',
            'kind = "financial"\nroles = ["market_body", "lender"]')
    notes = policy_diff(POLICIES, new).notes
    assert "public feed of admin_penalty: minor now published" in notes
    assert any(n.startswith("kind of city_bank") for n in notes)


def test_a_county_line_changes_that_county_only(new: Path) -> None:
    # A county code is a role of every party of the county: its line reaches them alone,
    # including the county department that holds a city counterpart's rules.
    append(new, "p, miyi, honour, read, awards, allow,")
    diff = policy_diff(POLICIES, new)
    assert {c.party for c in diff.changes} == {"miyi_government", "miyi_market_regulator"}
    assert {(c.purpose, c.before, c.after) for c in diff.changes} == {
        ("awards", "withheld", "clear")}


def test_a_city_rule_reaches_the_county_party_that_holds_it(new: Path) -> None:
    # Narrowing the market regulator narrows its county counterpart too: no copy to forget.
    append(new, "p, market_regulator, admin_licence, read, admin_licensing, deny,")
    assert {c.party for c in policy_diff(POLICIES, new).changes} == {
        "market_regulator", "miyi_market_regulator"}
