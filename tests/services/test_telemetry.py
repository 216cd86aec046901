"""Observability: a span per RPC and per step, and no personal data in any of it."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway.clock import FixedClock
from gateway.telemetry import STEPS, make_tracer_provider, start_call_span
from tests.live_gateway import LiveGateway
from tests.services.records_data import (
    ADDRESS,
    MOBILE,
    NAME,
    debtor_record,
    financial_record,
    identity_record,
)
from tests.support import ADULT


def full_run(live: LiveGateway, clock: FixedClock) -> None:
    """Submissions, queries allowed and refused, consent issue, use and revoke."""
    live.client("court").submit_records([debtor_record("T-1")])
    live.client("public_security").submit_records([identity_record()])
    live.client("pboc_branch").submit_records([financial_record()])
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    now = clock.now()
    consent = live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="credit_agency", purpose="authorised_query",
        categories=["dishonest_debtor", "identity"], not_before=now,
        not_after=now + timedelta(days=1), max_uses=1)
    live.client("credit_agency").query_subject(ADULT, "authorised_query", consent_id=consent)
    for call in (
        lambda: live.client("credit_agency").query_subject(ADULT, "authorised_query",
                                                           consent_id=consent),
        lambda: live.client("credit_website").query_subject(ADULT, "cadre_selection"),
        lambda: live.client("org_department").query_subject(ADULT[:17] + "0", "awards"),
        lambda: live.client("court").submit_records([debtor_record("T-1", amount="9")]),
    ):
        with pytest.raises(grpc.RpcError):
            call()
    live.client("citizen_portal").revoke_consent(consent, f"no longer needed {NAME}")
    live.gw.tracer_provider.force_flush()


def test_every_rpc_has_a_span_per_request_path_step(live: LiveGateway,
                                                    clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("S-1")])
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    live.gw.tracer_provider.force_flush()
    spans = live.spans.get_finished_spans()
    [root] = [s for s in spans if s.name == "credgate.v1.QueryService/QuerySubject"]
    children = {s.name for s in spans if s.parent and s.parent.span_id ==
                root.context.span_id}
    assert children >= set(STEPS)
    entry = live.gw.audit.read(start=2, limit=1)[0][1]
    assert entry.trace_id == format(root.context.trace_id, "032x")


def test_no_personal_data_in_spans_events_or_logs(live: LiveGateway, clock: FixedClock) -> None:
    full_run(live, clock)
    spans = live.spans.get_finished_spans()
    assert len(spans) > 50
    dumped = []
    for span in spans:
        dumped.append(span.to_json())
        dumped.extend(json.dumps(dict(e.attributes or {}), ensure_ascii=False)
                      for e in span.events)
    for record in live.logs.records:
        dumped.append(record.getMessage())
        dumped.append(str(record.args))
        if record.exc_text:
            dumped.append(record.exc_text)
    text = "\n".join(dumped)
    assert "credgate.v1.QueryService/QuerySubject" in text
    for secret in (ADULT, ADULT[:17], NAME, ADDRESS, MOBILE):
        assert secret not in text, secret[:2]
        assert json.dumps(secret)[1:-1] not in text  # escaped form in span JSON


def test_an_untraced_call_gets_a_fresh_trace_id_without_a_recorded_span() -> None:
    provider = make_tracer_provider("none")
    spans = [start_call_span(provider, provider.get_tracer("t"), "m") for _ in range(50)]
    ids = {s.get_span_context().trace_id for s in spans}
    assert len(ids) == 50 and 0 not in ids  # a valid, unique trace id for each audit entry
    assert not any(s.is_recording() for s in spans)
    traced = TracerProvider()
    assert start_call_span(traced, traced.get_tracer("t"), "m").is_recording()
