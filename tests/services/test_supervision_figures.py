"""AuditService/SupervisionFigures: the report of `credgate report supervision`, over gRPC."""

from __future__ import annotations

import grpc
import pytest

from gateway.api import pb
from gateway.audit.search import AuditFilter
from gateway.clock import city_today
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, self_consent
from tests.services.records_data import debtor_record, penalty_record
from tests.support import ADULT


def test_regulators_get_the_figures_the_cli_counts(live: LiveGateway) -> None:
    live.client("court").submit_records([debtor_record(event_date="2026-11-18"),
                                         debtor_record("(2026)浙01执9号",
                                                       event_date="2026-11-08")])
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    with pytest.raises(grpc.RpcError):
        live.client("credit_agency").query_subject(ADULT, "authorised_query")
    reply = live.client("regulator").audit.SupervisionFigures(
        pb.SupervisionFiguresRequest(), timeout=30)
    expected = supervision_figures(live.gw.store, live.gw.audit_search,
                                   today=city_today(live.gw.clock),
                                   catalogue=live.gw.state.catalogue)
    assert reply.as_of == expected.as_of.isoformat()
    court = next(d for d in reply.departments if d.provider == "court")
    assert court.records_submitted == 2 and court.name_zh
    assert court.median_lag_days == 15 and court.max_lag_days == 20
    idle = next(d for d in reply.departments if d.records_submitted == 0)
    assert not idle.HasField("median_lag_days") and not idle.HasField("max_lag_days")
    assert {(q.party, q.purpose, q.queries, q.refused) for q in reply.queriers} == {
        (q.party, q.purpose, q.queries, q.refused) for q in expected.queriers}
    assert ("credit_agency", "authorised_query", 1, 1) in {
        (q.party, q.purpose, q.queries, q.refused) for q in reply.queriers}


def test_only_regulators_and_a_bad_day_is_invalid(live: LiveGateway) -> None:
    with pytest.raises(grpc.RpcError) as info:
        live.client("court").audit.SupervisionFigures(pb.SupervisionFiguresRequest(),
                                                      timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:
        live.client("regulator").audit.SupervisionFigures(
            pb.SupervisionFiguresRequest(as_of="28/11/2026"), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    entries = live.gw.audit_search.search(AuditFilter(action="audit.supervision")).entries
    assert [e.decision for _, e in entries] == ["deny", "deny"]


def test_repairs_late_publications_and_complaints_reach_the_regulator(
        live: LiveGateway) -> None:
    # 双公示: a penalty decided in September reaches the gateway on 11-28, past its time.
    market = live.client("market_regulator")
    market.submit_records([penalty_record("FIG-1", "minor", "2026-11-27"),
                           penalty_record("FIG-2", "minor", "2026-11-27"),
                           penalty_record("FIG-3", "general", "2026-09-01")])
    consent = self_consent(live)
    portal = live.client("citizen_portal")
    minors = [r for r in own_records(live, consent, category="admin_penalty")
              if r.severity == "minor"]
    for record, approve in zip(minors, (True, False), strict=True):
        applied = portal.apply_repair(ADULT, consent, record.record_id, "已缴清罚款").repair
        market.decide_repair(applied.repair_id, approve=approve, reason="已核实")
    looked = live.client("org_department").query_subject(ADULT, "cadre_selection")
    portal.submit_records([{
        "subject_id": ADULT, "category": "access_complaint", "severity": "not_applicable",
        "event_date": "2026-11-28", "source_record_id": "FIG-CP",
        "fields": {"audit_seq": str(looked.audit_seq), "reason": "未经本人同意查询"}}])
    reply = live.client("regulator").audit.SupervisionFigures(
        pb.SupervisionFiguresRequest(as_of="2027-01-05"), timeout=30)
    row = next(d for d in reply.departments if d.provider == "market_regulator")
    assert (row.repairs_granted, row.repairs_refused, row.published_late) == (1, 1, 1)
    org = [q for q in reply.queriers if q.party == "org_department"]
    assert (org[0].complaints, org[0].complaints_answered, org[0].complaints_overdue) == (
        1, 0, 1)
    assert all(q.complaints == 0 for q in org[1:])
    # The answered complaint is no longer overdue.
    [complaint] = live.client("regulator").list_complaints().complaints
    live.client("regulator").answer_complaint(complaint.complaint_id, "dismissed")
    again = live.client("regulator").audit.SupervisionFigures(
        pb.SupervisionFiguresRequest(as_of="2027-01-05"), timeout=30)
    org_row = next(q for q in again.queriers if q.party == "org_department")
    assert (org_row.complaints, org_row.complaints_answered,
            org_row.complaints_overdue) == (1, 1, 0)
