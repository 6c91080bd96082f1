"""24 bench funnels as 1, 2 and 4 shards at once on one machine and one history (SQLite, or PostgreSQL).

Each shard is its own `funnelwatch run --shard K/N` process (its own
Chromium), all started together; the wall time is until the last one exits.
Every process uses the same `browser.concurrency`, so N shards hold N times the
browser contexts: this shows the scaling *shape*; on one machine its cores bound
it (shards pay off when each has a machine of its own). The history is checked
afterwards: every funnel exactly once, every one passed.

    .venv/bin/python bench/shards.py            # print the rows
    .venv/bin/python bench/shards.py --write    # also put them into bench/RESULTS.md
    .venv/bin/python bench/shards.py --database postgresql                 # a throwaway local cluster
    .venv/bin/python bench/shards.py --database postgresql://u:pw@db/postgres --funnels 6 --shards 1,2

`--database postgresql` starts a throwaway cluster as the tests do (initdb in a
temp dir, Debian's server; it must be installed); a `postgresql://` URL names a
server whose user may create databases: each shard count gets a fresh database
there (`fw_bench_shards_<count>_<pid>`), dropped afterwards. `--funnels` and
`--shards` make a quick run (the rows then say how many funnels they measured).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from common import ROOT, LocalSite, Row, bench_funnels, emit, install_funnels, table, write_project

SHARD_COUNTS = (1, 2, 4)
CONCURRENCY = 2  # per shard process
FUNNELS = 24
TIMEOUT_S = 900


#: A fresh, empty history for one shard count: None for the project's SQLite file, or a PostgreSQL URL.
FreshDatabase = Callable[[int], "contextlib.AbstractContextManager[str | None]"]


@contextlib.contextmanager
def sqlite_history(count: int) -> Iterator[str | None]:
    yield None


def run_shards(site: LocalSite, count: int, funnels_n: int = FUNNELS, fresh: FreshDatabase = sqlite_history
               ) -> tuple[float, dict[str, int]]:
    """`count` shard processes at once on a fresh project and history: (wall seconds, statuses over the history)."""
    funnels = bench_funnels(funnels_n)
    with tempfile.TemporaryDirectory(prefix="fw-bench-shards-") as tmp, fresh(count) as url:
        root = write_project(Path(tmp), site, funnels, CONCURRENCY)
        if url is not None:
            config = root / "config" / "funnelwatch.yaml"
            config.write_text(config.read_text(encoding="utf-8").replace("database: reports/history.db", f"database: {url}"),
                              encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("FUNNELWATCH_SHARD", "JOB_COMPLETION_INDEX")}
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "funnelwatch", "-C", str(root), "run"]
        began = time.perf_counter()
        processes = [subprocess.Popen(command + ([] if count == 1 else ["--shard", f"{k}/{count}"]), env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                     for k in range(1, count + 1)]
        errors = [p.communicate(timeout=TIMEOUT_S)[1] for p in processes]
        took = time.perf_counter() - began
        for process, err in zip(processes, errors):
            if process.returncode != 0:
                raise SystemExit(f"a shard exited {process.returncode}: {err.strip()[-500:]}")
        from funnelwatch.store import open_store

        store = open_store(url or root / "reports" / "history.db")
        try:
            per_check = [(r["check_name"], r["n"]) for r in store.db.query(
                "select check_name, count(*) as n from results where kind = 'check' group by check_name")]
            statuses = {r["status"]: r["n"] for r in store.db.query(
                "select status, count(*) as n from results where kind = 'check' group by status")}
        finally:
            store.close()
        if len(per_check) != funnels_n or any(n != 1 for _, n in per_check):
            raise SystemExit(f"{count} shards: not every funnel exactly once: {per_check}")
    return took, statuses


def run(funnels_n: int = FUNNELS, counts: tuple[int, ...] = SHARD_COUNTS, database: str | None = None) -> list[Row]:
    """The rows: 1 process, then each shard count against it; on `database` (None: SQLite; see the module docstring)."""
    walls: dict[int, float] = {}
    counts = tuple(sorted({1, *counts}))
    with LocalSite() as site, histories(database) as (fresh, engine):
        install_funnels(site, bench_funnels(funnels_n))
        for count in counts:
            walls[count], statuses = run_shards(site, count, funnels_n, fresh)
            print(f"{count} shard{'s' if count > 1 else ''}: {walls[count]:.1f}s, {statuses}", file=sys.stderr)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    on = "" if database is None else f", {engine}"
    rows = [Row(f"{funnels_n} funnels, 1 process (unsharded, concurrency {CONCURRENCY}{on})", walls[1], None, "s",
                note=f"{os.cpu_count()} cores, load average after: {load}")]
    rows += [Row(f"{funnels_n} funnels, {n} shard processes at once vs 1 (concurrency {CONCURRENCY} each, {engine})",
                 walls[n], walls[1], "s") for n in counts[1:]]
    return rows


@contextlib.contextmanager
def histories(database: str | None) -> Iterator[tuple[FreshDatabase, str]]:
    """(a fresh history per shard count, the engine's words for the rows)."""
    if database is None:
        yield sqlite_history, "one SQLite file"
        return
    if database == "postgresql":
        sys.path.insert(0, str(ROOT))
        from tests.fixtures.postgres import PostgresServer, _bin_dir

        if _bin_dir() is None:
            raise SystemExit("--database postgresql: PostgreSQL is not installed "
                             "(scripts/ensure-system-packages.sh postgres installs Debian's server)")
        with PostgresServer() as server:
            yield _fresh_on(server.admin_url), "one PostgreSQL database (a local throwaway cluster)"
        return
    yield _fresh_on(database), "one PostgreSQL database"


def _fresh_on(admin_url: str) -> FreshDatabase:
    """Fresh databases on the server of `admin_url` (its user may create them), dropped after each count."""
    import psycopg

    base, _, _ = admin_url.rpartition("/")

    @contextlib.contextmanager
    def fresh(count: int) -> Iterator[str | None]:
        name = f"fw_bench_shards_{count}_{os.getpid()}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"create database {name}")  # type: ignore[arg-type]
        try:
            yield f"{base}/{name}"
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"drop database if exists {name} with (force)")  # type: ignore[arg-type]

    return fresh


def write_results(rows: list[Row], output: str, took: float) -> Path:
    """Put the rows into bench/RESULTS.md's table (replacing earlier shard rows) and this script's raw output section."""
    path = Path(__file__).resolve().parent / "RESULTS.md"
    ours = re.compile(rf"^(\| {FUNNELS} funnels, (1 process|\d+ shard processes)|- {FUNNELS} funnels, 1 process)")
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if not ours.match(line)]
    raw = lines.index("## Raw output")
    last_row = max(i for i in range(raw) if lines[i].startswith("| "))
    lines[last_row + 1:last_row + 1] = table(rows, markdown=True).split("\n")[2:2 + len(rows)]
    raw = lines.index("## Raw output")
    lines[raw - 1:raw - 1] = [f"- {row.figure}: {row.note}" for row in rows if row.note]  # the end of the notes
    text = re.sub(r"### shards\.py \(\d+s\)\n\n```\n.*?```\n", "", "\n".join(lines), flags=re.S).rstrip("\n")
    path.write_text(f"{text}\n\n### shards.py ({took:.0f}s)\n\n```\n{output.strip()}\n```\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="also put the rows into bench/RESULTS.md")
    parser.add_argument("--database", help="`postgresql` (a throwaway local cluster) or a postgresql:// URL")
    parser.add_argument("--funnels", type=int, default=FUNNELS, help=f"how many bench funnels ({FUNNELS})")
    parser.add_argument("--shards", default=",".join(map(str, SHARD_COUNTS)), help="shard counts, e.g. 1,2")
    options = parser.parse_args()
    if options.write and (options.database or options.funnels != FUNNELS):
        parser.error("--write records the 24-funnel SQLite figures; measure other runs without it")
    began = time.perf_counter()
    found = run(options.funnels, tuple(int(n) for n in options.shards.split(",")), options.database)
    emit(found)
    if options.write:
        print(f"wrote {write_results(found, table(found), time.perf_counter() - began)}", file=sys.stderr)
