"""AuditService/SupervisionFigures: the report of `credgate report supervision`, over gRPC."""

from __future__ import annotations

import grpc
import pytest

from gateway.api import pb
from gateway.audit.search import AuditFilter
from gateway.clock import city_today
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
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
