"""Purposes and groups the plan names: outbound travel, student decisions with typed
misconduct, occupation returned and filtered, a credit agency's responsible staff."""

from __future__ import annotations

from typing import Any

import grpc

from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import refused
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT


def student_record(behaviour: str, source: str = "EDU-1") -> dict[str, Any]:
    """A student's misconduct, typed (the student was an adult at the time)."""
    return {"subject_id": ADULT, "category": "student_integrity", "severity": "general",
            "event_date": "2026-06-20", "source_record_id": source,
            "fields": {"school": "攀枝花学院", "conduct": "期末考试携带作弊材料",
                       "behaviour": behaviour}}


def test_student_decisions_read_typed_misconduct(live: LiveGateway) -> None:
    code = grpc.StatusCode
    education = live.client("education_bureau")
    education.submit_records([student_record("exam_cheating")])
    refused(lambda: education.submit_records([student_record("napping", "EDU-2")]),
            code.INVALID_ARGUMENT, "behaviour")
    for purpose in ("student_graduation", "student_admission", "scholarship", "enlistment",
                    "student_reference"):
        [record] = education.query_subject(ADULT, purpose,
                                           categories=["student_integrity"]).records
        assert {f.name: f.value for f in record.fields}["behaviour"] == "exam_cheating"
    refused(lambda: live.client("hr_bureau").query_subject(ADULT, "scholarship"),
            code.PERMISSION_DENIED)
    refused(lambda: education.query_subject(ADULT, "student_admission",
                                            categories=["dishonest_debtor"]),
            code.PERMISSION_DENIED)


def test_occupation_is_returned_and_filters_queries(live: LiveGateway) -> None:
    shop = penalty_record("OCC-1", "general", "2026-10-01")
    shop["occupation"] = "individual_business"
    audit = penalty_record("OCC-2", "general", "2026-10-02")
    audit["occupation"] = "auditor"
    audit["domain"] = "exhibitions_advertising"
    live.client("market_regulator").submit_records([shop, audit])
    org = live.client("org_department")
    both = org.query_subject(ADULT, "cadre_selection", categories=["admin_penalty"])
    assert sorted(r.occupation for r in both.records) == ["auditor", "individual_business"]
    [only] = org.query_subject(ADULT, "cadre_selection", occupations=["auditor"]).records
    assert (only.occupation, only.domain) == ("auditor", "exhibitions_advertising")
    refused(lambda: org.query_subject(ADULT, "cadre_selection", occupations=["astronaut"]),
            grpc.StatusCode.INVALID_ARGUMENT, "unknown occupation")


def test_outbound_travel_and_an_agencys_responsible_staff(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("OUT-1")])
    [record] = live.client("public_security").query_subject(ADULT, "outbound_travel").records
    released = {f.name: f for f in record.fields}
    assert record.category == "dishonest_debtor" and released["address"].disclosure == 2
    refused(lambda: live.client("market_regulator").query_subject(ADULT, "outbound_travel"),
            grpc.StatusCode.PERMISSION_DENIED)
    live.client("pboc_branch").submit_records([{
        "subject_id": OTHER_ADULT, "category": "credit_practitioner_ban",
        "severity": "serious", "event_date": "2026-09-01", "source_record_id": "银罚〔2026〕3号",
        "fields": {"agency_name": "智信征信服务有限公司", "staff_role": "信息安全负责人",
                   "decision_number": "银罚〔2026〕3号",
                   "description": "违规对外提供个人信用信息"}}])
    pboc = live.client("pboc_branch")
    assert pboc.joint_punishment(OTHER_ADULT, "credit_industry_ban").restricted
    assert not pboc.joint_punishment(ADULT, "credit_industry_ban").restricted
    refused(lambda: live.client("credit_agency").joint_punishment(
        OTHER_ADULT, "credit_industry_ban"), grpc.StatusCode.PERMISSION_DENIED)
