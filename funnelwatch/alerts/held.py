"""`shard_alerts: at_report`: a 16-shard night sends one message per channel, not sixteen.

Each `run --shard K/N` stores its results and pings its own heartbeat but
sends no alert; the `funnelwatch report` run once after all shards (the last
step of a CI matrix or a Kubernetes Job) feeds every held shard run's results,
oldest first, through the same alert state a single run would (thresholds,
reminders, recoveries), and each channel gets one message. Which shard runs
were said is kept in the history database (`digests_sent`, name `shard-alerts`,
value `run:<id>`): a second `report` sends nothing again, a shard still running
is left for the next one, and any machine on the shared database may send it.
A shard run is told by its `runs.shard` (`K/N`, schema 9); a run stored before
that has no shard, and its `selection` text (`all checks, shard 1/2`) says it.

    problems = send_held(config, store, clock.now())   # never raises
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..clock import parse_iso
from ..results import RunResult

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

NAME = "shard-alerts"
#: Turned on with no mark yet: shard runs of the last day are said (older ones were alerted, or are old news).
FIRST_LOOK_BACK = timedelta(days=1)
#: How many of the newest runs are looked at (16 shards a night, and then some).
RUNS_LOOKED_AT = 1000
#: How a run stored before `runs.shard` (schema 9) says its shard: at the end of its selection.
_SHARDED = re.compile(r"(?:^|, )shard (\d+/\d+)$")


def shard_of_run(run: dict) -> str | None:
    """The shard (`K/N`) a run ran, or None for an unsharded run: `runs.shard`, else (an older row) its selection."""
    if run.get("shard"):
        return str(run["shard"])
    found = _SHARDED.search(run.get("selection") or "")
    return found.group(1) if found else None


def held_runs(store: "Store", now: datetime) -> list[dict]:
    """Shard runs whose alerts are still unsaid, oldest first, up to the first that is still running."""
    mark = store.digests_sent.last(NAME)
    after = int(mark.split(":", 1)[1]) if mark and mark.startswith("run:") and mark[4:].isdigit() else None
    runs = list(reversed(store.runs(RUNS_LOOKED_AT)))
    held = []
    for run in runs:
        if after is not None and run["id"] <= after or shard_of_run(run) is None:
            continue
        if after is None and (parse_iso(run["started_at"]) or now) < now - FIRST_LOOK_BACK:
            continue
        if run["state"] == "running":
            break  # said with the next report, with the runs after it: alert state moves in run order
        held.append(run)
    return held


def send_held(config: "Config", store: "Store", now: datetime) -> list[str]:
    """One message per channel for every held shard run; the problems sending met."""
    if config.settings.shard_alerts != "at_report" or not config.settings.alerts:
        return []
    from . import send_alerts

    runs = held_runs(store, now)
    if not runs:
        return []
    results = [result for run in runs for result in store.results_for_run(run["id"])]
    counts = {int(str(shard_of_run(run)).split("/")[1]) for run in runs}
    scope = f"{len(runs)} shard run{'s' if len(runs) != 1 else ''}" + (f" of {counts.pop()} shards" if len(counts) == 1 else "")
    outcome = RunResult(runs[-1]["id"], runs[0]["started_at"], runs[-1].get("finished_at"), results,
                        reports_dir=config.settings.reports_dir)
    try:
        problems = send_alerts(config, store, outcome, scope)
    except Exception as exc:  # noqa: BLE001 — the report is built either way
        return [f"the shards' alerts could not be sent (internal error: {type(exc).__name__}); the next report tries again"]
    store.digests_sent.mark(NAME, f"run:{runs[-1]['id']}")  # a channel that failed keeps its state unsaid (it says it next time)
    return problems
