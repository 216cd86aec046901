"""The city's real policies/ load, and give the decisions the security officer expects."""

from __future__ import annotations

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import PolicyEngine

NO_CONSENT = ConditionContext()
CONSENT = ConditionContext(consent_presented=True, subject_age=35)


def allowed(engine: PolicyEngine, party: str, obj: str, action: str, purpose: str,
            ctx: ConditionContext = NO_CONSENT) -> bool:
    decision = engine.decide(party, obj, action, purpose, ctx)
    assert engine.decide_with_casbin(party, obj, action, purpose, ctx).allowed == decision.allowed
    return decision.allowed


def test_city_policy_loads_with_a_version(city: PolicyEngine) -> None:
    assert len(city.rules) > 50
    assert len(city.version) == 64


def test_cadre_selection_releases_debts_in_clear_address_masked_student_file_withheld(
        city: PolicyEngine, catalogue: Catalogue) -> None:
    debts = city.decide_fields("org_department", catalogue.category("dishonest_debtor"),
                               "cadre_selection", NO_CONSENT)
    assert debts.release("case_number") == "clear"
    # The obligation is free text: released through the scan operator (masked).
    assert debts.withheld == () and debts.masked == ("obligation", "address")
    identity = city.decide_fields("org_department", catalogue.category("identity"),
                                  "cadre_selection", NO_CONSENT)
    assert identity.release("name") == "clear"
    assert identity.release("address") == "masked"
    assert identity.release("mobile") == "masked"
    student = city.decide_fields("org_department", catalogue.category("student_integrity"),
                                 "cadre_selection", NO_CONSENT)
    assert student.clear == () and student.masked == ()
    assert all(r.eft == "deny" for r in student.rules)


def test_departments_get_bank_card_numbers_masked_only(city: PolicyEngine,
                                                       catalogue: Catalogue) -> None:
    cat = catalogue.category("financial_dishonesty")
    for party, purpose in [("org_department", "cadre_selection"), ("hr_bureau", "awards"),
                           ("market_regulator", "officer_appointment"),
                           ("court", "joint_punishment")]:
        fields = city.decide_fields(party, cat, purpose, NO_CONSENT)
        assert fields.release("bank_card") == "masked", (party, purpose)
        assert fields.release("institution") == "clear", (party, purpose)


def test_credit_agency_needs_consent(city: PolicyEngine) -> None:
    request = ("credit_agency", "dishonest_debtor.case_number", "read", "authorised_query")
    refused = city.decide(*request, NO_CONSENT)
    assert not refused.allowed and "consent" in refused.reason
    assert allowed(city, *request, ctx=CONSENT)
    assert allowed(city, "credit_agency", "identity.name", "read", "authorised_query", CONSENT)


def test_credit_agency_never_gets_bank_card_violations_or_student_files(
        city: PolicyEngine, catalogue: Catalogue) -> None:
    decision = city.decide("credit_agency", "financial_dishonesty.bank_card", "read",
                           "authorised_query", CONSENT)
    assert not decision.allowed and decision.rule is not None and decision.rule.eft == "deny"
    for code in ("violation", "student_integrity"):
        fields = city.decide_fields("credit_agency", catalogue.category(code),
                                    "authorised_query", CONSENT)
        assert fields.clear == () and fields.masked == (), code
    identity = city.decide_fields("credit_agency", catalogue.category("identity"),
                                  "authorised_query", CONSENT)
    assert identity.masked == ("address", "mobile")


def test_credit_agency_gets_nothing_outside_negative_and_basic(city: PolicyEngine) -> None:
    for obj in ("honour.title", "admin_licence.licence_name", "donation.amount"):
        assert not allowed(city, "credit_agency", obj, "read", "authorised_query", CONSENT)


def test_citizen_sees_everything_of_their_own_with_consent(city: PolicyEngine,
                                                           catalogue: Catalogue) -> None:
    for cat in catalogue.categories.values():
        fields = city.decide_fields("citizen_portal", cat, "self_query", CONSENT)
        assert fields.withheld == () and fields.masked == (), cat.code
        assert city.decide_fields("citizen_portal", cat, "self_query", NO_CONSENT).clear == ()


def test_public_website_gets_nothing_by_query(city: PolicyEngine, catalogue: Catalogue) -> None:
    ctx = ConditionContext(consent_presented=True, subject_age=40)
    for purpose in catalogue.purposes:
        for cat in catalogue.categories.values():
            fields = city.decide_fields("credit_website", cat, purpose, ctx)
            assert fields.clear == () and fields.masked == (), (purpose, cat.code)


@pytest.mark.parametrize(("party", "purpose", "readable", "unreadable"), [
    ("hr_bureau", "title_evaluation", ["education.degree", "honour.title",
                                       "professional_licence.qualification"],
     ["identity.name", "employment.employer", "tax_credit_rating.rating"]),
    ("market_regulator", "admin_licensing", ["admin_licence.licence_name", "violation.authority"],
     ["identity.name", "honour.title"]),
    ("public_security", "officer_appointment", ["legal_rep_dishonesty.company_name"],
     ["violation.authority", "admin_penalty.reason"]),
    ("public_security", "special_industry_entry", ["violation.authority",
                                                   "dishonest_debtor.case_number"],
     ["financial_dishonesty.institution"]),
    ("market_regulator", "special_industry_entry", [], ["violation.authority"]),
    ("tax_bureau", "joint_punishment", ["dishonest_debtor.case_number",
                                        "financial_dishonesty.institution"],
     ["violation.authority", "admin_penalty.reason"]),
    ("credit_agency", "joint_punishment", [], ["dishonest_debtor.case_number"]),
])
def test_department_purposes_release_only_their_categories(
        city: PolicyEngine, party: str, purpose: str, readable: list[str],
        unreadable: list[str]) -> None:
    for obj in readable:
        assert allowed(city, party, obj, "read", purpose), obj
    for obj in unreadable:
        assert not allowed(city, party, obj, "read", purpose), obj
        assert not allowed(city, party, obj, "read_masked", purpose), obj


def test_submission_stays_within_each_providers_remit(city: PolicyEngine,
                                                      catalogue: Catalogue) -> None:
    for party in catalogue.parties:
        for cat in catalogue.categories.values():
            may = allowed(city, party, cat.code, "submit", "submission")
            assert may == (party in cat.providers), (party, cat.code)
