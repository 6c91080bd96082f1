"""History in SQLite: the only module that talks SQL.

Tables: `runs`, `results` (one row per check per viewport per run, plus settled
follow-ups), `probes` (the follow-up ledger) and whatever later migrations add.
WAL mode, schema versioned through `PRAGMA user_version`, each result written
in its own transaction so a killed run loses nothing already finished; a run
still marked `running` whose process is gone is marked `incomplete` on open.

    store = Store("reports/history.db")
    run_id = store.begin_run("all checks")
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

from .errors import FunnelwatchError
from .results import Category, CheckResult, Status
from .redaction import redact, redact_deep


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _v1(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {"id": int, "started_at": str, "finished_at": str, "state": str, "pid": int, "selection": str, "exit_code": int},
        pk="id",
    )
    db["results"].create(
        {
            "id": int, "run_id": int, "check_name": str, "file": str, "viewport": str, "status": str,
            "step": str, "category": str, "reason": str, "duration_s": float, "attempts": int,
            "latency_s": float, "token": str, "started_at": str, "kind": str, "tags": str,
            "evidence": str, "artifacts": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["results"].create_index(["check_name", "id"])
    db["results"].create_index(["run_id"])
    # The report reads the newest rows of one check/kind/viewport, and counts by time window.
    db["results"].create_index(["check_name", "kind", "viewport", "id"])
    db["results"].create_index(["started_at", "kind", "check_name", "viewport", "status"])
    # The follow-up ledger. A row is written `reserved` before the browser submits
    # (so `every` holds under overlapping runs), becomes `pending` once submitted,
    # and moves on exactly once per transition, guarded by its state (see PROBE_STATES).
    # Times are ISO-8601 UTC with milliseconds, so they compare as text.
    db["probes"].create(
        {
            "id": int, "check_name": str, "file": str, "viewport": str, "token": str, "address": str,
            "reserved_at": str, "submitted_at": str, "sla_deadline": str, "give_up_at": str, "state": str,
            "within_s": float, "rules": str, "reply_at": str, "latency_s": float, "business_latency_s": float,
            "overdue_at": str, "settled_at": str, "run_id": int, "settled_run_id": int, "evidence": str,
        },
        pk="id",
    )
    db["probes"].create_index(["token"], unique=True)
    db["probes"].create_index(["check_name", "reserved_at"])
    db["probes"].create_index(["state"])
    # What each alert channel was told about each (check, viewport); `channel` is a
    # fingerprint of the Apprise URL, never the URL (it holds the webhook token).
    db["alert_state"].create(
        {
            "channel": str, "check_name": str, "viewport": str, "funnel": str, "monitor": str,
            "fail_streak": int, "pass_streak": int, "broken_since": str, "funnel_told_at": str,
            "monitor_told_at": str, "updated_at": str,
        },
        pk=("channel", "check_name", "viewport"),
    )


#: Append-only: migration N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass
class Probe:
    """A submitted follow-up probe, as the ledger holds it (see PROBE_STATES)."""

    id: int
    check_name: str
    file: str
    viewport: str
    token: str
    address: str
    submitted_at: datetime
    sla_deadline: datetime
    give_up_at: datetime
    state: str
    within_s: float
    rules: dict[str, Any]
    run_id: int | None = None
    reply_at: datetime | None = None
    latency_s: float | None = None
    business_latency_s: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Probe":
        return cls(
            id=row["id"], check_name=row["check_name"], file=row["file"] or "", viewport=row["viewport"] or "desktop",
            token=row["token"], address=row["address"], submitted_at=_when(row["submitted_at"]),
            sla_deadline=_when(row["sla_deadline"]), give_up_at=_when(row["give_up_at"]), state=row["state"],
            within_s=row["within_s"] or 0.0, rules=json.loads(row["rules"] or "{}"), run_id=row["run_id"],
            reply_at=parse_iso(row["reply_at"]), latency_s=row["latency_s"], business_latency_s=row["business_latency_s"],
        )


#: reserved → pending → passed | late | overdue → late | missing; reserved → released | aborted.
PROBE_STATES = {
    "reserved": "a run is about to submit (counts towards `every`)",
    "released": "the run stopped before submitting (does not count)",
    "aborted": "the form was submitted but the funnel failed before the probe was recorded (counts, never settled)",
    "pending": "submitted, SLA window open, no human reply yet",
    "overdue": "SLA passed without a human reply (reported missing_followup), still watched until give-up",
    "passed": "a human replied within the SLA",
    "late": "a human replied after the SLA",
    "missing": "no human reply until give-up",
}
OPEN_PROBE_STATES = ("pending", "overdue")
SETTLED_PROBE_STATES = ("passed", "late", "overdue", "missing")


@dataclass
class FollowupStats:
    """Follow-up figures of one check over its last probes, for the report and `history`.

    Latencies are wall-clock seconds from submission to the first human reply,
    over probes that got a reply; `within_sla_share` counts every settled probe
    (a missing follow-up is not within SLA). `business_*` are set when the
    check has `hours:`.
    """

    check_name: str
    probes: int = 0
    replied: int = 0
    missing: int = 0
    last_state: str | None = None
    last_latency_s: float | None = None
    median_latency_s: float | None = None
    p90_latency_s: float | None = None
    within_sla_share: float | None = None
    business_median_latency_s: float | None = None
    business_p90_latency_s: float | None = None
    open_probes: int = 0


def stamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds: the ledger's time format, sortable as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _when(text: str | None) -> datetime:
    moment = parse_iso(text)
    assert moment is not None, "probe without a time"
    return moment


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Store:
    def __init__(self, path: str | os.PathLike[str], readonly_ok: bool = False):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._refuse_newer_schema()
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self._mark_abandoned_runs()
        except sqlite3.DatabaseError as exc:
            raise FunnelwatchError(
                f"{self.path}: cannot use the history database ({exc}) — "
                "it was left untouched; check its permissions, or move it aside to start a new history"
            ) from None
        except OSError as exc:
            raise FunnelwatchError(f"{self.path}: cannot open the history database ({exc.strerror})") from None

    # --- schema ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer_schema(self) -> None:
        if self.version > len(MIGRATIONS):
            raise FunnelwatchError(
                f"{self.path}: history was written by a newer funnelwatch (schema {self.version}) — "
                "it was left untouched; upgrade funnelwatch"
            )

    def _migrate(self) -> None:
        """Bring the schema up to date in one transaction (version read inside it, so racing processes migrate once)."""
        if self.version == len(MIGRATIONS):
            return
        with self.transaction():
            current = self.version
            for migration in MIGRATIONS[current:]:
                migration(self.db)
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def transaction(self) -> Any:
        return _Transaction(self.db.conn)

    def _mark_abandoned_runs(self) -> None:
        for row in self.db.query("select id, pid from runs where state = 'running'"):
            if not _alive(row["pid"]):
                with self.transaction():
                    self.db["runs"].update(row["id"], {"state": "incomplete"})

    # --- runs -----------------------------------------------------------------

    def begin_run(self, selection: str) -> tuple[int, datetime]:
        if not os.access(self.path, os.W_OK):
            raise FunnelwatchError(
                f"{self.path}: the history database is readonly — it was left untouched; "
                "make it writable (chmod u+w, or chattr -i) or set `database:` to another file"
            )
        started = utcnow()
        with self.transaction():
            run_id = self.db["runs"].insert(
                {"started_at": iso(started), "state": "running", "pid": os.getpid(), "selection": selection}
            ).last_pk
        return int(run_id), started

    def finish_run(self, run_id: int, exit_code: int) -> datetime:
        finished = utcnow()
        with self.transaction():
            self.db["runs"].update(run_id, {"finished_at": iso(finished), "state": "complete", "exit_code": exit_code})
        return finished

    def abandon_run(self, run_id: int) -> None:
        """Mark a run stopped mid-way (SIGTERM): its finished results stay, the run is `incomplete`."""
        with self.transaction():
            self.db["runs"].update(run_id, {"finished_at": iso(utcnow()), "state": "incomplete"})

    def run(self, run_id: int) -> dict[str, Any]:
        return self.db["runs"].get(run_id)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.db.query("select * from runs order by id desc limit ?", [limit]))

    # --- results --------------------------------------------------------------

    def add_result(self, run_id: int, result: CheckResult, kind: str = "check") -> int:
        row = {
            "run_id": run_id,
            "check_name": result.check,
            "file": result.file,
            "viewport": result.viewport,
            "status": result.status.value,
            "step": result.step,
            "category": result.category.value if result.category else None,
            "reason": redact(result.reason),
            "duration_s": result.duration_s,
            "attempts": result.attempts,
            "latency_s": result.latency_s,
            "token": result.token,
            "started_at": result.started_at or iso(utcnow()),
            "kind": kind,
            "tags": json.dumps(result.tags),
            "evidence": json.dumps(redact_deep(result.evidence), default=str),
            "artifacts": json.dumps(result.artifacts),
        }
        with self.transaction():
            return int(self.db["results"].insert(row).last_pk)

    def results_for_run(self, run_id: int) -> list[CheckResult]:
        return [row_to_result(r) for r in self.db.query("select * from results where run_id = ? order by id", [run_id])]

    def check_names(self) -> list[str]:
        return [r["check_name"] for r in self.db.query("select distinct check_name from results order by check_name")]

    def history(self, check: str | None = None, limit: int = 30) -> list[CheckResult]:
        """Most recent results first, for one check or all."""
        if check is None:
            rows = self.db.query("select * from results order by id desc limit ?", [limit])
        else:
            rows = self.db.query("select * from results where check_name = ? order by id desc limit ?", [check, limit])
        return [row_to_result(r) for r in rows]

    def latest(self) -> list[CheckResult]:
        """The newest result of every (check, viewport, kind)."""
        rows = self.db.query(
            """select r.* from results r
               join (select max(id) as id from results group by check_name, viewport, kind) m on m.id = r.id
               order by r.check_name"""
        )
        return [row_to_result(r) for r in rows]

    # --- read-only queries for the report (indexed: cost follows what is shown) ---

    def result(self, result_id: int) -> CheckResult | None:
        """One full result (evidence, artifacts) by id."""
        rows = list(self.db.query("select * from results where id = ?", [result_id]))
        return row_to_result(rows[0]) if rows else None

    def recent(self, check: str, kinds: tuple[str, ...] = ("check",), limit: int = 30) -> list[dict[str, Any]]:
        """The newest `limit` results of one check and kinds, all viewports, without evidence; newest first."""
        marks = ",".join("?" * len(kinds))
        return list(self.db.query(
            f"select {_LIGHT} from results where check_name = ? and kind in ({marks}) order by id desc limit ?",
            [check, *kinds, limit],
        ))

    def window_counts(self, since: str) -> list[dict[str, Any]]:
        """Per check/viewport/status: how many results after `since` (ISO), kind 'check' only."""
        return list(self.db.query(
            """select check_name, viewport, status, count(*) as n from results
               where started_at > ? and kind = 'check' group by check_name, viewport, status""",
            [since],
        ))

    def streak_start(self, check: str, viewport: str) -> str | None:
        """When the current run of failures began: the first `fail` after the last pass/flaky."""
        last_ok = self.db.execute(
            """select id from results where check_name = ? and kind = 'check' and viewport = ?
               and status in ('pass', 'flaky') order by id desc limit 1""",
            [check, viewport],
        ).fetchone()
        ok = last_ok[0] if last_ok else 0
        row = self.db.execute(
            """select started_at from results where check_name = ? and kind = 'check' and viewport = ?
               and id > ? and status = 'fail' order by id limit 1""",
            [check, viewport, ok],
        ).fetchone()
        return row[0] if row else None

    def run_started(self, run_ids: list[int]) -> dict[int, str]:
        """started_at of the given runs (for pruning their artifacts)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        return {r["id"]: r["started_at"] for r in self.db.query(f"select id, started_at from runs where id in ({marks})", run_ids)}

    # --- follow-up ledger -----------------------------------------------------

    def reserve_probe(self, check_name: str, viewport: str, run_id: int, now: datetime, every_s: float) -> dict[str, Any] | None:
        """Claim this check's submission window: None when claimed, else the row that holds it.

        Check and insert happen in one BEGIN IMMEDIATE transaction, so of two
        overlapping runs exactly one gets to submit.
        """
        with self.transaction():
            last = next(iter(self.db.query(
                "select * from probes where check_name = ? and state != 'released' order by reserved_at desc, id desc limit 1",
                [check_name],
            )), None)
            if last is not None and _when(last["reserved_at"]) + timedelta(seconds=every_s) > now:
                return last
            self.db["probes"].insert(
                {"check_name": check_name, "viewport": viewport, "run_id": run_id, "state": "reserved", "reserved_at": stamp(now)}
            )
        return None

    def record_probe(self, check_name: str, viewport: str, run_id: int, values: dict[str, Any]) -> int:
        """Turn this run's reservation into a `pending` probe (insert one when there was none)."""
        values = {**values, "state": "pending"}
        with self.transaction():
            row = self.db.execute(
                "select id from probes where check_name = ? and viewport = ? and run_id = ? and state = 'reserved' order by id desc limit 1",
                [check_name, viewport, run_id],
            ).fetchone()
            if row is not None:
                self.db["probes"].update(row[0], values)
                return int(row[0])
            values.setdefault("reserved_at", values.get("submitted_at"))
            return int(self.db["probes"].insert({"check_name": check_name, "viewport": viewport, "run_id": run_id, **values}).last_pk)

    def release_probe(self, check_name: str, viewport: str, run_id: int, submitted: bool) -> None:
        """Close a reservation no probe came of: `aborted` if the form was submitted anyway, else `released`."""
        with self.transaction():
            self.db.execute(
                "update probes set state = ? where check_name = ? and viewport = ? and run_id = ? and state = 'reserved'",
                ["aborted" if submitted else "released", check_name, viewport, run_id],
            )

    def open_probes(self) -> list[Probe]:
        """Every submitted probe still watched (pending or overdue), oldest first."""
        marks = ", ".join("?" for _ in OPEN_PROBE_STATES)
        return [Probe.from_row(r) for r in self.db.query(f"select * from probes where state in ({marks}) order by id", list(OPEN_PROBE_STATES))]

    def move_probe(self, probe_id: int, from_state: str, values: dict[str, Any]) -> bool:
        """Move a probe on from `from_state`; False when another run already did (exactly once)."""
        assignments = ", ".join(f"[{k}] = ?" for k in values)
        with self.transaction():
            cursor = self.db.execute(
                f"update probes set {assignments} where id = ? and state = ?", [*values.values(), probe_id, from_state]
            )
            return cursor.rowcount == 1

    def probes(self, where: str = "1", params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        return self.db.query(f"select * from probes where {where} order by id", params or [])

    def has_open_probes(self) -> bool:
        marks = ", ".join("?" for _ in OPEN_PROBE_STATES)
        return self.db.execute(f"select 1 from probes where state in ({marks}) limit 1", list(OPEN_PROBE_STATES)).fetchone() is not None

    def followup_stats(self, check_name: str, limit: int = 30) -> FollowupStats:
        """Last latency, median and p90 over the last `limit` settled probes, share within SLA."""
        marks = ", ".join("?" for _ in SETTLED_PROBE_STATES)
        rows = list(self.db.query(
            f"select * from probes where check_name = ? and state in ({marks}) order by submitted_at desc, id desc limit ?",
            [check_name, *SETTLED_PROBE_STATES, limit],
        ))
        stats = FollowupStats(check_name, open_probes=self.db.execute(
            "select count(*) from probes where check_name = ? and state = 'pending'", [check_name]).fetchone()[0])
        if not rows:
            return stats
        latencies = [r["latency_s"] for r in rows if r["latency_s"] is not None]
        business = [r["business_latency_s"] for r in rows if r["business_latency_s"] is not None]
        stats.probes, stats.replied = len(rows), len(latencies)
        stats.missing = sum(1 for r in rows if r["latency_s"] is None)
        stats.last_state, stats.last_latency_s = rows[0]["state"], rows[0]["latency_s"]
        stats.median_latency_s = statistics.median(latencies) if latencies else None
        stats.p90_latency_s = _percentile(latencies, 0.9)
        stats.within_sla_share = sum(1 for r in rows if r["state"] == "passed") / len(rows)
        stats.business_median_latency_s = statistics.median(business) if business else None
        stats.business_p90_latency_s = _percentile(business, 0.9)
        return stats

    # --- alert state ------------------------------------------------------------

    def alert_states(self, channel: str) -> dict[tuple[str, str], dict[str, Any]]:
        """What `channel` was last told, keyed by (check, viewport)."""
        rows = self.db.query("select * from alert_state where channel = ?", [channel])
        return {(r["check_name"], r["viewport"]): r for r in rows}

    def save_alert_states(self, rows: list[dict[str, Any]]) -> None:
        """Upsert alert state rows in one transaction."""
        if rows:
            with self.transaction():
                self.db["alert_state"].upsert_all(rows, pk=("channel", "check_name", "viewport"))

    def close(self) -> None:
        self.db.conn.close()


_LIGHT = "id, run_id, check_name, file, viewport, kind, status, step, category, reason, duration_s, attempts, latency_s, started_at, tags"


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT/ROLLBACK on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def row_to_result(row: dict[str, Any]) -> CheckResult:
    return CheckResult(
        check=row["check_name"],
        file=row["file"],
        status=Status(row["status"]),
        step=row["step"],
        category=Category(row["category"]) if row["category"] else None,
        reason=row["reason"],
        duration_s=row["duration_s"] or 0.0,
        attempts=row["attempts"] or 1,
        viewport=row["viewport"] or "desktop",
        latency_s=row["latency_s"],
        token=row["token"],
        evidence=json.loads(row["evidence"] or "{}"),
        artifacts=json.loads(row["artifacts"] or "{}"),
        started_at=row["started_at"],
        tags=json.loads(row["tags"] or "[]"),
    )


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
