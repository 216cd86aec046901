"""Credit commitments and broken ones citing them; personal statements and extension
applications shown with the record to those who may see it; repairs in the figures."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from gateway.api import pb
from gateway.cli import main
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.credit_report import verify_report
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, own_records, refused, self_consent
from tests.services.records_data import NAME, debtor_record, identity_record, penalty_record
from tests.support import ADULT, KEYS, OTHER_ADULT


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


def statement(about: str, text: str, source: str = "STMT-P") -> dict[str, Any]:
    """A personal statement on one of the person's records."""
    return {"subject_id": ADULT, "category": "personal_statement",
            "severity": "not_applicable", "event_date": "2026-11-01",
            "source_record_id": source, "fields": {"about_record_id": about,
                                                   "statement": text}}


def test_a_statement_is_released_as_the_records_own_narratives_are(
        live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("SP-1")])
    consent = self_consent(live)
    [debt] = own_records(live, consent, category="dishonest_debtor")
    text = f"本人{NAME}已于十月由其妻王小花代为还清，联系电话13812345678"
    live.client("citizen_portal").submit_records([statement(debt.record_id, text)])
    # The organisation department reads court listings' narratives only scanned: the
    # statement too (the person's name, the wife's name and the phone masked inside).
    [seen] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["dishonest_debtor"]).records
    [shown] = seen.attachments
    assert shown.disclosure == pb.MASKED and "代为还清" in shown.text
    for secret in (NAME, "王小花", "13812345678"):
        assert secret not in shown.text
    # A criminal investigation reads them in clear, and the person sees their own text.
    [clear] = live.client("public_security").query_subject(
        ADULT, "criminal_investigation", categories=["dishonest_debtor"]).records
    assert (clear.attachments[0].disclosure, clear.attachments[0].text) == (pb.CLEAR, text)
    [own] = own_records(live, consent, category="dishonest_debtor")
    assert own.attachments[0].text == text
    # The audit entry names the statement among the fields released.
    [entry] = [e for e in audit_entries(live, "query.subject")
               if e.requester == "org_department"]
    assert "personal_statement.statement" in entry.fields_released


def test_an_extension_is_asked_only_of_a_record_with_an_obligation(
        live: LiveGateway) -> None:
    live.client("public_security").submit_records([identity_record()])
    live.client("market_regulator").submit_records([penalty_record("EX-P", "general",
                                                                   "2026-10-01")])
    consent = self_consent(live)
    [identity] = own_records(live, consent, category="identity")
    [penalty] = own_records(live, consent, category="admin_penalty")

    def extension(about: str, source: str) -> dict[str, Any]:
        return {"subject_id": ADULT, "category": "extension_application",
                "severity": "not_applicable", "event_date": "2026-11-02",
                "source_record_id": source,
                "fields": {"about_record_id": about, "requested_until": "2027-01-31",
                           "statement": "申请延期缴纳罚款"}}

    portal = live.client("citizen_portal")
    refused(lambda: portal.submit_records([extension(identity.record_id, "EX-1")]),
            grpc.StatusCode.INVALID_ARGUMENT, "about_record_id")
    portal.submit_records([extension(penalty.record_id, "EX-2")])
    [seen] = own_records(live, consent, category="admin_penalty")
    assert seen.attachments[0].requested_until == "2027-01-31"


def test_the_signed_report_carries_the_statement_beside_its_record(
        live: LiveGateway, capsys: pytest.CaptureFixture[str]) -> None:
    live.client("court").submit_records([debtor_record("SR-1")])
    consent = self_consent(live)
    [debt] = own_records(live, consent, category="dishonest_debtor")
    portal = live.client("citizen_portal")
    portal.submit_records([statement(debt.record_id, "已与申请执行人达成和解协议")])
    reply = portal.credit_report(ADULT, consent, ["dishonest_debtor"])
    report = verify_report(reply.report, load_verify_key(KEYS / "gateway.log.pub"))
    [record] = report.records
    assert record["attachments"] == [{"kind": "personal_statement", "kind_name_zh": "自主解释",
                                      "text": "已与申请执行人达成和解协议",
                                      "requested_until": ""}]
    [entry] = audit_entries(live, "subject.credit_report")
    assert "personal_statement.statement" in entry.fields_released
    path = live.gw.config.data_dir / "report.json"
    path.write_bytes(reply.report)
    assert main(["report", "verify", str(path), "--key",
                 str(KEYS / "gateway.log.pub")]) == 0
    assert "自主解释: 已与申请执行人达成和解协议" in capsys.readouterr().out


def test_each_department_takes_and_breaks_only_its_own_commitments(
        live: LiveGateway) -> None:
    hr, education = live.client("hr_bureau"), live.client("education_bureau")
    loan = commitment("CM-L")
    loan["fields"].update(commitment_type="student_loan_repayment", promisee="市教育局",
                          content="按期偿还国家助学贷款")
    # A student-loan promise is the education bureau's to take, not the HR bureau's.
    refused(lambda: hr.submit_records([loan]), grpc.StatusCode.PERMISSION_DENIED, "remit")
    [promise] = education.submit_records([loan]).results
    [job] = hr.submit_records([commitment("CM-J")]).results
    # Only the department the promise was made to records it broken: the HR bureau
    # cannot cite the education bureau's commitment, nor the other way round.
    for party, cited in ((hr, promise.record_id), (education, job.record_id)):
        refused(lambda p=party, c=cited: p.submit_records([broken("BC-X", c)]),
                grpc.StatusCode.INVALID_ARGUMENT, "that the caller provided")
    education.submit_records([broken("BC-L", promise.record_id)])
    hr.submit_records([broken("BC-J", job.record_id)])


def test_a_statement_on_a_record_whose_narrative_is_withheld_is_withheld(
        live: LiveGateway) -> None:
    """The organisation department reads an honour-list entry for cadre selection but not
    its citation (no rule releases the free text of positive records to it, even masked):
    the person's statement on the entry is not released either, not even masked."""
    entry = {"subject_id": ADULT, "category": "honour_list", "severity": "not_applicable",
             "event_date": "2026-09-01", "source_record_id": "HL-W",
             "fields": {"list_type": "moral_model", "list_name": "2026年度诚信典型",
                        "person_name": NAME, "recommender": "市文明办",
                        "citation": f"{NAME}拾金不昧"}}
    live.client("civilisation_office").submit_records([entry])
    consent = self_consent(live)
    [honour] = own_records(live, consent, category="honour_list")
    live.client("citizen_portal").submit_records([statement(
        honour.record_id, "本人曾在市第一中学任教，拾得钱包后交还失主", source="STMT-H")])
    [seen] = live.client("org_department").query_subject(
        ADULT, "cadre_selection", categories=["honour_list"]).records
    assert "citation" not in {f.name for f in seen.fields}  # the narrative is withheld
    assert list(seen.attachments) == []
    [entry_logged] = [e for e in audit_entries(live, "query.subject")
                      if e.requester == "org_department"]
    assert "personal_statement.statement" not in entry_logged.fields_released
    # The person still sees their own statement with the entry.
    [own] = own_records(live, consent, category="honour_list")
    assert [a.kind for a in own.attachments] == ["personal_statement"]
