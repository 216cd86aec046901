"""The working-day calendar (工作日) for deadlines the rules count in working days.

双公示: administrative licences and penalties are published within 7 working days of the
decision (自作出行政决定之日起7个工作日内). A working day is a Monday to Friday that is not
a statutory holiday (法定节假日), or a weekend day the State Council's holiday notice
makes a working day (调休上班). The catalogue's [working_calendar] holds the notices'
dates; a year it does not list counts weekends only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gateway.errors import ConfigurationError

#: The longest range one entry of days_off may span (the longest holiday is 9 days).
MAX_RANGE_DAYS = 31
_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Statutory days off and make-up working days, from the catalogue."""

    days_off: frozenset[date] = frozenset()
    working_weekends: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        """Whether public authorities work on this day."""
        if day in self.working_weekends:
            return True
        return day.weekday() < _SATURDAY and day not in self.days_off

    def working_days_after(self, start: date, end: date) -> int:
        """The working days after ``start`` up to and including ``end`` (0 when end is
        not later): the day a decision is made is not counted, the day it is met is."""
        count = 0
        day = start + timedelta(days=1)
        while day <= end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count


def _dates(entries: Any, key: str) -> Iterable[date]:
    where = f"catalogue.toml [working_calendar] {key}"
    if not isinstance(entries, list):
        raise ConfigurationError(f"{where} must be a list of dates")
    for entry in entries:
        text = str(entry)
        first, sep, last = text.partition("..")
        try:
            start = date.fromisoformat(first)
            end = date.fromisoformat(last) if sep else start
        except ValueError:
            raise ConfigurationError(f"{where}: '{text}' is not YYYY-MM-DD or "
                                     "YYYY-MM-DD..YYYY-MM-DD") from None
        if not 0 <= (end - start).days < MAX_RANGE_DAYS:
            raise ConfigurationError(f"{where}: '{text}' is not a range of 1 to "
                                     f"{MAX_RANGE_DAYS} days")
        yield from (start + timedelta(days=n) for n in range((end - start).days + 1))


def parse_working_calendar(raw: Mapping[str, Any] | None) -> WorkingCalendar:
    """The [working_calendar] table; raises ConfigurationError on a bad date, a make-up
    working day that is no weekend day, or a day listed both off and working."""
    if raw is None:
        return WorkingCalendar()
    off = frozenset(_dates(raw.get("days_off", []), "days_off"))
    working = frozenset(_dates(raw.get("working_weekends", []), "working_weekends"))
    weekdays = sorted(d.isoformat() for d in working if d.weekday() < _SATURDAY)
    if weekdays:
        raise ConfigurationError("catalogue.toml [working_calendar] working_weekends: "
                                 f"not a weekend day: {', '.join(weekdays)}")
    both = sorted(d.isoformat() for d in off & working)
    if both:
        raise ConfigurationError("catalogue.toml [working_calendar]: listed both off and "
                                 f"working: {', '.join(both)}")
    return WorkingCalendar(days_off=off, working_weekends=working)
