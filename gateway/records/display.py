"""Display periods (展示期限): the last day a record may be shown or used."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from gateway.records.catalogue import Category


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def display_end(category: Category, severity: str, event_date: date) -> date | None:
    """Last day of display for a record; None when it lasts until the provider removes it."""
    months = category.display_months[severity]
    if months is None:
        return None
    # The period runs from the event date; the record is shown through the day before
    # the same calendar day `months` later.
    return add_months(event_date, months) - timedelta(days=1)


def is_displayable(end: date | None, today: date) -> bool:
    """True while a record is within its display period."""
    return end is None or today <= end
