"""Honour lists (红名单, 诚信典型): providers within their remit, publication only with the
person's recorded agreement, behind the feed's privacy gate."""

from __future__ import annotations

from typing import Any

import grpc

from gateway.api import pb
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import refused
from tests.services.records_data import penalty_record
from tests.support import ADULT, OTHER_ADULT

NAME, OTHER_NAME = "欧阳明远", "李小红"


def honour_entry(source: str, list_type: str, subject: str = ADULT, name: str = NAME,
                 recommender: str = "市文明办") -> dict[str, Any]:
    """An honour-list entry."""
    return {"subject_id": subject, "category": "honour_list", "severity": "not_applicable",
            "event_date": "2026-09-01", "source_record_id": source,
            "fields": {"list_type": list_type, "list_name": "2026年度诚信典型",
                       "person_name": name, "recommender": recommender,
                       "citation": f"{name}拾金不昧，联系电话13812345678"}}


def agreement(subject: str, source: str) -> dict[str, Any]:
    """The person's agreement to the publication of their honour-list entries."""
    return {"subject_id": subject, "category": "publication_agreement",
            "severity": "not_applicable", "event_date": "2026-10-01",
            "source_record_id": source, "fields": {"agreed_category": "honour_list"}}


def feed(live: LiveGateway) -> list[pb.DisclosedRecord]:
    replies = live.client("credit_website").disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(categories=["honour_list"]), timeout=30)
    return [r for batch in replies for r in batch.records]


def test_each_provider_recommends_only_within_its_remit(live: LiveGateway) -> None:
    code = grpc.StatusCode
    live.client("civilisation_office").submit_records([honour_entry("WM-1", "moral_model")])
    live.client("youth_league").submit_records([honour_entry("TW-1", "excellent_volunteer")])
    live.client("construction_association").submit_records(
        [honour_entry("JZ-1", "honest_member", recommender="市建筑业协会")])
    # The Youth League names volunteers, not moral models; an association its members only.
    refused(lambda: live.client("youth_league").submit_records(
        [honour_entry("TW-2", "moral_model")]), code.PERMISSION_DENIED, "remit")
    refused(lambda: live.client("general_chamber").submit_records(
        [honour_entry("SH-1", "excellent_volunteer")]), code.PERMISSION_DENIED, "remit")
    # Nor by correcting an entry afterwards: a correction passes the same remit.
    refused(lambda: live.client("youth_league").revise_record(
        source_record_id="TW-1", reason="entered_in_error",
        correction=honour_entry("TW-1b", "moral_model")), code.PERMISSION_DENIED, "remit")
    # A department without the remit cannot put anyone on an honour list.
    refused(lambda: live.client("hr_bureau").submit_records(
        [honour_entry("HR-1", "moral_model")]), code.PERMISSION_DENIED)
    # Honour-list providers read nothing: they have no query rule.
    refused(lambda: live.client("civilisation_office").query_subject(ADULT, "awards"),
            code.PERMISSION_DENIED)


def test_published_only_with_the_persons_recorded_agreement(live: LiveGateway) -> None:
    office = live.client("civilisation_office")
    office.submit_records([honour_entry("WM-A", "moral_model"),
                           honour_entry("WM-B", "moral_model", OTHER_ADULT, OTHER_NAME)])
    assert feed(live) == []  # nobody agreed yet
    portal = live.client("citizen_portal")
    portal.submit_records([agreement(ADULT, "AGREE-1")])
    [published] = feed(live)
    # Behind the same privacy gate: name masked, the phone in the citation scanned out.
    assert published.category_name_zh == "红名单（诚信典型）"
    assert published.fields["person_name"].startswith("欧阳") and NAME not in repr(published)
    assert "13812345678" not in published.fields["citation"]
    assert published.fields["list_type"] == "moral_model"
    # An agreement is not consent for anything else, nor does a provider record it.
    refused(lambda: office.submit_records([agreement(OTHER_ADULT, "AGREE-X")]),
            grpc.StatusCode.PERMISSION_DENIED)
    # Withdrawn agreement: the entry leaves the feed.
    portal.remove_record(source_record_id="AGREE-1", reason="agreement_withdrawn")
    assert feed(live) == []


def test_the_feed_says_how_many_records_it_left_out_and_why(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([
        penalty_record("LO-S", "serious", "2026-09-01"),
        penalty_record("LO-M", "minor", "2026-09-01")])
    live.client("civilisation_office").submit_records([honour_entry("LO-H", "moral_model")])
    replies = list(live.client("credit_website").disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(categories=["admin_penalty", "honour_list"]), timeout=30))
    assert sum(len(b.records) for b in replies) == 1
    last = replies[-1]
    assert not last.records
    assert {(o.reason, o.reason_zh, o.count) for o in last.left_out} == {
        ("severity_not_public", "该严重程度不予公示", 1), ("no_agreement", "本人未同意公示", 1)}


def test_publication_later_than_the_legal_time_counts_in_the_figures(
        live: LiveGateway) -> None:
    # The clock reads 2026-11-28: a penalty decided on 11-25 is in time (7 days), one
    # decided in September is late.
    live.client("market_regulator").submit_records([
        penalty_record("PL-1", "general", "2026-11-25"),
        penalty_record("PL-2", "general", "2026-09-01")])
    figures = supervision_figures(live.gw.store, live.gw.audit_search,
                                  today=live.gw.clock.now().date(),
                                  catalogue=live.gw.catalogue)
    row = next(p for p in figures.providers if p.provider == "market_regulator")
    assert row.published_late == 1
