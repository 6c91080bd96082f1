"""When the next scheduled run is due, for the report's headline.

Only a hint: the report cannot know whether `funnelwatch schedule` or cron is
actually running, so it says what the config asks for and never fails on a
schedule it cannot read.

    next_run(["daily at 02:00"], now)  # "2026-11-23T02:00:00Z"
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..clock import iso

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _next_at(at: str, days: tuple[str, ...], tz: str | None, now: datetime) -> datetime:
    zone = ZoneInfo(tz) if tz else timezone.utc
    local = now.astimezone(zone)
    hour, minute = (int(p) for p in at.split(":"))
    for offset in range(0, 8):
        day = (local + timedelta(days=offset)).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if day > local and (not days or DAYS[day.weekday()] in days):
            return day.astimezone(timezone.utc)
    return (local + timedelta(days=1)).astimezone(timezone.utc)


def next_run(schedules: list[str], now: datetime) -> str | None:
    """The soonest time of day any schedule is due (ISO, UTC); None for intervals or unreadable ones."""
    try:
        from ..schedules import parse_schedule
    except ImportError:  # pragma: no cover - schedules module not present
        return None
    soonest: datetime | None = None
    for text in set(schedules):
        try:
            parsed = parse_schedule(text)
            if parsed.at is None:
                continue  # an interval's next tick depends on when the daemon started
            due = _next_at(parsed.at, parsed.days, parsed.tz, now)
        except Exception:
            continue
        soonest = due if soonest is None or due < soonest else soonest
    return iso(soonest) if soonest else None
