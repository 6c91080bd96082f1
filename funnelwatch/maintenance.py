"""Maintenance windows: deploy nights when checks still run but nobody is paged.

A window is recurring (`Sun 01:00-03:00 Europe/Berlin`, the business-hours
syntax: days, a time range that ends the same day, an optional zone) or
one-off (`start`/`end`, ISO times; without an offset they are UTC). It covers
every check, or only those with one of its `tags` or `checks`. Windows come
from `maintenance:` in config/funnelwatch.yaml, from `maintenance:` in a
check file (that check only) and from `funnelwatch maintenance start --for
2h`, which the history database keeps. A result that falls in one is marked
with the window: the alerts hold it back and the uptime leaves it out.

    calendar = Calendar.of(config, stored=store.maintenance.active(now))
    calendar.covering("HIPAA checklist", ["google-ads"], now)   # 'Sun 01:00-03:00 Europe/Berlin' or None
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable

from .business_hours import BusinessHours

if TYPE_CHECKING:
    from .config import Config


def parse_moment(text: str) -> datetime:
    """An ISO time (`2026-12-24T18:00+01:00`, `2026-12-24 18:00`, `…Z`); without an offset it is UTC. Raises ValueError."""
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not a time; write it like 2026-12-24T18:00+01:00 (ISO, with its offset)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Window:
    """One maintenance window and what it covers (no tags and no checks: everything)."""

    text: str
    weekly: BusinessHours | None = None
    start: datetime | None = None
    end: datetime | None = None
    tags: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()

    @classmethod
    def from_setting(cls, entry: Any, only_check: str | None = None) -> "Window":
        """From a validated `maintenance:` entry (schema.MaintenanceWindow); `only_check` for a check file's own."""
        checks = (only_check,) if only_check else tuple(entry.checks)
        if entry.weekly:
            return cls(entry.weekly, weekly=BusinessHours.parse(entry.weekly), tags=tuple(entry.tags), checks=checks)
        start, end = parse_moment(entry.start), parse_moment(entry.end)
        return cls(f"{entry.start} – {entry.end}", start=start, end=end, tags=tuple(entry.tags), checks=checks)

    def covers(self, moment: datetime) -> bool:
        if self.weekly is not None:
            return self.weekly.seconds_between(moment, moment + timedelta(seconds=1)) > 0
        return self.start is not None and self.end is not None and self.start <= moment < self.end

    def applies_to(self, check: str, tags: Iterable[str]) -> bool:
        if not self.tags and not self.checks:
            return True
        return check in self.checks or bool(set(self.tags) & set(tags))


@dataclass
class Calendar:
    """Every window that applies to a run."""

    windows: list[Window]

    @classmethod
    def of(cls, config: "Config", stored: Iterable[dict[str, Any]] = ()) -> "Calendar":
        windows = [Window.from_setting(entry) for entry in config.settings.maintenance]
        for check in config.checks:
            windows += [Window.from_setting(entry, only_check=check.name) for entry in check.spec.maintenance]
        for row in stored:
            windows.append(stored_window(row))
        return cls(windows)

    def covering(self, check: str, tags: Iterable[str], *moments: datetime) -> str | None:
        """The first window covering this check at any of `moments` (shown as its text), else None."""
        tags = list(tags)
        for window in self.windows:
            if window.applies_to(check, tags) and any(window.covers(m) for m in moments):
                return window.text
        return None


def stored_window(row: dict[str, Any]) -> Window:
    """A window `funnelwatch maintenance start` stored (start/end ISO, tags and checks as lists)."""
    start, end = parse_moment(row["starts_at"]), parse_moment(row["ends_at"])
    note = f" ({row['note']})" if row.get("note") else ""
    scope = (" for " + ", ".join([f"tag {t}" for t in row["tags"]] + list(row["checks"]))) if (row["tags"] or row["checks"]) else ""
    text = f"ad-hoc {start.strftime('%Y-%m-%dT%H:%MZ')} – {end.strftime('%Y-%m-%dT%H:%MZ')}{scope}{note}"
    return Window(text, start=start, end=end, tags=tuple(row["tags"]), checks=tuple(row["checks"]))
