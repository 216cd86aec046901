"""The person's own access report: who looked, when, why; investigations only later."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import grpc
import pytest

from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.records_data import debtor_record
from tests.support import ADULT, OTHER_ADULT


def self_consent(live: LiveGateway, clock: FixedClock, subject: str = ADULT) -> str:
    # The report covers the categories the consent names (issue 10 item 9): these are the
    # ones the lookups below read.
    now = clock.now()
    return live.client("citizen_portal").issue_consent(
        subject_id=subject, grantee="citizen_portal", purpose="self_query",
        categories=["identity", "dishonest_debtor"], not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=400), max_uses=10)


def test_report_lists_who_looked_and_defers_investigations(live: LiveGateway,
                                                           clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("AR-1"),
                                         debtor_record("AR-2", subject=OTHER_ADULT)])
    live.client("org_department").query_subject(ADULT, "cadre_selection")
    live.client("public_security").query_subject(ADULT, "criminal_investigation")
    live.client("org_department").query_subject(OTHER_ADULT, "cadre_selection")
    with pytest.raises(grpc.RpcError):
        live.client("credit_website").query_subject(ADULT, "cadre_selection")
    consent = self_consent(live, clock)
    report = live.client("citizen_portal").subject_access_report(ADULT, consent)
    assert [(e.party, e.purpose) for e in report.events] == [
        ("org_department", "cadre_selection")]
    event = report.events[0]
    assert event.party_name_zh == "市委组织部" and event.purpose_name_zh == "干部选拔任职"
    assert "dishonest_debtor" in event.categories
    # 181 days later the investigation shows up too.
    clock.advance(timedelta(days=181))
    report = live.client("citizen_portal").subject_access_report(ADULT, consent)
    assert [(e.party, e.purpose) for e in report.events] == [
        ("org_department", "cadre_selection"), ("public_security", "criminal_investigation")]


def test_only_the_portal_with_the_persons_consent_gets_a_report(live: LiveGateway,
                                                                clock: FixedClock) -> None:
    consent = self_consent(live, clock)
    with pytest.raises(grpc.RpcError) as info:
        live.client("credit_agency").subject_access_report(ADULT, consent)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:
        live.client("citizen_portal").subject_access_report(ADULT, "")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    other = self_consent(live, clock, subject=OTHER_ADULT)
    with pytest.raises(grpc.RpcError) as info:
        live.client("citizen_portal").subject_access_report(ADULT, other)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "another person" in info.value.details()


def test_a_purpose_gone_from_the_catalogue_keeps_its_accesses_deferred(
        live: LiveGateway, clock: FixedClock) -> None:
    live.client("court").submit_records([debtor_record("AR-9")])
    live.client("public_security").query_subject(ADULT, "criminal_investigation")
    consent = self_consent(live, clock)
    # A later policy renames or retires the purpose: its accesses must not come out now.
    catalogue = live.gw.state.catalogue
    purposes = {code: p for code, p in catalogue.purposes.items()
                if code != "criminal_investigation"}
    live.gw.state = replace(live.gw.state, catalogue=replace(catalogue, purposes=purposes))
    clock.advance(timedelta(days=1))
    report = live.client("citizen_portal").subject_access_report(ADULT, consent)
    assert [e.purpose for e in report.events] == []
    clock.advance(timedelta(days=180))
    report = live.client("citizen_portal").subject_access_report(ADULT, consent)
    assert [e.purpose for e in report.events] == ["criminal_investigation"]
