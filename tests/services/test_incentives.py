"""Incentives for the trustworthy (守信激励) end to end: a yes/no check like the green channel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc

from gateway.api import pb
from gateway.records.checks import incentive_categories
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT

# answer_signature: the gateway's signature over this very answer (no personal data).
ANSWER = {"eligible", "incentive", "incentive_name_zh", "rule_text", "rule_text_zh",
          "authority", "authority_name_zh", "audit_seq", "answer_signature"}


def volunteer_record(subject: str = ADULT, source: str = "VOL-1") -> dict[str, Any]:
    """Volunteer service recorded by civil affairs."""
    return {"subject_id": subject, "category": "volunteer_service",
            "severity": "not_applicable", "event_date": "2026-05-01",
            "source_record_id": source,
            "fields": {"organisation": "市志愿者协会", "hours": "120"}}


def market_consent(live: LiveGateway, incentive: str = "credit_loan_discount",
                   subject: str = ADULT, grantee: str = "city_bank") -> str:
    """The person's consent for the bank's check over every category it reads."""
    now = live.gw.clock.now()
    catalogue = live.gw.catalogue
    categories = incentive_categories(catalogue.incentives[incentive], catalogue)
    return live.client("citizen_portal").issue_consent(
        subject_id=subject, grantee=grantee, purpose="incentive_market",
        categories=list(categories), not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=30), max_uses=5)


def test_departments_ask_and_the_answer_names_the_measure_and_rule_only(
        live: LiveGateway) -> None:
    hr = live.client("hr_bureau")
    # No positive record yet: not eligible.
    assert not hr.incentive(ADULT, "employment_support").eligible
    live.client("civil_affairs").submit_records([volunteer_record()])
    reply = hr.incentive(ADULT, "employment_support")
    assert (reply.eligible, reply.incentive, reply.incentive_name_zh, reply.authority,
            reply.authority_name_zh) == (True, "employment_support", "就业创业重点扶持",
                                         "hr_bureau", "人力资源和社会保障局（人社局）")
    assert reply.rule_text_zh == "有守信记录（至少1条）且近3年无失信记录"
    assert {f.name for f, _ in reply.ListFields()} <= ANSWER
    # A recent negative record outweighs the good conduct (any department may ask).
    live.client("market_regulator").submit_records([penalty_record("INC-P", "minor",
                                                                   "2026-10-01")])
    assert not live.client("education_bureau").incentive(ADULT, "training_support").eligible
    # Categories outside the measure do not qualify: volunteer service is no honour.
    live.client("civil_affairs").submit_records([volunteer_record(OTHER_ADULT, "VOL-2")])
    assert live.client("org_department").incentive(OTHER_ADULT, "cultural_services").eligible
    assert not live.client("org_department").incentive(OTHER_ADULT, "awards_priority").eligible
    # An open-ended court listing always counts as recent.
    live.client("court").submit_records([debtor_record("INC-J", subject=OTHER_ADULT,
                                                       event_date="2019-01-05")])
    assert not live.client("org_department").incentive(OTHER_ADULT,
                                                       "cultural_services").eligible
    [first, *_] = audit_entries(live, "check.incentive")
    assert first.reason == "employment_support: not eligible" and first.fields_released == ()


def test_market_bodies_ask_only_with_the_persons_consent(live: LiveGateway) -> None:
    code = grpc.StatusCode
    live.client("civil_affairs").submit_records([volunteer_record()])
    bank = live.client("city_bank")
    refused(lambda: bank.incentive(ADULT, "credit_loan_discount", "incentive_market"),
            code.PERMISSION_DENIED)
    consent = market_consent(live)
    reply = bank.incentive(ADULT, "credit_loan_discount", "incentive_market",
                           consent_id=consent)
    assert reply.eligible and reply.authority == "city_bank"
    # The consent names this person: another person's check is refused.
    refused(lambda: bank.incentive(OTHER_ADULT, "credit_loan_discount", "incentive_market",
                                   consent_id=consent), code.PERMISSION_DENIED)
    # A consent for another grantee does not let the bank in.
    other = market_consent(live, grantee="credit_agency")
    refused(lambda: bank.incentive(ADULT, "credit_loan_discount", "incentive_market",
                                   consent_id=other), code.PERMISSION_DENIED)
    # Market bodies make no department check, with or without consent.
    refused(lambda: bank.incentive(ADULT, "employment_support"), code.PERMISSION_DENIED,
            "policy")
    [allowed] = [e for e in audit_entries(live, "check.incentive") if e.decision == "allow"]
    assert allowed.consent_id == consent and allowed.purpose == "incentive_market"
    # The person sees the bank's check in their access report.
    report = live.client("citizen_portal").subject_access_report(ADULT, self_consent(live))
    assert ("city_bank", "incentive_market") in {(e.party, e.purpose) for e in report.events}


def test_the_check_is_policy_controlled_and_purpose_bound(live: LiveGateway) -> None:
    code = grpc.StatusCode
    refused(lambda: live.client("credit_agency").incentive(ADULT, "employment_support"),
            code.PERMISSION_DENIED, "policy")
    refused(lambda: live.client("credit_website").incentive(ADULT, "employment_support"),
            code.PERMISSION_DENIED, "policy")
    refused(lambda: live.client("youth_league").incentive(ADULT, "employment_support"),
            code.PERMISSION_DENIED, "policy")
    hr = live.client("hr_bureau")
    refused(lambda: hr.incentive(ADULT, "employment_support", "cadre_selection"),
            code.PERMISSION_DENIED, "incentive only")
    refused(lambda: hr.incentive(ADULT, "credit_loan_discount"),
            code.PERMISSION_DENIED, "incentive_market only")
    refused(lambda: hr.incentive(ADULT, "free_lunch"), code.INVALID_ARGUMENT,
            "unknown incentive")
    refused(lambda: hr.incentive(ADULT, "employment_support", "gossip"),
            code.INVALID_ARGUMENT, "unknown purpose")
    denied = {e.reason for e in audit_entries(live, "check.incentive")
              if e.decision == "deny"}
    assert denied >= {"policy_denied", "purpose_not_bound", "unknown_incentive"}


def test_the_answer_message_has_no_record_fields() -> None:
    names = {f.name for f in pb.IncentiveResponse.DESCRIPTOR.fields}
    assert names == ANSWER
