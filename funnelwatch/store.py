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
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
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
    db["probes"].create(
        {
            "id": int, "check_name": str, "viewport": str, "token": str, "address": str,
            "submitted_at": str, "sla_deadline": str, "give_up_at": str, "state": str,
            "reply_at": str, "latency_s": float, "business_latency_s": float, "settled_at": str,
            "run_id": int, "result_id": int, "evidence": str,
        },
        pk="id",
    )
    db["probes"].create_index(["token"], unique=True)
    db["probes"].create_index(["check_name", "submitted_at"])
    db["probes"].create_index(["state"])


#: Append-only: migration N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass
class Probe:
    """A submitted follow-up probe waiting to be settled by a later run."""

    id: int
    check_name: str
    viewport: str
    token: str
    address: str
    submitted_at: datetime
    sla_deadline: datetime
    give_up_at: datetime
    state: str
    reply_at: datetime | None = None
    latency_s: float | None = None


class Store:
    def __init__(self, path: str | os.PathLike[str], readonly_ok: bool = False):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
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

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise FunnelwatchError(
                f"{self.path}: history was written by a newer funnelwatch (schema {current}) — upgrade funnelwatch"
            )
        for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                migration(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    def transaction(self) -> Any:
        return _Transaction(self.db.conn)

    def _mark_abandoned_runs(self) -> None:
        for row in self.db.query("select id, pid from runs where state = 'running'"):
            if not _alive(row["pid"]):
                with self.transaction():
                    self.db["runs"].update(row["id"], {"state": "incomplete"})

    # --- runs -----------------------------------------------------------------

    def begin_run(self, selection: str) -> tuple[int, datetime]:
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

    def delete_check_history(self, check: str) -> None:  # pragma: no cover - maintenance helper
        raise NotImplementedError("history is never rewritten")

    # --- follow-up ledger -----------------------------------------------------

    def add_probe(self, probe: dict[str, Any]) -> int:
        with self.transaction():
            return int(self.db["probes"].insert(probe).last_pk)

    def probes(self, where: str = "1", params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        return self.db.query(f"select * from probes where {where} order by id", params or [])

    def has_open_probes(self) -> bool:
        return self.db.execute("select 1 from probes where state = 'pending' limit 1").fetchone() is not None

    def update_probe(self, probe_id: int, values: dict[str, Any]) -> None:
        with self.transaction():
            self.db["probes"].update(probe_id, values)

    def close(self) -> None:
        self.db.conn.close()


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
