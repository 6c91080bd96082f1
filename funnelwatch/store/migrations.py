"""The history's schema, one migration per version (append-only).

Migration N brings the schema from version N-1 to N; the version lives in
SQLite's `PRAGMA user_version`. Never edit a released migration: add one.
PostgreSQL's equivalent schema is `postgres_schema.PG_MIGRATIONS`, one entry
per version here (a test holds the two lists to the same length and the same
tables and columns).
"""

from __future__ import annotations

from typing import Callable

import sqlite_utils
from sqlite_utils.db import Table


def table(db: sqlite_utils.Database, name: str) -> Table:
    """A table (never a view) of the history, typed for mypy."""
    found = db[name]
    assert isinstance(found, Table), f"{name} is a view"
    return found


def _v1(db: sqlite_utils.Database) -> None:
    table(db, "runs").create(
        {"id": int, "started_at": str, "finished_at": str, "state": str, "pid": int, "selection": str, "exit_code": int},
        pk="id",
    )
    results = table(db, "results")
    results.create(
        {
            "id": int, "run_id": int, "check_name": str, "file": str, "viewport": str, "status": str,
            "step": str, "category": str, "reason": str, "duration_s": float, "attempts": int,
            "latency_s": float, "token": str, "started_at": str, "kind": str, "tags": str,
            "evidence": str, "artifacts": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    results.create_index(["check_name", "id"])
    results.create_index(["run_id"])
    # The report reads the newest rows of one check/kind/viewport, and counts by time window.
    results.create_index(["check_name", "kind", "viewport", "id"])
    results.create_index(["started_at", "kind", "check_name", "viewport", "status"])
    # The pending ledger (see funnelwatch/ledger.py). A row is written `reserved` before
    # the browser submits (so `every` holds under overlapping runs), becomes `pending` once
    # submitted, and moves on exactly once per transition, guarded by its state.
    # Times are ISO-8601 UTC with milliseconds, so they compare as text.
    probes = table(db, "probes")
    probes.create(
        {
            "id": int, "check_name": str, "file": str, "viewport": str, "token": str, "address": str,
            "reserved_at": str, "submitted_at": str, "sla_deadline": str, "give_up_at": str, "state": str,
            "within_s": float, "rules": str, "reply_at": str, "latency_s": float, "business_latency_s": float,
            "overdue_at": str, "settled_at": str, "run_id": int, "settled_run_id": int, "evidence": str,
        },
        pk="id",
    )
    probes.create_index(["token"], unique=True)
    probes.create_index(["check_name", "reserved_at"])
    probes.create_index(["state"])
    # What each alert channel was told about each (check, viewport); `channel` is a
    # fingerprint of the Apprise URL, never the URL (it holds the webhook token).
    table(db, "alert_state").create(
        {
            "channel": str, "check_name": str, "viewport": str, "funnel": str, "monitor": str,
            "fail_streak": int, "pass_streak": int, "broken_since": str, "funnel_told_at": str,
            "monitor_told_at": str, "updated_at": str,
        },
        pk=("channel", "check_name", "viewport"),
    )


def _v2(db: sqlite_utils.Database) -> None:
    # Which process a run is: its pid alone is not enough (a container's funnelwatch is always PID 1),
    # so the boot id and the process's start time are kept with it (see store._alive).
    table(db, "runs").add_column("process", str)


def _v3(db: sqlite_utils.Database) -> None:
    # One ledger for every channel that answers later: `kind` is the step kind that recorded the probe
    # (null on older rows: they are all follow-ups), `channel` what was probed (a contact address),
    # `message_id` the probe email's Message-ID (replies name it in In-Reply-To), `sent` the question as sent.
    probes = table(db, "probes")
    for column in ("kind", "channel", "message_id", "sent"):
        if column not in probes.columns_dict:
            probes.add_column(column, str)
    probes.create_index(["kind", "state"], if_not_exists=True)


_PROBE_COLUMNS = (
    "id", "check_name", "file", "viewport", "token", "address", "reserved_at", "submitted_at", "sla_deadline",
    "give_up_at", "state", "within_s", "rules", "reply_at", "latency_s", "business_latency_s", "overdue_at",
    "settled_at", "run_id", "settled_run_id", "evidence", "kind", "channel", "message_id", "sent",
)


def _v4(db: sqlite_utils.Database) -> None:
    """History people can explore (Datasette, sqlite-utils): see docs/history.md.

    - A result's evidence (emails, page text: kilobytes each) moves to its own
      `evidence` table, one row per result that has any, so `results` stays a
      table one can browse; the store joins it back for a full result.
    - `probes` gets foreign keys to the runs that submitted and settled them
      (SQLite adds none to a table in place: it is rebuilt, rows and ids kept).
    - Views for the questions people ask first: `latest_results`, `uptime_30d`.
    """
    evidence = table(db, "evidence")
    evidence.create({"result_id": int, "evidence": str}, pk="result_id", foreign_keys=[("result_id", "results", "id")])
    db.execute("insert into evidence (result_id, evidence) select id, evidence from results "
               "where evidence is not null and evidence not in ('', '{}')")
    db.execute("alter table results drop column evidence")

    columns = ", ".join(f"[{c}]" for c in _PROBE_COLUMNS)
    rebuilt = table(db, "probes_v4")
    rebuilt.create(
        {c: t for c, t in zip(_PROBE_COLUMNS, (
            int, str, str, str, str, str, str, str, str, str, str, float, str, str, float, float, str, str, int, int, str,
            str, str, str, str))},
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("settled_run_id", "runs", "id")],
    )
    # A reference to a run that is not there (none is ever deleted) would refuse the copy: it becomes null.
    copied = ", ".join(
        f"case when [{c}] in (select id from runs) then [{c}] end" if c in ("run_id", "settled_run_id") else f"[{c}]"
        for c in _PROBE_COLUMNS
    )
    db.execute(f"insert into probes_v4 ({columns}) select {copied} from probes")
    db.execute("drop table probes")
    db.execute("alter table probes_v4 rename to probes")
    probes = table(db, "probes")
    probes.create_index(["token"], unique=True)
    probes.create_index(["check_name", "reserved_at"])
    probes.create_index(["state"])
    probes.create_index(["kind", "state"])
    probes.create_index(["run_id"])
    probes.create_index(["settled_run_id"])

    # The newest result of every (check, viewport, kind): what the report's overview shows.
    db.execute(LATEST_RESULTS_VIEW)
    # Uptime over the last 30 days as the report counts it: pass and flaky over pass, flaky and fail.
    db.execute(uptime_30d_view())


def _v5_digests_sent(db: sqlite_utils.Database) -> None:
    # When each scheduled digest (`report.digest: weekly`) last went out, so a week's digest is sent once.
    table(db, "digests_sent").create({"name": str, "sent_at": str}, pk="name", if_not_exists=True)


def _v6_maintenance(db: sqlite_utils.Database) -> None:
    """Maintenance windows: a result inside one names it (alerts hold it, uptime skips it), and the
    ad-hoc windows `funnelwatch maintenance start` opens (tags and checks as JSON lists; times ISO UTC).

    `uptime_30d` (from `_v4`) is recreated to leave maintenance-marked results out, as the report does.
    """
    table(db, "results").add_column("maintenance", str)
    table(db, "maintenance_windows").create(
        {"id": int, "starts_at": str, "ends_at": str, "tags": str, "checks": str, "note": str, "created_at": str},
        pk="id",
    )
    table(db, "maintenance_windows").create_index(["ends_at"])
    db.execute("drop view if exists uptime_30d")
    db.execute(uptime_30d_view("and maintenance is null"))


def _v7_run_host(db: sqlite_utils.Database) -> None:
    # Which machine ran a run: a pid means something only there (a shared PostgreSQL history is written by
    # several hosts; a SQLite history by one, so its store still judges every run by pid).
    table(db, "runs").add_column("host", str)


#: The newest result of every (check, viewport, kind): what the report's overview shows (both dialects).
LATEST_RESULTS_VIEW = """
        create view latest_results as
        select r.id, r.run_id, r.check_name, r.viewport, r.kind, r.status, r.step, r.category, r.reason,
               r.started_at, r.duration_s, r.attempts, r.latency_s, r.tags, r.file, r.artifacts
        from results r
        join (select max(id) as id from results group by check_name, viewport, kind) newest on newest.id = r.id
        order by r.check_name, r.viewport, r.kind
    """


def uptime_30d_view(extra_where: str = "", dialect: str = "sqlite") -> str:
    """The `uptime_30d` view: uptime over the last 30 days as the report counts it (pass and flaky over
    pass, flaky and fail), per check and viewport; `extra_where` narrows the rows (`and …`)."""
    sqlite = dialect == "sqlite"
    count_if = "sum({})".format if sqlite else "count(*) filter (where {})".format
    since = ("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-30 days')" if sqlite
             else """to_char(now() at time zone 'UTC' - interval '30 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""")
    passed, counted = "status in ('pass', 'flaky')", "status in ('pass', 'flaky', 'fail')"
    counts = f"""
        select check_name, viewport,
               count(*) as results,
               {count_if(passed)} as passed,
               {count_if("status = 'fail'")} as failed,
               {count_if("status = 'error'")} as errors,
               round(100.0 * {count_if(passed)} / nullif({count_if(counted)}, 0), 1)
                   as uptime_pct,
               min(started_at) as since,
               max(started_at) as last_result_at
        from results
        where kind = 'check' and started_at > {since}
              {extra_where}
        group by check_name, viewport"""
    order = "order by uptime_pct is null, uptime_pct, check_name, viewport"
    # PostgreSQL orders by an output column only by its bare name: the counts are a subquery there.
    return f"create view uptime_30d as {counts}\n        {order}" if sqlite else \
        f"create view uptime_30d as select * from ({counts}) counted {order}"


def _v8_report_pages(db: sqlite_utils.Database) -> None:
    """What each funnel page of the report was last built from, so a build re-renders only the pages whose
    funnel has new results (or whose page changed otherwise): `report/__init__.py`, `funnelwatch report --full`."""
    table(db, "report_pages").create(
        {"slug": str, "check_name": str, "last_result_id": int, "signature": str, "index_rows": str, "built_at": str},
        pk="slug",
    )


def _v9_run_shard(db: sqlite_utils.Database) -> None:
    # Which shard a run ran (`K/N`; null for an unsharded run, and for runs before this version, whose
    # `selection` text says it): `shard_alerts: at_report` finds the held shard runs by it.
    table(db, "runs").add_column("shard", str)


#: Append-only: migration N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5_digests_sent, _v6_maintenance, _v7_run_host,
                                                             _v8_report_pages, _v9_run_shard]
