"""Minimal-disclosure checks end to end: the green channel and joint punishment measures."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.api import pb
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused, self_consent
from tests.services.records_data import debtor_record, financial_record, penalty_record
from tests.support import ADULT, OTHER_ADULT, POLICIES


def honour_record(subject: str = ADULT) -> dict[str, Any]:
    """A commendation from the HR bureau."""
    return {"subject_id": subject, "category": "honour", "severity": "not_applicable",
            "event_date": "2026-06-01", "source_record_id": f"HON-{subject[-6:]}",
            "fields": {"title": "优秀志愿者", "awarding_body": "市人社局"}}


def eligible(live: LiveGateway, subject: str = ADULT) -> bool:
    return live.client("market_regulator").green_channel(subject).eligible


def test_green_channel_answers_yes_or_no_with_the_rule(live: LiveGateway) -> None:
    reply = live.client("market_regulator").green_channel(ADULT)
    assert reply.eligible and reply.rule == "green_channel"
    assert reply.rule_text_zh == "近3年无失信记录，或有守信记录且无严重失信记录"
    assert "3 years" in reply.rule_text and reply.audit_seq > 0
    # Nothing else is answered: no record, no category, no date.
    # (answer_signature is the gateway's signature over this very answer: no personal data)
    assert {f.name for f, _ in reply.ListFields()} <= {
        "answer_signature", "eligible", "rule", "rule_text", "rule_text_zh", "audit_seq",
        "completeness"}
    assert reply.completeness == pb.COMPLETE  # no peer to ask: every record was consulted


def test_green_channel_rule(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([penalty_record("GC-1", "general",
                                                                   "2026-10-01")])
    assert not eligible(live)  # a negative record from the last 3 years
    live.client("hr_bureau").submit_records([honour_record()])
    assert eligible(live)  # a good record and no serious negative one
    live.client("market_regulator").submit_records([penalty_record("GC-2", "serious",
                                                                   "2026-10-02")])
    assert not eligible(live)  # a serious one outweighs the honour
    # An open-ended court listing counts as recent whatever its date.
    live.client("court").submit_records([debtor_record("GC-J", subject=OTHER_ADULT,
                                                       event_date="2019-01-05")])
    assert not eligible(live, OTHER_ADULT)


def test_old_financial_conduct_counts_from_its_end(live: LiveGateway) -> None:
    # Conduct ended more than 3 years ago: shown until 2028 (5 years), but 3+ years clean.
    old = financial_record(OTHER_ADULT)
    old.update(event_date="2023-06-01")
    old["fields"]["conduct_end_date"] = "2023-06-30"
    live.client("pboc_branch").submit_records([old])
    assert eligible(live, OTHER_ADULT)
    assert live.client("tax_bureau").joint_punishment(OTHER_ADULT, "financing").restricted


def test_joint_punishment_answers_measure_and_authority_only(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("JP-1")])
    checker = live.client("tax_bureau")
    reply = checker.joint_punishment(ADULT, "high_consumption")
    assert (reply.restricted, reply.measure, reply.measure_name_zh, reply.authority,
            reply.authority_name_zh) == (True, "high_consumption", "限制高消费", "court",
                                         "中级人民法院")
    assert {f.name for f, _ in reply.ListFields()} <= {
        "answer_signature", "restricted", "measure", "measure_name_zh", "authority",
        "authority_name_zh", "audit_seq", "completeness"}
    assert checker.joint_punishment(ADULT, "company_officer").authority == "market_regulator"
    assert not checker.joint_punishment(OTHER_ADULT, "high_consumption").restricted
    # Measures only act on the categories (and severities) the catalogue maps them to.
    live.client("market_regulator").submit_records([penalty_record("JP-P", "serious",
                                                                   "2026-10-01",
                                                                   subject=OTHER_ADULT)])
    assert not checker.joint_punishment(OTHER_ADULT, "civil_servant_recruitment").restricted


def test_checks_are_policy_controlled_and_purpose_bound(live: LiveGateway) -> None:
    code = grpc.StatusCode
    agency = live.client("credit_agency")
    refused(lambda: agency.joint_punishment(ADULT, "high_consumption"), code.PERMISSION_DENIED,
            "policy")
    refused(lambda: live.client("org_department").green_channel(ADULT),
            code.PERMISSION_DENIED, "policy")
    refused(lambda: live.client("credit_website").green_channel(ADULT), code.PERMISSION_DENIED)
    refused(lambda: live.client("market_regulator").green_channel(ADULT, "cadre_selection"),
            code.PERMISSION_DENIED, "admin_licensing only")
    refused(lambda: live.client("tax_bureau").joint_punishment(ADULT, "high_consumption",
                                                               "cadre_selection"),
            code.PERMISSION_DENIED, "joint_punishment only")
    refused(lambda: live.client("tax_bureau").joint_punishment(ADULT, "no_dessert"),
            code.INVALID_ARGUMENT, "unknown measure")
    refused(lambda: live.client("market_regulator").green_channel(ADULT, "gossip"),
            code.INVALID_ARGUMENT, "unknown purpose")
    refused(lambda: live.client("market_regulator").green_channel(ADULT[:17] + "0"
                                                                  if ADULT[17] != "0"
                                                                  else ADULT[:17] + "1"),
            code.INVALID_ARGUMENT)
    denied = [e for e in audit_entries(live, "check.joint_punishment") if e.decision == "deny"]
    assert {e.reason for e in denied} >= {"policy_denied", "purpose_not_bound"}


def test_checks_are_audited_and_shown_in_the_persons_access_report(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("JP-A")])
    live.client("tax_bureau").joint_punishment(ADULT, "flights_and_rail")
    live.client("market_regulator").green_channel(ADULT)
    [jp] = audit_entries(live, "check.joint_punishment")
    assert (jp.decision, jp.purpose, jp.requester) == ("allow", "joint_punishment", "tax_bureau")
    assert jp.subject_index and jp.reason == "flights_and_rail: restricted"
    assert jp.fields_released == () and jp.categories == ("dishonest_debtor",)
    assert any("check" in rule for rule in jp.policy_rule.split("; "))
    [gc] = audit_entries(live, "check.green_channel")
    assert gc.reason == "green_channel: not eligible"
    report = live.client("citizen_portal").subject_access_report(ADULT, self_consent(live))
    assert {(e.party, e.purpose) for e in report.events} == {
        ("tax_bureau", "joint_punishment"), ("market_regulator", "admin_licensing")}


@pytest.fixture
def without_positive_check(tmp_path: Path) -> Path:
    """The city's policies minus the rule letting licensing check positive records."""
    dest = tmp_path / "policies"
    shutil.copytree(POLICIES, dest)
    policy = dest / "policy.csv"
    rule = "p, licensing_authority, positive, check, admin_licensing, allow,\n"
    text = policy.read_text(encoding="utf-8")
    assert rule in text
    policy.write_text(text.replace(rule, ""), encoding="utf-8")
    return dest


def test_a_check_missing_one_category_is_refused_not_guessed(
        live_factory: Callable[..., LiveGateway], without_positive_check: Path) -> None:
    live = live_factory(policies=without_positive_check)
    refused(lambda: live.client("market_regulator").green_channel(ADULT),
            grpc.StatusCode.PERMISSION_DENIED, "policy")


def test_pb_messages_have_no_record_fields() -> None:
    for message in (pb.GreenChannelResponse, pb.JointPunishmentResponse):
        names = {f.name for f in message.DESCRIPTOR.fields}
        assert not names & {"records", "record_id", "subject_id", "fields", "event_date"}
