"""`report.digest: weekly`: the first run after Monday 08:00 (report.timezone) sends the digest, once.

Cron and `funnelwatch schedule` run checks on their own schedules, not at
08:00 sharp; so the digest rides on whichever run comes first after Monday
08:00 in the report's zone. When it went out is kept in the history database
(`store.digests_sent`), so a second run that morning, a restart or a second
machine on the same database sends nothing again.

    problems = send_if_due(config, store, clock.now())   # never raises
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from ..clock import iso, parse_iso, zone

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

NAME = "weekly"
WEEK_S = 7 * 86400
SEND_AT = time(8, 0)  # Monday 08:00, in report.timezone


def last_monday_morning(now: datetime, zone_name: str) -> datetime:
    """The latest Monday 08:00 in `zone_name` at or before `now` (an aware datetime)."""
    here = now.astimezone(zone(zone_name))
    day = here.date() - timedelta(days=here.weekday())
    moment = datetime.combine(day, SEND_AT, tzinfo=zone(zone_name))
    return moment if moment <= here else datetime.combine(day - timedelta(days=7), SEND_AT, tzinfo=zone(zone_name))


def send_if_due(config: "Config", store: "Store", now: datetime) -> list[str]:
    """Send the week's digest when this is the first run since Monday 08:00; the problems it met.

    Turned on mid-week, it starts counting (the first digest is next
    Monday's); turned on on a Monday morning, that run sends. Sent counts once any channel took it: a channel that was down misses this
    week's digest rather than every other channel getting it twice.
    """
    report = config.settings.report
    if report.digest != "weekly" or not config.settings.alerts:
        return []
    due = last_monday_morning(now, report.timezone)
    last = parse_iso(store.digests_sent.last(NAME))
    if last is not None and last >= due:
        return []
    if last is None and now - due > timedelta(days=1):  # just turned on mid-week: the first digest is next Monday's
        store.digests_sent.mark(NAME, iso(now) or "")
        return []
    from .digest import build_digest, send_digest

    try:
        problems = send_digest(config, build_digest(config, store, WEEK_S, now))
    except Exception as exc:  # noqa: BLE001 — the digest never fails a run
        return [f"the weekly digest could not be built (internal error: {type(exc).__name__}); the next run tries again"]
    if len(problems) < len(config.settings.alerts):
        store.digests_sent.mark(NAME, iso(now) or "")
    return problems
