"""Display periods (展示期限): the last day a record may be shown or used."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta

from gateway.catalogue.registry import Category


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def display_start(category: Category, event_date: date,
                  fields: Mapping[str, str] | None = None) -> date:
    """The day the display period runs from: the catalogue's display_from date, if given.

    Negative financial records count from the end of the conduct (conduct_end_date);
    without it, and for every other category, from the event (decision) date. Raises
    ValueError when the display_from value is not a date (validation refuses it first).
    """
    if category.display_from and fields and (value := fields.get(category.display_from)):
        return date.fromisoformat(value.strip())
    return event_date


def display_end(category: Category, severity: str, event_date: date,
                fields: Mapping[str, str] | None = None) -> date | None:
    """Last day of display for a record; None when it lasts until the provider removes it."""
    months = category.display_months[severity]
    if months is None:
        return None
    # The period runs from its start; the record is shown through the day before the
    # same calendar day `months` later.
    return add_months(display_start(category, event_date, fields), months) - timedelta(days=1)


def is_displayable(end: date | None, today: date) -> bool:
    """True while a record is within its display period."""
    return end is None or today <= end
