"""Consent scope binds the citizen portal's own calls (objections, repairs, access report).

A self_query consent naming some categories proves the person asked for those only: an
objection or a repair against a record in another category, a repair citing as evidence
a record of another category, a listing of objections or repairs, and the access report
are each held to the categories the consent names.
Generated: consents over every subset of the person's record categories, each tried
against every record and report through a real gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway, start_live, stop_live
from tests.services.records_data import (
    debtor_record,
    financial_record,
    identity_record,
    penalty_record,
    tax_record,
)
from tests.support import ADULT, NOW

RECORDS = {"court": debtor_record("SC-1"), "tax_bureau": tax_record(),
           "public_security": identity_record(), "pboc_branch": financial_record(),
           "market_regulator": penalty_record("SC-P", "minor", "2026-11-01")}
CATEGORIES = sorted({r["category"] for r in RECORDS.values()})


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """The person's records in five categories, and lookups that touched them."""
    running = start_live(tmp_path_factory.mktemp("scope"), FixedClock(NOW))
    ids: dict[str, str] = {}
    for provider, record in RECORDS.items():
        reply = running.client(provider).submit_records([record])
        ids[record["category"]] = reply.results[0].record_id
    running.record_ids = ids  # type: ignore[attr-defined]
    running.client("org_department").query_subject(ADULT, "cadre_selection")
    running.client("hr_bureau").query_subject(ADULT, "awards")
    try:
        yield running
    finally:
        stop_live(running)


def consent(live: LiveGateway, categories: list[str]) -> str:
    return live.client("citizen_portal").issue_consent(
        subject_id=ADULT, grantee="citizen_portal", purpose="self_query",
        categories=categories, not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=30), max_uses=1000)


def _refused_out_of_scope(live: LiveGateway, call: object) -> None:
    before = live.gw.audit.size()
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    [(_, entry)] = live.gw.audit.read(start=before + 1, limit=5)
    assert entry.decision == "deny" and entry.reason == "consent_scope"


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scope=st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3, unique=True))
def test_a_consent_covers_only_the_categories_it_names(gw: LiveGateway,
                                                       scope: list[str]) -> None:
    consent_id = consent(gw, scope)
    portal = gw.client("citizen_portal")
    ids: dict[str, str] = gw.record_ids  # type: ignore[attr-defined]
    for category, record_id in ids.items():
        if category in scope:
            continue  # in scope: the objection and repair rules decide (tested elsewhere)
        _refused_out_of_scope(gw, lambda r=record_id: portal.file_objection(
            ADULT, consent_id, r, "this is wrong"))
        _refused_out_of_scope(gw, lambda r=record_id: portal.apply_repair(
            ADULT, consent_id, r, "I have made amends"))
    report = portal.subject_access_report(ADULT, consent_id)
    assert report.events, "the lookups of in-scope categories are reported"
    for event in report.events:
        assert set(event.categories) <= set(scope), (event.categories, scope)
        assert event.categories
    for listing in (portal.list_objections(subject_id=ADULT, consent_id=consent_id),
                    portal.list_repairs(subject_id=ADULT, consent_id=consent_id)):
        rows = getattr(listing, "objections", None) or getattr(listing, "repairs", [])
        assert {row.category for row in rows} <= set(scope)


def test_in_scope_calls_still_work_and_others_do_not_see_them(gw: LiveGateway) -> None:
    portal = gw.client("citizen_portal")
    ids: dict[str, str] = gw.record_ids  # type: ignore[attr-defined]
    debtor = consent(gw, ["dishonest_debtor"])
    filed = portal.file_objection(ADULT, debtor, ids["dishonest_debtor"], "paid in full")
    assert filed.objection.category == "dishonest_debtor"
    listed = portal.list_objections(subject_id=ADULT, consent_id=debtor)
    assert [o.category for o in listed.objections] == ["dishonest_debtor"]
    tax = consent(gw, ["tax_credit_rating"])
    assert not portal.list_objections(subject_id=ADULT, consent_id=tax).objections
    report = portal.subject_access_report(ADULT, tax)
    assert {c for e in report.events for c in e.categories} <= {"tax_credit_rating"}


EVIDENCE = {"volunteer_service": ("civil_affairs", {"organisation": "市志愿者协会",
                                                    "hours": "40"}),
            "repair_training": ("regulator", {"course": "信用修复专题培训",
                                              "organiser": "市社会信用体系建设办公室",
                                              "hours": "8"}),
            "donation": ("civil_affairs", {"recipient": "市慈善总会", "amount": "500.00"})}


@pytest.fixture(scope="module")
def evidence(gw: LiveGateway) -> dict[str, str]:
    """The person's positive records a repair may cite, one of each citable category."""
    ids = {}
    for category, (provider, fields) in EVIDENCE.items():
        reply = gw.client(provider).submit_records([{
            "subject_id": ADULT, "category": category, "severity": "not_applicable",
            "event_date": "2026-11-10", "source_record_id": f"EV-{category}",
            "fields": fields}])
        ids[category] = reply.results[0].record_id
    return ids


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cited=st.lists(st.sampled_from(sorted(EVIDENCE)), min_size=1, max_size=3, unique=True),
       named=st.lists(st.sampled_from(sorted(EVIDENCE)), max_size=2, unique=True))
def test_a_repair_cites_only_records_of_categories_the_consent_names(
        gw: LiveGateway, evidence: dict[str, str], cited: list[str], named: list[str]) -> None:
    # The repaired record is in scope; each record the application cites must be too.
    if set(cited) <= set(named):
        return  # in scope: the repair rules decide (tests/services/test_repair.py)
    consent_id = consent(gw, ["admin_penalty", *named])
    penalty = gw.record_ids["admin_penalty"]  # type: ignore[attr-defined]
    _refused_out_of_scope(gw, lambda: gw.client("citizen_portal").apply_repair(
        ADULT, consent_id, penalty, "已整改", evidence=[evidence[c] for c in cited]))
