"""The working-day calendar (工作日) and the 双公示 legal time counted in it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.catalogue.calendar import WorkingCalendar, parse_working_calendar
from gateway.catalogue.registry import Catalogue
from gateway.errors import ConfigurationError
from gateway.supervision.figures import published_late
from tests.catalogue.test_catalogue import refused_with

D = date.fromisoformat


def test_the_2026_notice_days_off_and_make_up_days(catalogue: Catalogue) -> None:
    calendar = catalogue.lifecycle.working_calendar
    assert not calendar.is_working_day(D("2026-10-05"))  # National Day, a Monday
    assert calendar.is_working_day(D("2026-10-10"))  # a Saturday made a working day
    assert calendar.is_working_day(D("2026-09-20"))  # a Sunday made a working day
    assert not calendar.is_working_day(D("2026-02-23"))  # the 9 days of Spring Festival
    assert not calendar.is_working_day(D("2026-11-28"))  # an ordinary Saturday
    assert calendar.is_working_day(D("2025-01-26"))  # the 2025 notice too


def test_working_days_after_a_decision(catalogue: Catalogue) -> None:
    calendar = catalogue.lifecycle.working_calendar
    # Decided on Wednesday 30 September: the holiday week does not count, Saturday
    # 10 October does; Monday 12 October is the 4th working day.
    assert calendar.working_days_after(D("2026-09-30"), D("2026-10-12")) == 4
    # Decided on Friday 18 September: Sunday the 20th is a working day, the Mid-Autumn
    # weekend is not; the 29th is the 7th working day, the 30th the 8th.
    assert calendar.working_days_after(D("2026-09-18"), D("2026-09-29")) == 7
    assert calendar.working_days_after(D("2026-09-18"), D("2026-09-30")) == 8
    assert calendar.working_days_after(D("2026-09-18"), D("2026-09-18")) == 0
    assert calendar.working_days_after(D("2026-09-18"), D("2026-09-01")) == 0
    # Without a notice, weekends only.
    assert WorkingCalendar().working_days_after(D("2027-10-01"), D("2027-10-08")) == 5


def test_the_legal_time_of_licences_and_penalties_is_seven_working_days(
        catalogue: Catalogue) -> None:
    calendar = catalogue.lifecycle.working_calendar
    for code in ("admin_licence", "admin_penalty"):
        category = catalogue.categories[code]
        assert category.publish_within_working_days == 7 and not category.publish_within_days
        # Twelve calendar days, but only four working days: in time.
        assert not published_late(category, D("2026-09-30"), D("2026-10-12"), calendar)
        assert not published_late(category, D("2026-09-18"), D("2026-09-29"), calendar)
        assert published_late(category, D("2026-09-18"), D("2026-09-30"), calendar)
    # A category without a legal time is never late.
    assert not published_late(catalogue.categories["dishonest_debtor"], D("2020-01-01"),
                              D("2026-01-01"), calendar)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"days_off": ["2026-13-01"]}, "is not YYYY-MM-DD"),
        ({"days_off": ["2026-10-07..2026-10-01"]}, "not a range"),
        ({"days_off": ["2026-01-01..2026-03-01"]}, "not a range"),
        ({"days_off": "2026-10-01"}, "must be a list"),
        ({"working_weekends": ["2026-10-09"]}, "not a weekend day: 2026-10-09"),
        ({"days_off": ["2026-10-10"], "working_weekends": ["2026-10-10"]}, "both off"),
    ],
)
def test_a_broken_calendar_is_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_working_calendar(raw)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[working_calendar]\ndays_off", "[working_calendar]\nholidays", "unknown key"),
        ("public = true\npublish_within_working_days = 7",
         "public = false\npublish_within_working_days = 7", "is for a public category"),
        ("publish_within_working_days = 7", "publish_within_working_days = 7\n"
         "publish_within_days = 10", "once, in days or in working days"),
        ("publish_within_working_days = 7", "publish_within_working_days = -1",
         "whole number of days"),
    ],
)
def test_a_broken_legal_time_is_refused(tmp_path: Path, old: str, new: str,
                                        message: str) -> None:
    refused_with(tmp_path, "catalogue.toml", old, new, message)
