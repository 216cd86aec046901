"""Decisions of the policy engine on small scratch policies: default deny, deny overrides,
role inheritance, the category hierarchy, conditions, explain and field decisions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.policy.conditions import ConditionContext
from gateway.policy.decide import Decision, PolicyEngine
from tests.threads import run_together, times

Load = Callable[[str], PolicyEngine]
NO_CONSENT = ConditionContext()
CONSENT = ConditionContext(consent_presented=True)

BASE = """\
# a scratch policy
p, personnel_authority, negative, read, cadre_selection, allow,
p, org_department, dishonest_debtor.address, read, cadre_selection, deny,
p, credit_agency, negative, read, authorised_query, allow, consent
p, credit_agency, violation, read, authorised_query, deny,
"""


def both(engine: PolicyEngine, *request: str, ctx: ConditionContext = NO_CONSENT) -> Decision:
    """The fast path's decision, after checking that Casbin agrees."""
    decision = engine.decide(*request, ctx)
    assert engine.decide_with_casbin(*request, ctx).allowed == decision.allowed
    return decision


@pytest.mark.parametrize("request_", [
    ("tax_bureau", "dishonest_debtor.case_number", "read", "cadre_selection"),  # no rule
    ("nobody", "dishonest_debtor.case_number", "read", "cadre_selection"),  # unknown party
    ("org_department", "dishonest_debtor.case_number", "read", "no_such_purpose"),
    ("org_department", "dishonest_debtor.case_number", "read", "awards"),  # other purpose
    ("org_department", "dishonest_debtor.case_number", "read_masked", "cadre_selection"),
    ("org_department", "dishonest_debtor.no_such_field", "read", "cadre_selection"),
    ("org_department", "identity.name", "read", "cadre_selection"),  # outside the group
    ("org_department", "dishonest_debtor.case_number", "write", "cadre_selection"),
])
def test_default_deny_when_no_rule_matches(load_policy: Load,
                                           request_: tuple[str, str, str, str]) -> None:
    decision = both(load_policy(BASE), *request_)
    assert decision == Decision(False, None, "no rule allows")


def test_role_rule_applies_to_every_party_with_the_role(load_policy: Load) -> None:
    engine = load_policy(BASE)
    for party in ("org_department", "hr_bureau"):  # both personnel authorities
        decision = both(engine, party, "violation.description", "read", "cadre_selection")
        assert decision.allowed
        assert decision.rule is not None and decision.rule.line == 2


def test_group_rule_covers_categories_and_fields_below_it(load_policy: Load) -> None:
    engine = load_policy(BASE)
    for obj in ("negative", "dishonest_debtor", "dishonest_debtor.case_number",
                "admin_penalty.reason", "student_integrity.conduct"):
        assert both(engine, "org_department", obj, "read", "cadre_selection").allowed
    assert not both(engine, "org_department", "all", "read", "cadre_selection").allowed


def test_deny_overrides_allow_whatever_the_line_order(load_policy: Load) -> None:
    deny_first = "p, org_department, dishonest_debtor, read, cadre_selection, deny,\n" + BASE
    for engine in (load_policy(BASE), load_policy(deny_first)):
        decision = both(engine, "org_department", "dishonest_debtor.address", "read",
                        "cadre_selection")
        assert not decision.allowed
        assert decision.rule is not None and decision.rule.eft == "deny"
        assert decision.reason.startswith("denied by policy.csv:")
    # the deny names org_department only: the other personnel authority is unaffected
    engine = load_policy(BASE)
    assert both(engine, "hr_bureau", "dishonest_debtor.address", "read",
                "cadre_selection").allowed


def test_role_to_role_lines_extend_inheritance(load_policy: Load) -> None:
    policy = BASE + ("g, personnel_authority, integrity_reviewer\n"
                     "g, integrity_reviewer, senior_reviewer\n"
                     "p, senior_reviewer, positive, read, awards, allow,\n")
    engine = load_policy(policy)
    decision = both(engine, "org_department", "honour.title", "read", "awards")
    assert decision.allowed
    explanation = engine.explain("org_department", "honour.title", "read", "awards", NO_CONSENT)
    assert explanation.role_chain == ("org_department", "personnel_authority",
                                      "integrity_reviewer", "senior_reviewer")
    assert explanation.object_chain == ("honour.title", "honour", "positive")
    assert not both(engine, "court", "honour.title", "read", "awards").allowed


def test_consent_condition_both_ways(load_policy: Load) -> None:
    engine = load_policy(BASE)
    request = ("credit_agency", "dishonest_debtor.case_number", "read", "authorised_query")
    refused = both(engine, *request, ctx=NO_CONSENT)
    assert not refused.allowed and refused.rule is None
    assert refused.reason == "no rule allows (condition not met: consent)"
    allowed = both(engine, *request, ctx=CONSENT)
    assert allowed.allowed and allowed.rule is not None and allowed.rule.cond == "consent"


def test_deny_without_condition_beats_consent(load_policy: Load) -> None:
    engine = load_policy(BASE)
    decision = both(engine, "credit_agency", "violation.description", "read",
                    "authorised_query", ctx=CONSENT)
    assert not decision.allowed and decision.rule is not None and decision.rule.line == 5


def test_conditional_deny_applies_only_when_its_condition_holds(load_policy: Load) -> None:
    engine = load_policy(BASE + "p, org_department, honour, read, awards, allow,\n"
                                "p, org_department, honour, read, awards, deny, subject_adult\n")
    request = ("org_department", "honour.title", "read", "awards")
    assert both(engine, *request, ctx=ConditionContext(subject_age=17)).allowed
    assert not both(engine, *request, ctx=ConditionContext(subject_age=30)).allowed


def test_unknown_condition_fails_closed_at_load(write_policy: Callable[..., Path],
                                                catalogue: Catalogue) -> None:
    path = write_policy("p, citizen_portal, all, read, self_query, allow, full_moon\n")
    with pytest.raises(ConfigurationError, match=r"policy\.csv:1: unknown condition 'full_moon'"):
        PolicyEngine.load(path, catalogue)


def test_rule_renders_as_its_policy_line(load_policy: Load) -> None:
    engine = load_policy(BASE)
    assert [str(r) for r in engine.rules[2:4]] == [
        "policy.csv:4 p, credit_agency, negative, read, authorised_query, allow, consent",
        "policy.csv:5 p, credit_agency, violation, read, authorised_query, deny,",
    ]


def test_first_matching_allow_decides(load_policy: Load) -> None:
    engine = load_policy(BASE + "p, org_department, dishonest_debtor, read, cadre_selection, "
                                "allow,\n")
    decision = engine.decide("org_department", "dishonest_debtor.amount", "read",
                             "cadre_selection", NO_CONSENT)
    assert decision.rule is not None and decision.rule.line == 2


def test_explain_shows_chains_considered_rules_and_agreement(load_policy: Load) -> None:
    engine = load_policy(BASE)
    explanation = engine.explain("org_department", "dishonest_debtor.address", "read",
                                 "cadre_selection", NO_CONSENT)
    assert not explanation.decision.allowed and explanation.agrees
    assert explanation.role_chain == ("org_department",)
    assert explanation.object_chain == ("dishonest_debtor.address",)
    assert [r.line for r, _ in explanation.considered] == [2, 3]
    text = "\n".join(explanation.lines())
    assert "DENY" in text and "policy.csv:3" in text
    nothing = engine.explain("court", "identity.name", "read", "awards", NO_CONSENT)
    assert nothing.role_chain == ("court",) and nothing.object_chain == ("identity.name",)
    assert nothing.considered == ()


def test_decide_fields_releases_clear_masked_or_withheld(load_policy: Load,
                                                         catalogue: Catalogue) -> None:
    engine = load_policy(BASE + "p, org_department, dishonest_debtor.address, read_masked, "
                                "cadre_selection, allow,\n"
                                "p, org_department, dishonest_debtor.amount, read, "
                                "cadre_selection, deny,\n")
    fields = engine.decide_fields("org_department", catalogue.category("dishonest_debtor"),
                                  "cadre_selection", NO_CONSENT)
    assert fields.release("address") == "masked"
    assert fields.withheld == ("amount",)
    assert set(fields.clear) == {"debtor_name", "case_number", "court_name", "obligation",
                                 "performance", "org_name", "org_uscc", "party_role"}
    assert [r.line for r in fields.rules] == [2, 3, 6, 7]
    with pytest.raises(KeyError):
        fields.release("no_such_field")
    none = engine.decide_fields("court", catalogue.category("identity"), "awards", NO_CONSENT)
    assert none.withheld == tuple(catalogue.category("identity").fields)
    assert none.rules == ()


def test_cached_decisions_equal_fresh_ones(load_policy: Load) -> None:
    engine = load_policy(BASE)
    fresh = load_policy(BASE)
    request = ("credit_agency", "financial_dishonesty.amount", "read", "authorised_query")
    for ctx in (NO_CONSENT, CONSENT, NO_CONSENT, CONSENT):
        assert engine.decide(*request, ctx) == fresh.decide(*request, ctx)


def test_version_names_policy_and_model(load_policy: Load) -> None:
    one, same = load_policy(BASE), load_policy(BASE)
    other = load_policy(BASE + "# only a comment\n")
    assert one.version == same.version
    assert len(one.version) == 64 and int(one.version, 16) >= 0
    assert other.version != one.version


def test_concurrent_readers_get_the_same_decisions(load_policy: Load,
                                                   catalogue: Catalogue) -> None:
    engine = load_policy(BASE)
    requests = [(party, cat.object_name(f), act, pur, ctx)
                for party in ("org_department", "hr_bureau", "credit_agency", "court")
                for cat in catalogue.categories.values() for f in cat.fields
                for act in ("read", "read_masked")
                for pur in ("cadre_selection", "authorised_query")
                for ctx in (NO_CONSENT, CONSENT)]
    reference = load_policy(BASE)
    expected = [reference.decide(*r) for r in requests]

    def reader() -> list[int]:
        return [i for i, r in enumerate(requests) if engine.decide(*r) != expected[i]]

    assert run_together(reader, times(8)) == [[]] * 8


def test_a_foreign_category_object_never_poisons_the_batched_cache(city: PolicyEngine,
                                                                  catalogue: Catalogue
                                                                  ) -> None:
    ctx = ConditionContext(consent_presented=True, subject_age=40)
    real = catalogue.categories["identity"]
    reduced = dataclasses.replace(real, fields={"name": real.fields["name"]})
    city.decide_categories("credit_agency", [reduced], "authorised_query", ctx)
    batched = city.decide_categories("credit_agency", [real], "authorised_query", ctx)
    single = city.decide_fields("credit_agency", real, "authorised_query", ctx)
    assert dict(batched["identity"].levels) == dict(single.levels)
    assert set(single.levels) == set(real.fields)
