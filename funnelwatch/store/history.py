"""Runs and results: the `runs` and `results` tables.

One row per check per viewport per run (plus settled follow-ups and
"waiting" rows, told apart by `kind`), each written in its own transaction so
a killed run loses nothing already finished. The report's queries are
indexed: their cost follows what is shown, not the size of the history.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import iso
from ..redaction import Redactor
from ..results import Category, CheckResult, Status, StepRecord

if TYPE_CHECKING:
    from ..clock import Clock
    from .ledger import SqlLedger

#: A result with its evidence (kept in its own table so `results` stays browsable; see migrations._v4).
_FULL = "select r.*, e.evidence from results r left join evidence e on e.result_id = r.id"
_LIGHT = "id, run_id, check_name, file, viewport, kind, status, step, category, reason, duration_s, attempts, latency_s, started_at, tags, maintenance"


def process_stamp(pid: int) -> str | None:
    """Which process `pid` is on this machine: boot id and start time (None when /proc cannot tell).

    A pid is reused (in a container every run is PID 1); the same pid with the
    same start time since the same boot is the same process.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
        start = stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return f"{boot}:{start}"


class RunsAndResults:
    """The `runs` and `results` queries; mixed into `Store`, which owns the connection."""

    db: Any  # sqlite_utils.Database, or postgres.PgDb (the same `query` and `execute`)
    path: "Path"
    clock: "Clock"
    ledger: "SqlLedger"
    redactor: Redactor

    def transaction(self) -> Any:
        raise NotImplementedError

    def keep_reserve(self) -> None:
        raise NotImplementedError

    def _check_writable(self) -> None:
        raise NotImplementedError

    def insert_row(self, name: str, row: dict[str, Any]) -> int:
        raise NotImplementedError

    def update_row(self, name: str, row_id: int, values: dict[str, Any]) -> None:
        raise NotImplementedError

    def get_row(self, name: str, row_id: int) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def json_text(column: str, key: str) -> str:
        raise NotImplementedError

    def _hold_run(self, run_id: int) -> None:
        """Say "this run is alive" for as long as this store is open (PostgreSQL: a session advisory lock)."""

    def _let_go_run(self, run_id: int) -> None:
        """This run is over: stop saying it is alive."""

    # --- runs -----------------------------------------------------------------

    def begin_run(self, selection: str, shard: str | None = None) -> tuple[int, datetime]:
        """A new `running` run of `selection` (and of one shard, `K/N`); its id and start time."""
        self._check_writable()
        started = self.clock.now()
        with self.transaction():
            run_id = self.insert_row(
                "runs", {"started_at": iso(started), "state": "running", "pid": os.getpid(), "selection": selection,
                         "shard": shard, "process": process_stamp(os.getpid()), "host": socket.gethostname()}
            )
            self._hold_run(run_id)  # before the row is seen by anyone: a visible running run is held until it ends
        self.keep_reserve()  # room to mark this run even if the disk fills up under it
        return run_id, started

    def finish_run(self, run_id: int, exit_code: int) -> datetime:
        finished = self.clock.now()
        with self.transaction():
            self.update_row("runs", run_id, {"finished_at": iso(finished), "state": "complete", "exit_code": exit_code})
        self._let_go_run(run_id)
        return finished

    def abandon_run(self, run_id: int) -> None:
        """Mark a run stopped mid-way (SIGTERM): its finished results stay, the run is `incomplete`.

        Its ledger reservations go as a dead run's do (a noted submission is watched, the rest released).
        """
        with self.transaction():
            self.update_row("runs", run_id, {"finished_at": iso(self.clock.now()), "state": "incomplete"})
            self.ledger.release_dead_run(run_id)
        self._let_go_run(run_id)

    def run(self, run_id: int) -> dict[str, Any]:
        return self.get_row("runs", run_id)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.db.query("select * from runs order by id desc limit ?", [limit]))

    def run_started(self, run_ids: list[int]) -> dict[int, str]:
        """started_at of the given runs (for pruning their artifacts)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        return {r["id"]: r["started_at"] for r in self.db.query(f"select id, started_at from runs where id in ({marks})", run_ids)}

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
            "reason": self.redactor.redact(result.reason),
            "duration_s": result.duration_s,
            "attempts": result.attempts,
            "latency_s": result.latency_s,
            "token": result.token,
            "started_at": result.started_at or iso(self.clock.now()),
            "kind": kind,
            "tags": json.dumps(result.tags),
            "artifacts": json.dumps(result.artifacts),
            "maintenance": result.maintenance,
        }
        seen = _with_steps(result)
        evidence = json.dumps(self.redactor.redact_deep(seen), default=str) if seen else None
        with self.transaction():
            result_id = self.insert_row("results", row)
            if evidence is not None:
                self.insert_row("evidence", {"result_id": result_id, "evidence": evidence})
            return result_id

    def results_for_run(self, run_id: int) -> list[CheckResult]:
        return [row_to_result(r) for r in self.db.query(f"{_FULL} where r.run_id = ? order by r.id", [run_id])]

    def check_names(self) -> list[str]:
        return [r["check_name"] for r in self.db.query("select distinct check_name from results order by check_name")]

    def history(self, check: str | None = None, limit: int = 30) -> list[CheckResult]:
        """Most recent results first, for one check or all."""
        if check is None:
            rows = self.db.query(f"{_FULL} order by r.id desc limit ?", [limit])
        else:
            rows = self.db.query(f"{_FULL} where r.check_name = ? order by r.id desc limit ?", [check, limit])
        return [row_to_result(r) for r in rows]

    def latest(self) -> list[CheckResult]:
        """The newest result of every (check, viewport, kind)."""
        rows = self.db.query(
            """select r.*, e.evidence from results r
               join (select max(id) as id from results group by check_name, viewport, kind) m on m.id = r.id
               left join evidence e on e.result_id = r.id
               order by r.check_name"""
        )
        return [row_to_result(r) for r in rows]

    def result(self, result_id: int) -> CheckResult | None:
        """One full result (evidence, artifacts) by id."""
        rows = list(self.db.query(f"{_FULL} where r.id = ?", [result_id]))
        return row_to_result(rows[0]) if rows else None

    def recent(self, check: str, kinds: tuple[str, ...] = ("check",), limit: int = 30) -> list[dict[str, Any]]:
        """The newest `limit` results of one check and kinds, all viewports, without evidence; newest first."""
        marks = ",".join("?" * len(kinds))
        return list(self.db.query(
            f"select {_LIGHT} from results where check_name = ? and kind in ({marks}) order by id desc limit ?",
            [check, *kinds, limit],
        ))

    def recent_of_rare_kinds(self, check: str, kinds: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
        """`recent` for kinds a check has few of or none (settled follow-ups): read per kind and viewport
        through the (check_name, kind, viewport, id) index, so a check without them costs a lookup, not a
        walk back through its whole history (which is what `recent`'s plan does when nothing matches)."""
        rows: list[dict[str, Any]] = []
        for kind in kinds:
            viewports = [r[0] for r in self.db.execute(
                "select viewport from results where check_name = ? and kind = ? group by viewport", [check, kind]).fetchall()]
            for viewport in viewports:
                where = "viewport is null" if viewport is None else "viewport = ?"
                rows += self.db.query(
                    f"select {_LIGHT} from results where check_name = ? and kind = ? and {where} order by id desc limit ?",
                    [check, kind, *([] if viewport is None else [viewport]), limit],
                )
        rows.sort(key=lambda r: r["id"], reverse=True)
        return rows[:limit]

    def steps_of(self, result_ids: list[int]) -> dict[int, list[tuple[str, float]]]:
        """(step, seconds) each result ran, in order: read out of the evidence inside the database, so no blob is loaded."""
        found: dict[int, list[tuple[str, float]]] = {}
        for start in range(0, len(result_ids), 500):
            chunk = result_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"select result_id as id, {self.json_text('evidence', _STEPS_KEY)} as steps from evidence "
                f"where result_id in ({marks})", chunk,
            ):
                kept = json.loads(row["steps"]) if row["steps"] else []
                found[row["id"]] = [(str(s["step"]), float(s.get("duration_s") or 0.0))
                                    for s in kept if isinstance(s, dict) and s.get("step")] if isinstance(kept, list) else []
        return found

    def results_between(self, since: str, until: str) -> list[dict[str, Any]]:
        """Check results started in (since, until] (ISO), oldest first, without evidence (the digest)."""
        return list(self.db.query(
            f"select {_LIGHT} from results where started_at > ? and started_at <= ? and kind = 'check' order by started_at, id",
            [since, until],
        ))

    def window_counts(self, since: str) -> list[dict[str, Any]]:
        """Per check/viewport/status: how many results after `since` (ISO), kind 'check' only, outside
        maintenance windows (a deploy night does not count against the uptime)."""
        return list(self.db.query(
            """select check_name, viewport, status, count(*) as n from results
               where started_at > ? and kind = 'check' and maintenance is null group by check_name, viewport, status""",
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


#: The steps an attempt ran (the journey strip) travel inside the evidence blob, under a key no step uses.
_STEPS_KEY = "_steps"


def _with_steps(result: CheckResult) -> dict[str, Any]:
    if not result.steps:
        return result.evidence
    steps = [{"step": s.step, "ok": s.ok, "duration_s": round(s.duration_s, 3)} for s in result.steps]
    return {**result.evidence, _STEPS_KEY: steps}


def _steps_of(evidence: dict[str, Any]) -> list[StepRecord]:
    kept = evidence.pop(_STEPS_KEY, None)
    if not isinstance(kept, list):
        return []
    return [StepRecord(str(s.get("step")), bool(s.get("ok")), float(s.get("duration_s") or 0.0))
            for s in kept if isinstance(s, dict) and s.get("step")]


def row_to_result(row: dict[str, Any]) -> CheckResult:
    """A `results` row (joined with its `evidence`, when the caller wants it) as a CheckResult."""
    evidence = json.loads(row.get("evidence") or "{}")
    if not isinstance(evidence, dict):
        evidence = {}
    steps = _steps_of(evidence)
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
        evidence=evidence,
        artifacts=json.loads(row["artifacts"] or "{}"),
        steps=steps,
        started_at=row["started_at"],
        tags=json.loads(row["tags"] or "[]"),
        maintenance=row.get("maintenance"),
    )
