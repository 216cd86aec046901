"""The plan's rewards from the command line: the incentive check against a real gateway."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def test_a_department_corrects_and_withdraws_its_records_from_the_command_line(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    today = live.gw.clock.now().date().isoformat()
    market = as_party(live, "market_regulator")
    live.client("market_regulator").submit_records(
        [penalty_record("CLI-R-1", "serious", today), penalty_record("CLI-R-2", "general",
                                                                      today)])
    corrected = tmp_path / "corrected.json"
    corrected.write_text(json.dumps([penalty_record("CLI-R-1b", "general", today)],
                                    ensure_ascii=False), encoding="utf-8")
    assert main(["record", "revise", "--source-record-id", "CLI-R-1", "--reason",
                 "changed_by_court", "--correction", str(corrected), *market]) == 0
    assert "supersedes it (changed_by_court)" in capsys.readouterr().out
    assert main(["record", "revise", "--source-record-id", "CLI-R-2", "--reason",
                 "entered_in_error", *market]) == 0
    assert "withdrawn (entered_in_error)" in capsys.readouterr().out
    # An unknown reason or a file of two records is broken input (2); another's record
    # is refused (1).
    assert main(["record", "revise", "--source-record-id", "CLI-R-1b", "--reason",
                 "felt_like_it", *market]) == 2
    two = tmp_path / "two.json"
    two.write_text(json.dumps([penalty_record("A", "general", today)] * 2,
                              ensure_ascii=False), encoding="utf-8")
    assert main(["record", "revise", "--source-record-id", "CLI-R-1b", "--reason",
                 "entered_in_error", "--correction", str(two), *market]) == 2
    assert main(["record", "revise", "--source-record-id", "CLI-R-1b", "--reason",
                 "entered_in_error", *as_party(live, "court")]) == 1
    shown = live.client("org_department").query_subject(ADULT, "cadre_selection",
                                                        categories=["admin_penalty"])
    assert [r.severity for r in shown.records] == ["general"]


def test_the_portal_files_complaints_extensions_repairs_and_gets_the_report(
        live: LiveGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    today = live.gw.clock.now().date()
    portal = as_party(live, "citizen_portal")
    live.client("market_regulator").submit_records(
        [penalty_record("CLI-P-1", "minor", today.isoformat())])
    [volunteering] = live.client("civil_affairs").submit_records(
        [volunteer_record(ADULT, "CLI-V-1")]).results
    consent = self_consent(live)
    [penalty] = own_records(live, consent, category="admin_penalty")
    # 申请延期, then 自主解释 shown with the record in a query's table.
    assert main(["extension", "apply", ADULT, "--record", penalty.record_id, "--until",
                 (today + timedelta(days=30)).isoformat(), "--statement", "申请分期缴纳",
                 *portal]) == 0
    capsys.readouterr()
    assert main(["query", ADULT, "--purpose", "cadre_selection", "--category",
                 "admin_penalty", *as_party(live, "org_department")]) == 0
    assert "extension_application" in capsys.readouterr().out
    # Repair citing the volunteer service by id.
    assert main(["repair", "apply", ADULT, "--consent", consent, "--record",
                 penalty.record_id, "--statement", "已缴清罚款", "--evidence",
                 volunteering.record_id, *portal, "--json"]) == 0
    [listed] = live.client("market_regulator").list_repairs(status="pending").repairs
    assert [e.record_id for e in listed.evidence] == [volunteering.record_id]
    capsys.readouterr()
    # 投诉 about the organisation department's look.
    looked = live.client("org_department").query_subject(ADULT, "cadre_selection")
    assert main(["complaint", "file", ADULT, "--seq", str(looked.audit_seq), "--reason",
                 "未经本人同意查询", *portal]) == 0
    [complaint] = live.client("regulator").list_complaints().complaints
    assert complaint.audit_seq == looked.audit_seq and complaint.party == "org_department"
    # An entry that is no access in the person's report: refused as invalid (2).
    assert main(["complaint", "file", ADULT, "--seq", "1", "--reason", "x", *portal]) == 2
    # The signed report, checked before it is written; a receiver verifies it.
    out = tmp_path / "report.json"
    assert main(["report", "credit", ADULT, "--consent", consent, "--category",
                 "volunteer_service", "--out", str(out), *portal]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert main(["report", "verify", str(out), "--key", str(KEYS / "gateway.log.pub")]) == 0
    assert main(["report", "credit", ADULT, "--consent", consent, "--category",
                 "volunteer_service", "--out", str(out), *portal]) == 2  # exists
    assert main(["report", "credit", ADULT, "--consent", consent, "--category",
                 "volunteer_service", "--out", str(tmp_path / "x.json"),
                 *as_party(live, "credit_agency")]) == 1
