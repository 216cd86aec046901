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
from tests.threads import run_together


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


def _filed_complaint(live: LiveGateway) -> str:
    """A complaint about an access, filed through the portal; its id as listed."""
    live.client("court").submit_records([debtor_record("CP-R")])
    looked = live.client("org_department").query_subject(ADULT, "cadre_selection")
    live.client("citizen_portal").submit_records([complaint(looked.audit_seq,
                                                            source="CP-R1")])
    [listed] = live.client("regulator").list_complaints().complaints
    return listed.complaint_id


def _answer(complaint_id: str, outcome: str, source: str) -> dict[str, Any]:
    return {"subject_id": ADULT, "category": "complaint_answer",
            "severity": "not_applicable", "event_date": "2026-11-28",
            "source_record_id": source,
            "fields": {"complaint_record_id": complaint_id, "outcome": outcome,
                       "note": "已核查"}}


def test_a_complaint_is_answered_once_however_the_answer_comes(live: LiveGateway) -> None:
    """The once-rule binds the regulator's plain SubmitRecords as it binds AnswerComplaint,
    in either order, and a batch answering one complaint twice."""
    complaint_id = _filed_complaint(live)
    regulator = live.client("regulator")
    refused(lambda: regulator.submit_records([_answer(complaint_id, "upheld", "A-1"),
                                              _answer(complaint_id, "dismissed", "A-2")]),
            grpc.StatusCode.FAILED_PRECONDITION, "answered")
    regulator.submit_records([_answer(complaint_id, "upheld", "A-3")])
    regulator.submit_records([_answer(complaint_id, "upheld", "A-3")])  # a resend: no second
    refused(lambda: regulator.answer_complaint(complaint_id, "dismissed"),
            grpc.StatusCode.FAILED_PRECONDITION, "answered")
    refused(lambda: regulator.submit_records([_answer(complaint_id, "dismissed", "A-4")]),
            grpc.StatusCode.FAILED_PRECONDITION, "answered")
    answers = [r for r in live.gw.store.records_in_categories(["complaint_answer"], limit=50)
               if r.state == "active"]
    assert len(answers) == 1
    [listed] = regulator.list_complaints().complaints
    assert listed.outcome == "upheld"


def test_answers_racing_for_one_complaint_leave_one(live: LiveGateway) -> None:
    """Answers sent at once, through either door, are one answer: never upheld beside
    dismissed."""
    complaint_id = _filed_complaint(live)
    regulator = live.client("regulator")

    def answer(n: int) -> str:
        outcome = "upheld" if n % 2 else "dismissed"
        try:
            if n % 3:
                regulator.answer_complaint(complaint_id, outcome, "已核查")
            else:
                regulator.submit_records([_answer(complaint_id, outcome, f"R-{n}")])
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
            return "refused"
        return "answered"

    outcomes = run_together(answer, [(n,) for n in range(8)])
    assert sorted(outcomes) == ["answered"] + ["refused"] * 7
    answers = [r for r in live.gw.store.records_in_categories(["complaint_answer"], limit=50)
               if r.state == "active"]
    assert len(answers) == 1
