"""Credit commitments and broken ones citing them; personal statements and extension
applications shown with the record to those who may see it; repairs in the figures."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, refused, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT, OTHER_ADULT


def commitment(source: str, subject: str = ADULT) -> dict[str, Any]:
    """An employment integrity commitment taken by the HR bureau."""
    return {"subject_id": subject, "category": "credit_commitment",
            "severity": "not_applicable", "event_date": "2026-03-01",
            "source_record_id": source,
            "fields": {"commitment_type": "employment_integrity",
                       "content": "如实提供学历及工作经历", "promisee": "市人社局",
                       "due_date": "2029-03-01"}}


def broken(source: str, cited: str, subject: str = ADULT) -> dict[str, Any]:
    return {"subject_id": subject, "category": "broken_commitment", "severity": "general",
            "event_date": "2026-10-01", "source_record_id": source,
            "fields": {"commitment_record_id": cited, "description": "伪造工作经历证明",
                       "behaviour": "forged_job_documents"}}


def test_a_broken_commitment_cites_the_commitment(live: LiveGateway) -> None:
    hr = live.client("hr_bureau")
    [mine] = hr.submit_records([commitment("CM-1")]).results
    [theirs] = hr.submit_records([commitment("CM-2", OTHER_ADULT)]).results
    live.client("market_regulator").submit_records([penalty_record("CM-P", "general",
                                                                   "2026-10-01")])
    [penalty] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["admin_penalty"]).records
    hr.submit_records([broken("BC-1", mine.record_id)])
    # Another person's commitment, a record that is no commitment, or none at all: the
    # same refusal, which never says whether the record exists.
    for cited in (theirs.record_id, penalty.record_id, "rec-00000000-no-such"):
        err = refused(lambda c=cited: hr.submit_records([broken("BC-2", c)]),
                      grpc.StatusCode.INVALID_ARGUMENT, "commitment_record_id must name")
        assert cited not in (err.details() or "")
    refused(lambda: live.client("civil_affairs").submit_records(
        [commitment("CM-X")]), grpc.StatusCode.PERMISSION_DENIED)
    seen = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["credit_commitment", "broken_commitment"])
    fields = {r.category: {f.name: f.value for f in r.fields} for r in seen.records}
    assert fields["broken_commitment"]["commitment_record_id"] == mine.record_id
    assert fields["credit_commitment"]["promisee"] == "市人社局"


def test_statements_and_extensions_go_with_the_record(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("ST-1")])
    consent = self_consent(live)
    [debt] = own_records(live, consent, category="dishonest_debtor")
    portal = live.client("citizen_portal")
    portal.submit_records([
        {"subject_id": ADULT, "category": "personal_statement", "severity": "not_applicable",
         "event_date": "2026-11-01", "source_record_id": "STMT-1",
         "fields": {"about_record_id": debt.record_id,
                    "statement": "因疫情停业导致未能按期履行，已与申请人达成和解"}},
        {"subject_id": ADULT, "category": "extension_application",
         "severity": "not_applicable", "event_date": "2026-11-02",
         "source_record_id": "EXT-1",
         "fields": {"about_record_id": debt.record_id, "requested_until": "2027-03-31",
                    "statement": "申请延期三个月分期履行"}}])
    [seen] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["dishonest_debtor"]).records
    kinds = {a.kind: a for a in seen.attachments}
    assert "和解" in kinds["personal_statement"].text
    assert kinds["extension_application"].requested_until == "2027-03-31"
    # A querier that may not see the record sees nothing of what is attached to it.
    agency_consent = portal.issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["identity"], not_before=live.gw.clock.now(),
        not_after=live.gw.clock.now().replace(year=2027), max_uses=2)
    shown = live.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                       consent_id=agency_consent)
    assert all(not r.attachments for r in shown.records)
    # A statement must cite one of the person's own records.
    refused(lambda: portal.submit_records([
        {"subject_id": OTHER_ADULT, "category": "personal_statement",
         "severity": "not_applicable", "event_date": "2026-11-01",
         "source_record_id": "STMT-X",
         "fields": {"about_record_id": debt.record_id, "statement": "不是我"}}]),
        grpc.StatusCode.INVALID_ARGUMENT, "about_record_id")
    refused(lambda: live.client("court").submit_records([
        {"subject_id": ADULT, "category": "personal_statement",
         "severity": "not_applicable", "event_date": "2026-11-01",
         "source_record_id": "STMT-C",
         "fields": {"about_record_id": debt.record_id, "statement": "x"}}]),
        grpc.StatusCode.PERMISSION_DENIED)


def test_repairs_granted_and_refused_count_in_the_figures(live: LiveGateway) -> None:
    market = live.client("market_regulator")
    market.submit_records([penalty_record("RF-1", "minor", "2026-11-01"),
                           penalty_record("RF-2", "minor", "2026-11-02")])
    consent = self_consent(live)
    portal = live.client("citizen_portal")
    for record, approve in zip(own_records(live, consent, category="admin_penalty"),
                               (True, False), strict=True):
        applied = portal.apply_repair(ADULT, consent, record.record_id, "已缴清罚款").repair
        market.decide_repair(applied.repair_id, approve=approve, reason="已核实")
    figures = supervision_figures(live.gw.store, live.gw.audit_search,
                                  today=live.gw.clock.now().date(),
                                  catalogue=live.gw.catalogue)
    row = next(p for p in figures.providers if p.provider == "market_regulator")
    assert (row.repairs_granted, row.repairs_refused) == (1, 1)


def test_a_repair_cites_training_volunteering_and_donations_by_id(
        live: LiveGateway) -> None:
    [training] = live.client("regulator").submit_records([{
        "subject_id": ADULT, "category": "repair_training", "severity": "not_applicable",
        "event_date": "2026-11-10", "source_record_id": "TRAIN-1",
        "fields": {"course": "信用修复专题培训", "organiser": "市社会信用体系建设办公室",
                   "hours": "8"}}]).results
    volunteering = [{"subject_id": s, "category": "volunteer_service",
                     "severity": "not_applicable", "event_date": "2026-11-01",
                     "source_record_id": f"VOL-{n}",
                     "fields": {"organisation": "市志愿者协会", "hours": "40"}}
                    for n, s in enumerate((ADULT, OTHER_ADULT))]
    mine, theirs = live.client("civil_affairs").submit_records(volunteering).results
    market = live.client("market_regulator")
    market.submit_records([penalty_record("RE-1", "minor", "2026-11-01")])
    consent = self_consent(live)
    [penalty] = own_records(live, consent, category="admin_penalty")
    portal = live.client("citizen_portal")
    for bad in (theirs.record_id, penalty.record_id, "rec-none"):
        refused(lambda b=bad: portal.apply_repair(ADULT, consent, penalty.record_id, "已整改",
                                                  evidence=[training.record_id, b]),
                grpc.StatusCode.INVALID_ARGUMENT, "evidence must name")
    applied = portal.apply_repair(ADULT, consent, penalty.record_id, "已缴清罚款并参加培训",
                                  evidence=[training.record_id, mine.record_id]).repair
    assert applied.statement == "已缴清罚款并参加培训"
    [listed] = market.list_repairs(status="pending").repairs
    assert {(e.record_id, e.category) for e in listed.evidence} == {
        (training.record_id, "repair_training"), (mine.record_id, "volunteer_service")}
