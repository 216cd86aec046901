"""Display periods (展示期限) on every path: the day before, the day of and the day after the end.

An expired record is never returned by a query nor counted by a check, but it stays in
the store as evidence. Court listings last until the court removes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import grpc

from gateway.catalogue.registry import Catalogue
from gateway.clock import FixedClock
from tests.live_gateway import LiveGateway
from tests.services.lifecycle_support import audit_entries, refused
from tests.services.records_data import debtor_record, financial_record, penalty_record
from tests.support import ADULT, OTHER_ADULT


def on(clock: FixedClock, day: str) -> None:
    clock.set(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
              .replace(hour=9))


def shown(live: LiveGateway, category: str, subject: str = ADULT) -> list[str]:
    reply = live.client("org_department").query_subject(subject, "cadre_selection",
                                                        categories=[category])
    return [r.display_end for r in reply.records]


def test_catalogue_display_rules_match_the_plan(catalogue: Catalogue) -> None:
    penalty = catalogue.categories["admin_penalty"]
    assert dict(penalty.display_months) == {"minor": 3, "general": 12, "serious": 36}
    assert penalty.repair is not None
    assert dict(penalty.repair.after_months) == {"minor": 0, "general": 3, "serious": 12}
    financial = catalogue.categories["financial_dishonesty"]
    assert dict(financial.display_months) == {"serious": 60}
    assert financial.display_from == "conduct_end_date" and financial.repair is None
    assert dict(catalogue.categories["dishonest_debtor"].display_months) == {"serious": None}
    for code in ("honour", "volunteer_service", "donation"):
        assert all(m for m in catalogue.categories[code].display_months.values()), code


def test_a_penalty_is_shown_and_counted_through_its_last_day(live: LiveGateway,
                                                             clock: FixedClock) -> None:
    live.client("market_regulator").submit_records([penalty_record("DP-1", "general",
                                                                   "2026-11-01")])
    licensing = live.client("market_regulator")
    for day, expect in (("2027-10-30", True), ("2027-10-31", True), ("2027-11-01", False)):
        on(clock, day)
        assert shown(live, "admin_penalty") == (["2027-10-31"] if expect else []), day
        assert licensing.green_channel(ADULT).eligible is not expect, day
    # Archived, not deleted.
    [kept] = live.gw.store.find_records(
        [live.gw.store.find_record_by_source("market_regulator",  # type: ignore[union-attr]
                                             "DP-1").subject_index], {"admin_penalty"})
    assert kept.display_end == date(2027, 10, 31)


def test_negative_financial_records_count_five_years_from_the_end_of_the_conduct(
        live: LiveGateway, clock: FixedClock) -> None:
    ended = financial_record()
    ended["fields"]["conduct_end_date"] = "2026-03-15"
    live.client("pboc_branch").submit_records([ended, financial_record(OTHER_ADULT)])
    checker = live.client("tax_bureau")
    for day, expect in (("2031-03-13", True), ("2031-03-14", True), ("2031-03-15", False)):
        on(clock, day)
        assert shown(live, "financial_dishonesty") == (["2031-03-14"] if expect else []), day
        assert checker.joint_punishment(ADULT, "financing").restricted is expect, day
    # Without a conduct end date the period runs from the event date (2025-08-01).
    for day, expect in (("2030-07-31", True), ("2030-08-01", False)):
        on(clock, day)
        assert bool(shown(live, "financial_dishonesty", OTHER_ADULT)) is expect, day


def test_a_bad_conduct_end_date_is_refused(live: LiveGateway) -> None:
    for bad in ("2026-13-01", "2027-01-01", "soon"):
        record = financial_record()
        record["fields"]["conduct_end_date"] = bad
        refused(lambda r=record: live.client("pboc_branch").submit_records([r]),
                grpc.StatusCode.INVALID_ARGUMENT, "conduct_end_date")


def test_court_listings_last_until_the_court_removes_them(live: LiveGateway,
                                                          clock: FixedClock) -> None:
    reply = live.client("court").submit_records([debtor_record("DR-1"),
                                                 debtor_record("DR-2", subject=OTHER_ADULT)])
    record_id = reply.results[0].record_id
    on(clock, "2036-05-01")
    assert shown(live, "dishonest_debtor") == [""]
    code = grpc.StatusCode
    refused(lambda: live.client("market_regulator").remove_record(
        record_id=record_id, reason="obligation_performed"), code.PERMISSION_DENIED)
    refused(lambda: live.client("court").remove_record(record_id=record_id, reason="paid"),
            code.INVALID_ARGUMENT, "reason must be one of")
    refused(lambda: live.client("court").remove_record(reason="obligation_performed"),
            code.INVALID_ARGUMENT)
    removed = live.client("court").remove_record(record_id=record_id,
                                                 reason="obligation_performed")
    assert removed.record_id == record_id and removed.removed_at.startswith("2036-05-01")
    assert shown(live, "dishonest_debtor") == []
    assert not live.client("tax_bureau").joint_punishment(ADULT, "high_consumption").restricted
    refused(lambda: live.client("court").remove_record(record_id=record_id,
                                                       reason="obligation_performed"),
            code.FAILED_PRECONDITION, "no longer in use")
    # By its own case number too.
    live.client("court").remove_record(source_record_id="DR-2", reason="decision_revoked")
    assert shown(live, "dishonest_debtor", OTHER_ADULT) == []
    [entry, *_] = [e for e in audit_entries(live, "record.remove") if e.decision == "allow"]
    assert entry.reason.endswith("obligation_performed") and entry.subject_index


def test_records_with_a_display_period_cannot_be_removed(live: LiveGateway) -> None:
    reply = live.client("market_regulator").submit_records([penalty_record("NR-1", "general",
                                                                           "2026-11-01")])
    refused(lambda: live.client("market_regulator").remove_record(
        record_id=reply.results[0].record_id, reason="entered_in_error"),
        grpc.StatusCode.FAILED_PRECONDITION, "display period")


def test_days_are_the_citys_days_not_utc_days(live: LiveGateway, clock: FixedClock) -> None:
    # The city runs on UTC+8: its 28 November starts at 16:00 UTC on the 27th.
    city = timezone(timedelta(hours=8))
    clock.set(datetime(2026, 11, 27, 7, 30, tzinfo=city))
    # 07:30 in the city is still the 26th in UTC: an event of the city's today is no
    # future event.
    live.client("market_regulator").submit_records([penalty_record("DAY-1", "minor",
                                                                   "2026-11-27")])
    # The minor penalty is shown through 2027-02-26 (three months, the day before).
    clock.set(datetime(2027, 2, 26, 23, 30, tzinfo=city))  # still the 26th in the city
    assert shown(live, "admin_penalty") == ["2027-02-26"]
    clock.set(datetime(2027, 2, 27, 1, 0, tzinfo=city))  # the 27th in the city, 26th in UTC
    assert shown(live, "admin_penalty") == []
