"""One clock for every decision made by time, and the two time formats funnelwatch writes.

Follow-up SLAs, `every` windows, run timestamps and alert reminders all read
the same `Clock`, handed down from `funnelwatch.run(config, clock=...)`, so a
test moves time for all of them at once instead of patching module globals.

    clock = Clock()
    clock.now()                      # aware datetime, UTC
    iso(clock.now())                 # '2026-11-22T02:00:00Z'   (results, runs)
    stamp(clock.now())               # '2026-11-22T02:00:00.123Z' (the ledger: sortable as text)
    local(clock.now(), "Europe/Berlin")  # 'Sun 22 Nov 2026, 03:00 CET' (report.timezone: the report, the digest)
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


class Clock:
    """The wall clock; subclass (or pass a `FixedClock`) to move time in tests."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), timezone.utc)


class FixedClock(Clock):
    """A clock that stands still at `at` (seconds since the epoch) until moved."""

    def __init__(self, at: float):
        self.at = at

    def time(self) -> float:
        return self.at


SYSTEM_CLOCK = Clock()


def utcnow() -> datetime:
    """Now by the system clock (for code that records, never decides, the time)."""
    return SYSTEM_CLOCK.now()


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC to the second: the format of results and runs."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def stamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds: the ledger's time format, sortable as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """The inverse of `iso` and `stamp` (None for empty text)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def show(moment: datetime) -> str:
    """A time for people in a reason: '2026-11-22 02:00:00 UTC'."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (validated in the schema: `report.timezone`)."""
    return ZoneInfo(name)


def local(moment: datetime, zone_name: str = "UTC", with_year: bool = True) -> str:
    """A time for people in the report's zone: 'Sun 22 Nov 2026, 03:00 CET' (English names, any locale)."""
    at = moment.astimezone(zone(zone_name))
    year = f" {at.year}" if with_year else ""
    return f"{at:%a} {at.day:02d} {_MONTHS[at.month - 1]}{year}, {at:%H:%M} {at.tzname()}"
