"""The history's write path: the store (behind its engine seam) vs the same writes done by hand.

`Store` reaches SQLite through a small seam so that PostgreSQL can sit behind
the same interface (`funnelwatch/store/__init__.py`); this shows SQLite pays
nothing for it. The baseline does what the store did before the seam, by
hand in the same run: one BEGIN IMMEDIATE transaction per result (a results
row, an evidence row) through sqlite_utils. With a PostgreSQL server installed
(Debian's, as the tests use it) the same store writes on PostgreSQL are shown
too, for context (a server round trip per statement, not a file).

    .venv/bin/python bench/store_writes.py [--results 2000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from common import Row, emit, median_of

from funnelwatch.results import CheckResult, Status
from funnelwatch.store import open_store

REPEATS = 5


def _results(count: int) -> list[CheckResult]:
    return [CheckResult(f"Check {i % 40}", f"checks/c{i % 40}.yaml", Status.FAIL if i % 7 == 0 else Status.PASS,
                        reason="HTTP 503" if i % 7 == 0 else None, evidence={"page": {"text": "x" * 400, "i": i}},
                        started_at="2026-01-05T09:00:00Z") for i in range(count)]


def _through_store(database: str, results: list[CheckResult]) -> float:
    store = open_store(database)
    try:
        run_id, _ = store.begin_run("bench")
        began = time.perf_counter()
        for result in results:
            store.add_result(run_id, result)
        return time.perf_counter() - began
    finally:
        store.close()


def _by_hand(path: Path, results: list[CheckResult]) -> float:
    """The pre-seam write path: sqlite_utils inserts in a BEGIN IMMEDIATE transaction per result."""
    import sqlite_utils

    open_store(str(path)).close()  # the same schema
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA foreign_keys = ON")
    run_id = db["runs"].insert({"started_at": "2026-01-05T09:00:00Z", "state": "running"}).last_pk
    began = time.perf_counter()
    for result in results:
        conn.execute("BEGIN IMMEDIATE")
        result_id = db["results"].insert({  # type: ignore[union-attr]
            "run_id": run_id, "check_name": result.check, "file": result.file, "viewport": result.viewport,
            "status": result.status.value, "step": result.step, "category": None, "reason": result.reason,
            "duration_s": result.duration_s, "attempts": result.attempts, "latency_s": None, "token": None,
            "started_at": result.started_at, "kind": "check", "tags": json.dumps(result.tags),
            "artifacts": json.dumps(result.artifacts), "maintenance": None}).last_pk
        db["evidence"].insert({"result_id": result_id, "evidence": json.dumps(result.evidence)})  # type: ignore[union-attr]
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


def run(count: int = 2000) -> list[Row]:
    results = _results(count)
    folder = Path(tempfile.mkdtemp(prefix="funnelwatch-bench-store-"))
    runs = iter(range(1000))

    def fresh() -> Path:
        return folder / f"h{next(runs)}.db"

    store, hand = [], []
    for _ in range(REPEATS):  # interleaved: a burst of load on the machine hits both sides alike
        store.append(_through_store(str(fresh()), results))
        hand.append(_by_hand(fresh(), results))
    store_s, hand_s = statistics.median(store), statistics.median(hand)
    rows = [Row(f"SQLite: {count:,} results through the store vs the same writes by hand", store_s, hand_s, "s",
                note="the store also redacts and encodes each result; the seam itself is one method call per insert")]
    pg = _postgres()
    if pg is not None:
        server, url_of = pg
        try:
            pg_s = median_of(3, lambda: _through_store(url_of(), results))
            rows.append(Row(f"PostgreSQL vs SQLite: {count:,} results through the store", pg_s, store_s, "s"))
        finally:
            server.stop()
    return rows


def _postgres():  # type: ignore[no-untyped-def]
    """A throwaway cluster (the tests' fixture) when Debian's server is installed; None otherwise."""
    import sys

    from common import ROOT

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.fixtures.postgres import PostgresServer, _bin_dir
    except ImportError:
        return None
    if _bin_dir() is None:
        return None
    server = PostgresServer().start()
    return server, server.database


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=2000)
    emit(run(parser.parse_args().results))
