"""Clocks: the gateway takes its time from a Clock so tests can move it."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

#: The city's civil time, in which display periods, due dates and ages are counted:
#: China Standard Time, UTC+8 all year (no daylight saving since 1991).
CITY_TIME = timezone(timedelta(hours=8), "UTC+08:00")


class Clock(Protocol):
    """Anything that tells the current UTC instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and reproducible demos."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The instant the clock was set to."""
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to an instant."""
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by a duration."""
        with self._lock:
            self._now += delta


def local_date(instant: datetime) -> date:
    """The city's calendar date at an instant (a UTC day ends at 08:00 in the city)."""
    return instant.astimezone(CITY_TIME).date()


def city_today(clock: Clock) -> date:
    """The city's calendar date now, according to a clock."""
    return local_date(clock.now())


def rfc3339(instant: datetime) -> str:
    """Format an instant as RFC 3339 UTC with a trailing Z and second precision."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 instant; raises ValueError when it is not one."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("instant without a timezone")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before the first UTC instant
        raise ValueError("instant out of range") from None
