"""Say it once: what one channel should be told about one (check, viewport) after one result.

Each channel keeps its own state per check and viewport (thresholds and
reminders are per channel). Two independent tracks:

- the funnel: `ok` → `broken` after `failure_threshold` consecutive `fail`
  results, back to `ok` after `success_threshold` consecutive passes;
- the monitor: `ok` → `problem` on an `error` result (funnelwatch could not
  check), back to `ok` on any result that did check.

`flaky` and `pending` never alert (a flaky run does end a failure streak, as
it did work in the end). While broken, a reminder is due every `remind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import iso, parse_iso
from ..results import CheckResult, Status
from ..schema import AlertChannel

#: Event kind → the `on:` values that let a channel hear it.
HEARD_BY = {
    "broken": ("broken",),
    "reminder": ("reminder", "broken"),
    "recovered": ("recovered",),
    "error": ("error",),
    "error_reminder": ("reminder", "error"),
    "monitor_ok": ("error",),
}


@dataclass
class Event:
    """Something a channel should hear about a result; `since` is when the trouble began."""

    kind: str
    result: CheckResult
    since: str | None = None


def blank(channel_id: str, check: str, viewport: str) -> dict[str, Any]:
    """The state of a (check, viewport) a channel has never been told about."""
    return {
        "channel": channel_id, "check_name": check, "viewport": viewport, "funnel": "ok",
        "monitor": "ok", "fail_streak": 0, "pass_streak": 0, "broken_since": None, "funnel_told_at": None,
        "monitor_told_at": None, "updated_at": None,
    }


def advance(row: dict[str, Any], result: CheckResult, channel: AlertChannel, now: datetime) -> tuple[dict[str, Any], list[Event]]:
    """The state after `result`, and the events it calls for (not yet filtered by `on:`)."""
    row = dict(row, updated_at=iso(now))
    events: list[Event] = []
    status = result.status
    if status is Status.ERROR:
        if row["monitor"] != "problem":
            row.update(monitor="problem", monitor_told_at=iso(now))
            events.append(Event("error", result))
        elif _due(row["monitor_told_at"], channel.remind, now):
            row["monitor_told_at"] = iso(now)
            events.append(Event("error_reminder", result))
        return row, events
    if row["monitor"] == "problem" and status is not Status.PENDING:
        row.update(monitor="ok", monitor_told_at=None)
        events.append(Event("monitor_ok", result))
    if status is Status.FAIL:
        row.update(fail_streak=row["fail_streak"] + 1, pass_streak=0)
        if row["funnel"] != "broken" and row["fail_streak"] >= channel.failure_threshold:
            since = result.started_at or iso(now)
            row.update(funnel="broken", broken_since=since, funnel_told_at=iso(now))
            events.append(Event("broken", result, since))
        elif row["funnel"] == "broken" and _due(row["funnel_told_at"], channel.remind, now):
            row["funnel_told_at"] = iso(now)
            events.append(Event("reminder", result, row["broken_since"]))
    elif status is Status.PASS:
        row.update(pass_streak=row["pass_streak"] + 1, fail_streak=0)
        if row["funnel"] == "broken" and row["pass_streak"] >= channel.success_threshold:
            events.append(Event("recovered", result, row["broken_since"]))
            row.update(funnel="ok", broken_since=None, funnel_told_at=None)
    elif status is Status.FLAKY:
        row.update(fail_streak=0)
    return row, events


def unsaid(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The row to keep when the message did not go out: streaks advance, nothing counts as told."""
    return dict(old, fail_streak=new["fail_streak"], pass_streak=new["pass_streak"], updated_at=new["updated_at"])


def heard(event: Event, channel: AlertChannel) -> bool:
    if event.kind in ("reminder", "error_reminder") and channel.remind is None:
        return False
    return any(on in channel.on for on in HEARD_BY[event.kind])


def _due(told_at: str | None, remind: float | None, now: datetime) -> bool:
    if remind is None:
        return False
    told = parse_iso(told_at)
    return told is None or (now - told).total_seconds() >= remind
