"""Business hours: the SLA clock sales teams actually promise ("within 4 business hours").

A follow-up SLA with `hours: Mon-Fri 09:00-17:00 Europe/Berlin` only counts
time inside those hours, in that time zone, skipping `holidays`: local dates
(`2026-12-25`) and country or region codes (`DE-BY`, `US`, `GB-SCT`), whose
public holidays come from the maintained `holidays` package.
Arithmetic is done per local day and converted to UTC with zoneinfo, so a
weekend or a daylight-saving change between submission and reply is counted
as the sales team experiences it, not as 24-hour blocks.

    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Berlin", holidays=["DE-BY", "2026-12-24"])
    deadline = hours.add(submitted_at, 4 * 3600)       # 4 business hours later
    spent = hours.seconds_between(submitted_at, reply_at)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})(?:\s+(?P<zone>\S+))?\s*$")
#: How far ahead `add` looks for enough business time before giving up (a config with no open day).
_HORIZON_DAYS = 3 * 366
_REGION = re.compile(r"^([A-Za-z]{2})(?:-([A-Za-z0-9]{1,3}))?$")


@lru_cache(maxsize=64)
def region_holidays(code: str) -> Any:
    """The public holidays of a country (`US`) or one of its regions (`DE-BY`); raises ValueError for an unknown code."""
    import holidays

    match = _REGION.match(code)
    if not match:
        raise ValueError(f"holiday '{code}' is not a date or a country code")
    country, region = match[1].upper(), match[2].upper() if match[2] else None
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"holiday '{code}': there is no holiday calendar for the country {country} — use an ISO "
                         "country code like DE, US or GB, or list the dates")
    if region is not None and region not in supported[country]:
        known = ", ".join(f"{country}-{s}" for s in supported[country][:8])
        raise ValueError(f"holiday '{code}': {country} has no region {region} — write it like {known}, or {country}")
    return holidays.country_holidays(country, subdiv=region)


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours on some weekdays in one time zone, minus holidays."""

    weekdays: frozenset[int]
    opens: time
    closes_s: int
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()
    text: str = ""
    #: Country or region codes whose public holidays are days off too (`DE-BY`, `US`).
    regions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, holidays: Iterable[str] = ()) -> "BusinessHours":
        """Read `Mon-Fri 09:00-17:00 Europe/Berlin`; the zone is optional (UTC). Raises ValueError."""
        match = _SPEC.match(text or "")
        if not match:
            raise ValueError(f"'{text}' is not business hours; write it like 'Mon-Fri 09:00-17:00 Europe/Berlin'")
        weekdays = _weekdays(match["days"])
        opens_s, closes_s = _clock(match["open"]), _clock(match["close"])
        if closes_s <= opens_s:
            raise ValueError(f"'{text}': closing time {match['close']} must be after opening time {match['open']}")
        zone_name = match["zone"] or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{zone_name}' is not a time zone; use an IANA name such as Europe/Berlin or America/New_York") from None
        days_off, regions = set(), []
        for item in holidays:
            cleaned = str(item).strip()
            if _REGION.match(cleaned):
                region_holidays(cleaned.upper())
                regions.append(cleaned.upper())
                continue
            try:
                days_off.add(date.fromisoformat(cleaned))
            except ValueError:
                raise ValueError(f"holiday '{item}' is not a date or a country/region code; write it like "
                                 "2026-12-25, DE-BY or US") from None
        opens = time(opens_s // 3600, opens_s % 3600 // 60)
        return cls(frozenset(weekdays), opens, closes_s, zone, frozenset(days_off), text.strip(), tuple(regions))

    def is_day_off(self, day: date) -> bool:
        """A holiday: a listed date, or a public holiday of a listed country or region."""
        return day in self.holidays or any(day in region_holidays(code) for code in self.regions)

    @property
    def day_length_s(self) -> int:
        return self.closes_s - (self.opens.hour * 3600 + self.opens.minute * 60)

    def intervals(self, start: datetime, end: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) overlapping [start, end), clipped to it; endless when end is None."""
        start = _aware(start)
        end = _aware(end) if end is not None else None
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1) if end is not None else day + timedelta(days=_HORIZON_DAYS)
        while day <= last:
            if day.weekday() in self.weekdays and not self.is_day_off(day):
                opening = _local(day, self.opens, self.zone)
                closing = _local(day, time(0), self.zone, plus_s=self.closes_s)
                lo, hi = max(opening, start), closing if end is None else min(closing, end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds from `start` to `end` (0 when end is not after start)."""
        if _aware(end) <= _aware(start):
            return 0.0
        return sum((hi - lo).total_seconds() for lo, hi in self.intervals(start, end))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of business time have passed after `start` (UTC)."""
        remaining = max(0.0, seconds)
        for lo, hi in self.intervals(start):
            length = (hi - lo).total_seconds()
            if remaining <= length:
                return lo + timedelta(seconds=remaining)
            remaining -= length
        raise ValueError(f"business hours '{self.text}' leave no open time in the next {_HORIZON_DAYS} days")


def _weekdays(text: str) -> set[int]:
    days: set[int] = set()
    for part in (p.strip() for p in text.replace(" ", "").split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        a, b = _day(first), _day(last or first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    if not days:
        raise ValueError(f"'{text}' names no weekdays; write them like Mon-Fri or Mon,Wed,Fri")
    return days


def _day(name: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES or len(name.strip()) < 3:
        raise ValueError(f"'{name}' is not a weekday; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    return DAY_NAMES.index(key)


def _clock(text: str) -> int:
    hours, minutes = (int(p) for p in text.split(":"))
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
        raise ValueError(f"'{text}' is not a time of day; write it like 09:00 or 17:30")
    return hours * 3600 + minutes * 60


def _local(day: date, at: time, zone: ZoneInfo, plus_s: int = 0) -> datetime:
    """Local wall time `at` (+ plus_s, which may reach 24:00) on `day`, as UTC."""
    if plus_s:
        extra_days, rest = divmod(plus_s, 86400)
        day, at = day + timedelta(days=extra_days), time(rest // 3600, rest % 3600 // 60)
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
