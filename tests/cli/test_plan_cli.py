"""The plan's rewards from the command line: the incentive check against a real gateway."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.cli import main
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, self_consent
from tests.services.records_data import penalty_record
from tests.services.test_incentives import volunteer_record
from tests.support import ADULT, KEYS


@pytest.fixture
def clock() -> FixedClock:
    """The CLI signs its requests with the real time, so the gateway's clock reads it too."""
    return FixedClock(datetime.now(UTC))


def as_party(live: LiveGateway, party: str) -> list[str]:
    return ["--target", live.target, "--party", party, "--keys", str(KEYS)]


def test_incentive_check_yes_and_refused(live: LiveGateway,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    live.client("civil_affairs").submit_records([volunteer_record()])
    assert main(["check", "incentive", ADULT, "--incentive", "employment_support",
                 *as_party(live, "hr_bureau"), "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["eligible"] is True and reply["incentive"] == "employment_support"
    assert main(["check", "incentive", ADULT, "--incentive", "credit_loan_discount",
                 "--purpose", "incentive_market", *as_party(live, "city_bank")]) == 1


def test_the_regulator_lists_and_answers_complaints(
        live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    looked = live.client("org_department").query_subject(ADULT, "cadre_selection")
    today = live.gw.clock.now().date().isoformat()
    live.client("citizen_portal").submit_records([{
        "subject_id": ADULT, "category": "access_complaint", "severity": "not_applicable",
        "event_date": today, "source_record_id": "CLI-CP-1",
        "fields": {"audit_seq": str(looked.audit_seq), "reason": "未经同意查询"}}])
    assert main(["complaint", "list", "--target", live.target, "--keys", str(KEYS),
                 "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["party"] == "org_department" and listed["outcome"] == ""
    assert main(["complaint", "answer", listed["complaint_id"], "--outcome", "dismissed",
                 "--target", live.target, "--keys", str(KEYS)]) == 0
    assert main(["complaint", "list", *as_party(live, "org_department")]) == 1


def test_a_department_lists_and_answers_extension_applications(
        live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    today = live.gw.clock.now().date()
    live.client("market_regulator").submit_records(
        [penalty_record("CLI-EXT-P", "general", today.isoformat())])
    consent = self_consent(live)
    [penalty] = own_records(live, consent, category="admin_penalty")
    [app] = live.client("citizen_portal").submit_records([{
        "subject_id": ADULT, "category": "extension_application",
        "severity": "not_applicable", "event_date": today.isoformat(),
        "source_record_id": "CLI-EXT-A",
        "fields": {"about_record_id": penalty.record_id,
                   "requested_until": (today + timedelta(days=90)).isoformat(),
                   "statement": "申请分期缴纳"}}]).results
    assert main(["extension", "list", "--status", "open", *as_party(live, "market_regulator"),
                 "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["application_id"] == app.record_id
    assert listed["source_record_id"] == "CLI-EXT-P"
    until = (today + timedelta(days=60)).isoformat()
    assert main(["extension", "answer", app.record_id, "--grant", "--until", until,
                 *as_party(live, "market_regulator")]) == 0
    capsys.readouterr()
    assert main(["extension", "list", *as_party(live, "market_regulator")]) == 0
    assert f"granted until {until}" in capsys.readouterr().out
    # The court did not provide the penalty: refused (exit 1).
    assert main(["extension", "answer", app.record_id, "--refuse",
                 *as_party(live, "court")]) == 1
