"""Complaints about an access (投诉): filed via the portal naming the audit entry, listed
and answered by the regulator within the set time, counted in the supervision figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc

from gateway.clock import FixedClock
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, refused, self_consent
from tests.services.records_data import debtor_record
from tests.support import ADULT, OTHER_ADULT


def complaint(seq: int | str, subject: str = ADULT, source: str = "CP-1") -> dict[str, Any]:
    return {"subject_id": subject, "category": "access_complaint",
            "severity": "not_applicable", "event_date": "2026-11-28",
            "source_record_id": source,
            "fields": {"audit_seq": str(seq), "reason": "我没有申请贷款，该机构无权查询"}}


def test_a_complaint_names_an_access_reaches_the_regulator_and_is_answered(
        live: LiveGateway, clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("CP-J")])
    looked = live.client("org_department").query_subject(ADULT, "cadre_selection")
    consent = self_consent(live)
    report = live.client("citizen_portal").subject_access_report(ADULT, consent)
    [event] = [e for e in report.events if e.party == "org_department"]
    assert event.seq == looked.audit_seq
    portal = live.client("citizen_portal")
    portal.submit_records([complaint(event.seq)])
    # Only an access in the person's own report: not someone else's, not a refusal,
    # not a submission, not an entry that does not exist; one message for all.
    other = live.client("org_department").query_subject(OTHER_ADULT, "cadre_selection")
    for seq in (other.audit_seq, 1, 999_999, "x1"):
        refused(lambda s=seq: portal.submit_records([complaint(s, source=f"CP-{s}")]),
                grpc.StatusCode.INVALID_ARGUMENT, "access report")
    # Nor can a correction point the complaint at another person's access.
    refused(lambda: portal.revise_record(source_record_id="CP-1", reason="entered_in_error",
                                         correction=complaint(other.audit_seq,
                                                              source="CP-1b")),
            grpc.StatusCode.INVALID_ARGUMENT, "access report")
    regulator = live.client("regulator")
    [listed] = regulator.list_complaints().complaints
    assert (listed.audit_seq, listed.party, listed.outcome, listed.overdue) == (
        event.seq, "org_department", "", False)
    assert listed.due_on == "2026-12-28" and "无权查询" in listed.reason
    refused(lambda: live.client("org_department").list_complaints(),
            grpc.StatusCode.PERMISSION_DENIED, "regulator")
    figures = supervision_figures(live.gw.store, live.gw.audit_search,
                                  today=(clock.now() + timedelta(days=31)).date(),
                                  catalogue=live.gw.catalogue)
    org = next(q for q in figures.queriers if q.party == "org_department")
    assert (org.complaints, org.complaints_answered, org.complaints_overdue) == (1, 0, 1)
    answer = regulator.answer_complaint(listed.complaint_id, "upheld", "已责令整改")
    refused(lambda: regulator.answer_complaint(listed.complaint_id, "dismissed"),
            grpc.StatusCode.FAILED_PRECONDITION, "answered")
    [after] = regulator.list_complaints().complaints
    assert after.outcome == "upheld"
    # The person sees the answer with their records.
    [shown] = own_records(live, consent, category="complaint_answer")
    assert shown.record_id == answer.answer_record_id
    assert {f.name: f.value for f in shown.fields}["outcome"] == "upheld"
