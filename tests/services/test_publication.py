"""双公示 and fuller publication end to end: licences and penalties within the legal time,
typical cases of rewards, and what the feed and the signed export left out and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc

from gateway.api import pb
from gateway.clock import FixedClock
from gateway.crypto.signatures import load_verify_key
from gateway.disclosure.export import verify_manifest
from gateway.supervision.figures import supervision_figures
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import own_records, refused, self_consent
from tests.services.records_data import NAME, penalty_record
from tests.services.test_disclosure_feed import typical_case
from tests.support import ADULT, KEYS, OTHER_ADULT, TEENAGER

OTHER_NAME = "李小红"


def licence(source: str, event_date: str = "2026-11-25", subject: str = ADULT
            ) -> dict[str, Any]:
    """A licence decision of the market regulator (双公示: published)."""
    return {"subject_id": subject, "category": "admin_licence", "severity": "not_applicable",
            "event_date": event_date, "source_record_id": source,
            "fields": {"licence_name": "食品经营许可证", "decision_number": source,
                       "authority": "攀枝花市市场监督管理局", "valid_until": "2031-11-24"}}


def reward_case(source: str, subject: str = ADULT, name: str = NAME) -> dict[str, Any]:
    """A typical case of trustworthiness rewarded (守信激励典型案例)."""
    return {"subject_id": subject, "category": "reward_typical_case",
            "severity": "not_applicable", "event_date": "2026-10-20",
            "source_record_id": source,
            "fields": {"title": "诚信经营获评守信激励典型", "authority": "市文明办",
                       "subject_name": name,
                       "narrative": f"{name}坚持诚信经营十年，获得信用贷款优惠（电话13812345678）"}}


def agreement(subject: str, source: str, category: str) -> dict[str, Any]:
    return {"subject_id": subject, "category": "publication_agreement",
            "severity": "not_applicable", "event_date": "2026-11-01",
            "source_record_id": source, "fields": {"agreed_category": category}}


def feed(live: LiveGateway, categories: list[str]) -> tuple[list[pb.DisclosedRecord],
                                                            dict[str, int]]:
    replies = list(live.client("credit_website").disclosure.PublicDisclosure(
        pb.PublicDisclosureRequest(categories=categories), timeout=30))
    return ([r for b in replies for r in b.records],
            {o.reason: o.count for o in replies[-1].left_out})


def test_licence_decisions_are_published(live: LiveGateway) -> None:
    live.client("market_regulator").submit_records([licence("攀市监许〔2026〕88号")])
    [published], left_out = feed(live, ["admin_licence"])
    assert (published.category_name_zh, published.provider_name_zh) == (
        "行政许可", "市场监督管理局")
    assert published.fields["decision_number"] == "攀市监许〔2026〕88号"
    assert published.fields["licence_name"] == "食品经营许可证" and left_out == {}
    # Only the licensing departments submit licences; the website cannot read them.
    refused(lambda: live.client("court").submit_records([licence("X-1")]),
            grpc.StatusCode.PERMISSION_DENIED)
    refused(lambda: live.client("credit_website").query_subject(ADULT, "admin_licensing"),
            grpc.StatusCode.PERMISSION_DENIED)


def test_typical_cases_of_rewards_only_with_the_persons_agreement(
        live: LiveGateway) -> None:
    office = live.client("civilisation_office")
    office.submit_records([reward_case("RW-1"),
                           reward_case("RW-2", OTHER_ADULT, OTHER_NAME)])
    assert feed(live, ["reward_typical_case"]) == ([], {"no_agreement": 2})
    portal = live.client("citizen_portal")
    # An agreement to publish honour-list entries is no agreement for a typical case.
    portal.submit_records([agreement(ADULT, "AG-H", "honour_list")])
    assert feed(live, ["reward_typical_case"])[0] == []
    portal.submit_records([agreement(ADULT, "AG-R", "reward_typical_case")])
    [published], left_out = feed(live, ["reward_typical_case"])
    # Behind the same privacy gate: the name masked, the phone scanned out.
    assert published.category_name_zh == "守信激励典型案例"
    assert NAME not in repr(published) and "13812345678" not in repr(published)
    assert "诚信经营" in published.fields["narrative"] and left_out == {"no_agreement": 1}
    # Only the civilisation office and the market regulator write them; an agreement
    # names a category published with agreement, nothing else.
    refused(lambda: live.client("court").submit_records([reward_case("RW-X")]),
            grpc.StatusCode.PERMISSION_DENIED)
    refused(lambda: portal.submit_records([agreement(ADULT, "AG-X", "dishonest_debtor")]),
            grpc.StatusCode.INVALID_ARGUMENT, "agreed_category")


def test_the_feed_and_the_signed_export_count_every_reason(
        live: LiveGateway, clock: FixedClock) -> None:
    market = live.client("market_regulator")
    market.submit_records([
        penalty_record("LO-1", "serious", "2026-09-01"),  # published
        penalty_record("LO-2", "minor", "2026-11-20"),  # severity not public
        penalty_record("LO-3", "general", "2025-10-01"),  # display ended 2026-10-01
        penalty_record("LO-4", "serious", "2026-09-02", subject=TEENAGER),  # a minor
        penalty_record("LO-5", "general", "2026-09-03", subject=OTHER_ADULT),  # disputed
    ])
    consent = self_consent(live, OTHER_ADULT)
    [disputed] = own_records(live, consent, OTHER_ADULT, category="admin_penalty")
    live.client("citizen_portal").file_objection(OTHER_ADULT, consent, disputed.record_id,
                                                 "处罚决定已被撤销")
    records, left_out = feed(live, ["admin_penalty"])
    assert [r.fields["decision_number"] for r in records] == ["LO-1"]
    assert left_out == {"severity_not_public": 1, "display_ended": 1, "subject_under_18": 1,
                        "disputed": 1}
    # A typical case naming another subject of the run fails the review: withheld.
    live.client("court").submit_records([
        typical_case("TC-9", ADULT, f"本案与{OTHER_NAME}串通转移财产。")])
    named = penalty_record("LO-6", "serious", "2026-09-04", subject=OTHER_ADULT)
    named["fields"]["person_name"] = OTHER_NAME
    market.submit_records([named])
    export = live.client("credit_website").export_disclosure(
        ["admin_penalty", "typical_case"], timeout=30)
    doc = verify_manifest(export.manifest, export.signature,
                          load_verify_key(KEYS / "gateway.log.pub"), export.files)
    # The counts are in the signed manifest, and the same on the wire: the one batch
    # (LO-1, LO-6 and the case) withheld whole.
    assert doc["left_out"] == {"severity_not_public": 1, "display_ended": 1,
                               "subject_under_18": 1, "disputed": 1, "withheld_by_review": 3}
    assert doc["counts"] == {"total": 0}
    assert export.left_out == doc["left_out"]
    assert export.withheld_batches == 1
    assert OTHER_NAME not in repr(doc) and ADULT not in repr(doc)


def test_late_publication_counts_working_days_and_the_citys_date(
        live: LiveGateway, clock: FixedClock) -> None:
    market = live.client("market_regulator")

    def figures(day: str) -> int:
        report = supervision_figures(live.gw.store, live.gw.audit_search,
                                     today=datetime.fromisoformat(day).date(),
                                     catalogue=live.gw.catalogue)
        return next(p.published_late for p in report.providers
                    if p.provider == "market_regulator")

    # Monday 12 October 2026: twelve days after a decision of 30 September, but only
    # four working days (the National Day holiday; Saturday 10 October was worked).
    clock.set(datetime.fromisoformat("2026-10-12T02:00:00+00:00"))
    market.submit_records([licence("L-1", "2026-09-30"),
                           penalty_record("P-1", "general", "2026-09-30")])
    assert figures("2026-10-12") == 0
    # Decided on Friday 18 September: 29 September is the 7th working day, in time;
    # the 30th (here 23:30 UTC on the 29th, already the 30th in the city) is the 8th.
    clock.set(datetime.fromisoformat("2026-09-29T09:00:00+00:00"))
    market.submit_records([licence("L-2", "2026-09-18")])
    assert figures("2026-09-29") == 0
    clock.set(datetime.fromisoformat("2026-09-29T23:30:00+00:00"))
    market.submit_records([licence("L-3", "2026-09-18"),
                           penalty_record("P-3", "serious", "2026-09-18")])
    assert figures("2026-09-30") == 2
    # A late publication stays late when the department later withdraws the record.
    market.revise_record(source_record_id="P-3", reason="revoked_on_review")
    assert figures("2026-09-30") == 2
