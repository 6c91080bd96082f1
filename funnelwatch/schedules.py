"""Readable schedules (`daily at 02:00 Europe/Berlin`) → `schedule` package jobs and crontab fields.

One parser serves three readers: the config schema (a bad string is a
validation error with examples), the `funnelwatch schedule` daemon (jobs on a
`schedule.Scheduler`) and `funnelwatch cron` (crontab time fields).

    parsed = parse_schedule("weekdays at 09:30 Europe/Berlin")
    parsed.add_jobs(scheduler, run_check, "HIPAA checklist")
    parsed.cron_fields()  # "30 9 * * 1-5"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXAMPLES = ("every 15 minutes", "every 6 hours", "daily at 02:00", "weekdays at 09:30", "mondays at 08:00",
            "daily at 02:00 Europe/Berlin")

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_GROUPS = {"daily": (), "weekdays": DAYS[:5], "weekends": DAYS[5:]}

_EVERY = re.compile(r"^every\s+(?:(\d+)\s+)?(minute|minutes|hour|hours)$")
_AT = re.compile(r"^(\w+)\s+at\s+(\d{1,2}):(\d{2})(?:\s+(\S+))?$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: an interval (`every N minutes|hours`) or a time of day on some days."""

    text: str
    interval: int = 0
    unit: str = ""  # "minutes" | "hours" for interval schedules
    days: tuple[str, ...] = ()  # () with `at` = every day
    at: str | None = None  # "HH:MM"
    tz: str | None = None

    def add_jobs(self, scheduler: Any, func: Callable[..., Any], *args: Any) -> list[Any]:
        """Add this schedule's jobs to a `schedule.Scheduler` (one per weekday for `weekdays`)."""
        if self.at is None:
            return [getattr(scheduler.every(self.interval), self.unit).do(func, *args)]
        if not self.days:
            return [scheduler.every().day.at(self.at, self.tz).do(func, *args)]
        return [getattr(scheduler.every(), day).at(self.at, self.tz).do(func, *args) for day in self.days]

    def cron_fields(self) -> str:
        """The five crontab time fields (minute hour day month weekday), in the schedule's own zone."""
        if self.at is None:
            if self.unit == "minutes":
                return "* * * * *" if self.interval == 1 else f"*/{self.interval} * * * *"
            return "0 * * * *" if self.interval == 1 else f"0 */{self.interval} * * *"
        hour, minute = (int(p) for p in self.at.split(":"))
        return f"{minute} {hour} * * {_cron_days(self.days)}"

    @property
    def cron_exact(self) -> bool:
        """False when cron can only approximate the interval (`every 7 minutes` restarts each hour)."""
        if self.at is not None:
            return True
        return (60 if self.unit == "minutes" else 24) % self.interval == 0


def parse_schedule(text: str) -> Schedule:
    """Parse a readable schedule; raise ValueError naming valid examples."""
    if not isinstance(text, str):
        raise ValueError(_bad(text, "expected text"))
    cleaned = " ".join(text.strip().split())
    lowered = cleaned.lower()
    every = _EVERY.match(lowered)
    if every:
        count, unit = int(every.group(1) or 1), every.group(2).rstrip("s") + "s"
        limit = 59 if unit == "minutes" else 23
        if not 1 <= count <= limit:
            raise ValueError(_bad(text, f"every N {unit} takes N from 1 to {limit}"))
        return Schedule(cleaned, interval=count, unit=unit)
    if lowered.startswith("every ") and " at " not in lowered:
        raise ValueError(_bad(text, "intervals are minutes or hours; use 'daily at HH:MM' for days"))
    at = _AT.match(cleaned)
    if not at:
        raise ValueError(_bad(text, "not a schedule funnelwatch understands"))
    word, hour, minute, tz = at.group(1).lower(), int(at.group(2)), int(at.group(3)), at.group(4)
    days = _days(word)
    if days is None:
        raise ValueError(_bad(text, f"'{at.group(1)}' is not daily, weekdays, weekends or a day such as mondays"))
    if hour > 23 or minute > 59:
        raise ValueError(_bad(text, f"{hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)"))
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(_bad(text, f"'{tz}' is not a time zone; use a name such as Europe/Berlin or America/New_York")) from None
    return Schedule(cleaned, days=days, at=f"{hour:02d}:{minute:02d}", tz=tz)


def check_schedule(text: str | None) -> str | None:
    """Pydantic validator: keep the text, fail early on a schedule that would not parse."""
    if text is None:
        return None
    return parse_schedule(text).text


def _days(word: str) -> tuple[str, ...] | None:
    if word in _DAY_GROUPS:
        return _DAY_GROUPS[word]
    day = word[:-1] if word.endswith("s") else word
    return (day,) if day in DAYS else None


def _cron_days(days: tuple[str, ...]) -> str:
    if not days:
        return "*"
    numbers = sorted((DAYS.index(d) + 1) % 7 for d in days)
    if days == DAYS[:5]:
        return "1-5"
    return ",".join(str(n) for n in numbers)


def _bad(text: Any, why: str) -> str:
    return f"'{text}' is not a valid schedule ({why}) — write it like " + ", ".join(f"'{e}'" for e in EXAMPLES)
