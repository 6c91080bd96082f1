"""The pending ledger's SQL (`probes` table); what it means is in `funnelwatch/ledger.py`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterator

from ..clock import parse_iso, stamp
from ..ledger import OPEN_PROBE_STATES, SETTLED_PROBE_STATES, Probe, ProbeStats, Reservation, when

if TYPE_CHECKING:
    from . import Store


class SqlLedger:
    """`funnelwatch.ledger.Ledger` on the history database's `probes` table."""

    def __init__(self, store: "Store"):
        self._store = store

    @property
    def _db(self) -> Any:
        return self._store.db

    def reserve(self, check_name: str, viewport: str, run_id: int, now: datetime, every_s: float) -> Reservation | None:
        """Check and insert in one transaction, serialised per check (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
        advisory lock on the check's name): of two overlapping runs exactly one gets to submit."""
        with self._store.transaction():
            self._store.serialise(f"reserve:{check_name}")
            last = self.holder(check_name)
            if last is not None and last.reserved_at + timedelta(seconds=every_s) > now:
                return last
            self._store.insert_row(
                "probes", {"check_name": check_name, "viewport": viewport, "run_id": run_id, "state": "reserved", "reserved_at": stamp(now)}
            )
        return None

    def holder(self, check_name: str) -> Reservation | None:
        last = next(iter(self._db.query(
            "select * from probes where check_name = ? and state != 'released' order by reserved_at desc, id desc limit 1",
            [check_name],
        )), None)
        if last is None:
            return None
        return Reservation(
            id=last["id"], state=last["state"], reserved_at=when(last["reserved_at"]),
            submitted_at=parse_iso(last["submitted_at"]), sla_deadline=parse_iso(last["sla_deadline"]),
        )

    def arm(self, check_name: str, viewport: str, run_id: int, values: dict[str, Any]) -> None:
        assignments = ", ".join(f'"{k}" = ?' for k in values)
        with self._store.transaction():
            self._db.execute(
                f"update probes set {assignments} where check_name = ? and viewport = ? and run_id = ? and state = 'reserved'",
                [*values.values(), check_name, viewport, run_id],
            )

    def release_dead_run(self, run_id: int) -> None:
        """A run died: what it noted as submitting is `pending` (watched), the rest of its reservations `released`."""
        self._db.execute(
            "update probes set state = 'pending' where run_id = ? and state = 'reserved' "
            "and token is not null and submitted_at is not null and sla_deadline is not null",
            [run_id],
        )
        self._db.execute("update probes set state = 'released' where run_id = ? and state = 'reserved'", [run_id])

    def record(self, check_name: str, viewport: str, run_id: int, values: dict[str, Any]) -> int:
        values = {**values, "state": "pending"}
        with self._store.transaction():
            row = self._db.execute(
                "select id from probes where check_name = ? and viewport = ? and run_id = ? and state = 'reserved' order by id desc limit 1",
                [check_name, viewport, run_id],
            ).fetchone()
            if row is not None:
                self._store.update_row("probes", row[0], values)
                return int(row[0])
            values.setdefault("reserved_at", values.get("submitted_at"))
            return self._store.insert_row("probes", {"check_name": check_name, "viewport": viewport, "run_id": run_id, **values})

    def release(self, check_name: str, viewport: str, run_id: int, submitted: bool) -> None:
        with self._store.transaction():
            self._db.execute(
                "update probes set state = ? where check_name = ? and viewport = ? and run_id = ? and state = 'reserved'",
                ["aborted" if submitted else "released", check_name, viewport, run_id],
            )

    def open_probes(self, kinds: tuple[str, ...] | None = None) -> list[Probe]:
        marks = ", ".join("?" for _ in OPEN_PROBE_STATES)
        rows = self._db.query(f"select * from probes where state in ({marks}) order by id", list(OPEN_PROBE_STATES))
        probes = [_probe(r) for r in rows]
        return [p for p in probes if kinds is None or p.kind in kinds]

    def move(self, probe_id: int, from_state: str, values: dict[str, Any]) -> bool:
        """One transition, guarded by the state it leaves: of two runs moving one probe, exactly one sees a row change
        (PostgreSQL's second UPDATE waits on the row lock, then re-reads the state and matches nothing)."""
        assignments = ", ".join(f'"{k}" = ?' for k in values)
        with self._store.transaction():
            cursor = self._db.execute(
                f"update probes set {assignments} where id = ? and state = ?", [*values.values(), probe_id, from_state]
            )
            return bool(cursor.rowcount == 1)

    def rows(self, where: str = "1 = 1", params: list[Any] | None = None) -> Iterator[dict[str, Any]]:
        """Raw probe rows (for tests and tooling)."""
        return iter(self._db.query(f"select * from probes where {where} order by id", params or []))

    def has_open_probes(self) -> bool:
        marks = ", ".join("?" for _ in OPEN_PROBE_STATES)
        found = self._db.execute(f"select 1 from probes where state in ({marks}) limit 1", list(OPEN_PROBE_STATES)).fetchone()
        return found is not None

    def stats(self, check_name: str, limit: int = 30, since: datetime | None = None) -> ProbeStats:
        """Last latency, median and p90 over the last `limit` settled probes, share within SLA."""
        marks = ", ".join("?" for _ in SETTLED_PROBE_STATES)
        rows = list(self._db.query(
            f"select * from probes where check_name = ? and state in ({marks}) and submitted_at > ? "
            "order by submitted_at desc, id desc limit ?",
            [check_name, *SETTLED_PROBE_STATES, stamp(since) if since else "", limit],
        ))
        pending = self._db.execute("select count(*) from probes where check_name = ? and state = 'pending'", [check_name]).fetchone()[0]
        return ProbeStats.of(check_name, rows, pending)

    def stats_with_window(self, check_name: str, since: datetime, limit: int = 30,
                          window_limit: int = 100_000) -> tuple[ProbeStats, ProbeStats]:
        """The last `limit` settled probes' figures and those submitted after `since`, from one query.

        The rows come newest first and the reading stops once both are complete: the last
        `limit`, and every one after `since` (up to `window_limit`).
        """
        marks = ", ".join("?" for _ in SETTLED_PROBE_STATES)
        cursor = self._db.execute(
            f"select * from probes where check_name = ? and state in ({marks}) order by submitted_at desc, id desc",
            [check_name, *SETTLED_PROBE_STATES],
        )
        columns = [d[0] for d in cursor.description]
        after = stamp(since)
        last: list[dict[str, Any]] = []
        window: list[dict[str, Any]] = []
        for values in cursor:
            row = dict(zip(columns, values))
            in_window = len(window) < window_limit and (row["submitted_at"] or "") > after
            if len(last) >= limit and not in_window:
                break
            if len(last) < limit:
                last.append(row)
            if in_window:
                window.append(row)
        cursor.close()
        pending = self._db.execute("select count(*) from probes where check_name = ? and state = 'pending'", [check_name]).fetchone()[0]
        return ProbeStats.of(check_name, last, pending), ProbeStats.of(check_name, window, pending)

    def latencies(self, check_name: str, since: datetime) -> list[tuple[str, float | None, str]]:
        marks = ", ".join("?" for _ in SETTLED_PROBE_STATES)
        rows = self._db.query(
            f"select submitted_at, latency_s, state from probes where check_name = ? and state in ({marks}) "
            "and submitted_at > ? order by submitted_at, id",
            [check_name, *SETTLED_PROBE_STATES, stamp(since)],
        )
        return [(r["submitted_at"], r["latency_s"], r["state"]) for r in rows]


def _probe(row: dict[str, Any]) -> Probe:
    return Probe(
        id=row["id"], check_name=row["check_name"], file=row["file"] or "", viewport=row["viewport"] or "desktop",
        token=row["token"], address=row["address"], submitted_at=when(row["submitted_at"]),
        sla_deadline=when(row["sla_deadline"]), give_up_at=when(row["give_up_at"]), state=row["state"],
        within_s=row["within_s"] or 0.0, rules=json.loads(row["rules"] or "{}"), run_id=row["run_id"],
        reply_at=parse_iso(row["reply_at"]), latency_s=row["latency_s"], business_latency_s=row["business_latency_s"],
        kind=row.get("kind") or "followup", channel=row.get("channel"), message_id=row.get("message_id"),
        sent=json.loads(row.get("sent") or "{}"),
    )
