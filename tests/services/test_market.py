"""Credit agencies as providers of market information, market bodies as checkers only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
import pytest

from gateway.api import pb
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused, self_consent
from tests.services.records_data import NAME, debtor_record, financial_record
from tests.support import ADULT, OTHER_ADULT

code = grpc.StatusCode


def market_record(source: str, dishonesty_type: str = "loan_default",
                  subject: str = ADULT) -> dict[str, Any]:
    """Serious dishonesty a credit agency collected in its lending-data business."""
    return {"subject_id": subject, "category": "market_dishonesty", "severity": "serious",
            "event_date": "2026-09-01", "source_record_id": source,
            "fields": {"person_name": NAME, "dishonesty_type": dishonesty_type,
                       "counterparty": "某小额贷款有限公司", "amount": "52000.00",
                       "conduct_end_date": "2026-08-31",
                       "description": "逾期超过180天，经多次催收拒不还款"}}


def consent_for(live: LiveGateway, grantee: str, categories: list[str]) -> str:
    """The person's consent to an authorised query by `grantee`."""
    now = live.gw.clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee=grantee, purpose="authorised_query", categories=categories,
        not_before=now - timedelta(minutes=1), not_after=now + timedelta(days=1), max_uses=5)


def test_agencies_submit_market_information_within_their_remit(live: LiveGateway) -> None:
    agency = live.client("credit_agency")
    [ok] = agency.submit_records([market_record("HC-1")]).results
    assert ok.created
    # Outside its remit of dishonesty types, or public credit information: refused.
    refused(lambda: agency.submit_records([market_record("HC-2", "online_fraud")]),
            code.PERMISSION_DENIED, "outside the remit")
    refused(lambda: agency.submit_records([debtor_record("HC-3")]), code.PERMISSION_DENIED,
            "outside the remit")
    live.client("credit_agency_b").submit_records([market_record("ZX-1", "online_fraud")])
    # Another agency reads it with the person's consent, marked as market information;
    # the narrative only scanned.
    consent = consent_for(live, "credit_agency_b", ["market_dishonesty", "dishonest_debtor"])
    live.client("court").submit_records([debtor_record("MK-J")])
    reply = live.client("credit_agency_b").query_subject(ADULT, "authorised_query",
                                                         consent_id=consent)
    marks = {(r.category, r.provider, r.provenance) for r in reply.records}
    assert marks == {("market_dishonesty", "credit_agency", "market"),
                     ("market_dishonesty", "credit_agency_b", "market"),
                     ("dishonest_debtor", "court", "public")}
    [description] = {f.disclosure for r in reply.records for f in r.fields
                     if f.name == "description"}
    assert description == pb.MASKED
    # The person sees it, and where it comes from, through the portal.
    own = live.client("citizen_portal").query_subject(ADULT, "self_query",
                                                      consent_id=self_consent(live))
    assert {r.provenance for r in own.records if r.category == "market_dishonesty"} == {
        "market"}


def test_public_decisions_do_not_use_market_information(live: LiveGateway) -> None:
    live.client("credit_agency").submit_records([market_record("HC-9")])
    # A department enforcing joint punishment reads no market record...
    reply = live.client("tax_bureau").query_subject(ADULT, "joint_punishment")
    assert reply.records == [] and "market_dishonesty" in reply.withheld_categories
    refused(lambda: live.client("tax_bureau").query_subject(
        ADULT, "joint_punishment", categories=["market_dishonesty"]), code.PERMISSION_DENIED)
    # ...and the green channel and incentives do not count one against the person.
    assert live.client("market_regulator").green_channel(ADULT).eligible
    assert not live.client("tax_bureau").joint_punishment(ADULT, "financing").restricted


def test_market_bodies_run_the_checks_policy_grants_them(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record("MB-J")])
    live.client("pboc_branch").submit_records([financial_record(OTHER_ADULT)])
    for body in ("airline", "rail_operator"):
        checker = live.client(body)
        reply = checker.joint_punishment(ADULT, "flights_and_rail")
        assert (reply.restricted, reply.authority) == (True, "court")
        assert not checker.joint_punishment(OTHER_ADULT, "flights_and_rail").restricted
        refused(lambda c=checker: c.joint_punishment(ADULT, "company_officer"),
                code.PERMISSION_DENIED, "policy")
        refused(lambda c=checker: c.joint_punishment(ADULT, "financing"),
                code.PERMISSION_DENIED, "policy")
        refused(lambda c=checker: c.green_channel(ADULT), code.PERMISSION_DENIED, "policy")
    bank = live.client("city_bank")
    assert bank.joint_punishment(OTHER_ADULT, "financing").restricted
    refused(lambda: bank.joint_punishment(ADULT, "company_officer"), code.PERMISSION_DENIED)


def _read_paths(live: LiveGateway, party: str) -> dict[str, Callable[[], Any]]:
    """Every call that can release a record or a fact about one, as `party` makes it."""
    c = live.client(party)
    consent = self_consent(live)
    paths: dict[str, Callable[[], Any]] = {
        f"QuerySubject/{purpose}": (lambda p=purpose: c.queries.QuerySubject(
            pb.QuerySubjectRequest(subject_id=ADULT, purpose=p), timeout=10))
        for purpose, spec in live.gw.catalogue.purposes.items() if spec.queryable}
    paths.update({
        "QuerySubject/with the portal's consent": lambda: c.queries.QuerySubject(
            pb.QuerySubjectRequest(subject_id=ADULT, purpose="self_query",
                                   consent_id=consent), timeout=10),
        "SubjectAccessReport": lambda: c.subjects.SubjectAccessReport(
            pb.SubjectAccessReportRequest(subject_id=ADULT, consent_id=consent), timeout=10),
        "PersonalCreditReport": lambda: c.subjects.PersonalCreditReport(
            pb.PersonalCreditReportRequest(subject_id=ADULT, consent_id=consent,
                                           categories=["dishonest_debtor"]), timeout=10),
        "PublicDisclosure": lambda: list(c.disclosure.PublicDisclosure(
            pb.PublicDisclosureRequest(), timeout=10)),
        "ExportDisclosure": lambda: list(c.disclosure.ExportDisclosure(
            pb.ExportDisclosureRequest(), timeout=10)),
        "ListObjections": lambda: c.objections.ListObjections(
            pb.ListObjectionsRequest(subject_id=ADULT, consent_id=consent), timeout=10),
        "ListRepairs": lambda: c.repairs.ListRepairs(
            pb.ListRepairsRequest(subject_id=ADULT, consent_id=consent), timeout=10),
        "ListAuditEntries": lambda: c.audit.ListAuditEntries(
            pb.ListAuditEntriesRequest(), timeout=10),
        "ExportAudit": lambda: list(c.audit.ExportAudit(pb.ExportAuditRequest(), timeout=10)),
        "SupervisionFigures": lambda: c.audit.SupervisionFigures(
            pb.SupervisionFiguresRequest(), timeout=10),
        "ListComplaints": lambda: c.complaints.ListComplaints(pb.ListComplaintsRequest(),
                                                               timeout=10),
        "SubmitRecords": lambda: c.submit_records([market_record("MB-S")]),
        "IncentiveEligibility without consent": lambda: c.incentive(
            ADULT, "credit_loan_discount", "incentive_market"),
    })
    return paths


@pytest.mark.parametrize("party", ["airline", "rail_operator", "city_bank"])
def test_market_bodies_never_read_a_record(live: LiveGateway, party: str) -> None:
    live.client("court").submit_records([debtor_record("MB-R")])
    live.client("credit_agency").submit_records([market_record("MB-M")])
    paths = _read_paths(live, party)
    for name, call in paths.items():
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() in (code.PERMISSION_DENIED, code.UNAUTHENTICATED), name
        assert ADULT not in (info.value.details() or ""), name
    # Every attempt is in the audit log as a refusal by this party; none released a field.
    mine = [e for _, e in live.gw.audit.read(start=1, limit=10_000)
            if e.requester == party]
    assert len(mine) >= len(paths) and all(e.decision == "deny" for e in mine)
    assert all(e.fields_released == () for e in mine)
    assert not [e for e in audit_entries(live, "query.subject")
                if e.requester == party and e.decision == "allow"]
