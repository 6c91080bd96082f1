"""24 bench funnels as 1, 2 and 4 shards at once on one machine and one SQLite history.

Each shard is its own `funnelwatch run --shard K/N` process (its own
Chromium), all started together; the wall time is until the last one exits.
Every process uses the same `browser.concurrency`, so N shards hold N times the
browser contexts: this shows the scaling *shape*; on one machine its cores bound
it (shards pay off when each has a machine of its own). The history is checked
afterwards: every funnel exactly once, every one passed.

    .venv/bin/python bench/shards.py            # print the rows
    .venv/bin/python bench/shards.py --write    # also put them into bench/RESULTS.md
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, LocalSite, Row, bench_funnels, emit, install_funnels, table, write_project

SHARD_COUNTS = (1, 2, 4)
CONCURRENCY = 2  # per shard process
FUNNELS = 24
TIMEOUT_S = 900


def run_shards(site: LocalSite, count: int) -> tuple[float, dict[str, int]]:
    """`count` shard processes at once on a fresh project: (wall seconds, statuses over the history)."""
    funnels = bench_funnels(FUNNELS)
    with tempfile.TemporaryDirectory(prefix="fw-bench-shards-") as tmp:
        root = write_project(Path(tmp), site, funnels, CONCURRENCY)
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
        db = sqlite3.connect(root / "reports" / "history.db")
        try:
            per_check = db.execute("select check_name, count(*) from results where kind = 'check' group by check_name").fetchall()
            statuses = dict(db.execute("select status, count(*) from results where kind = 'check' group by status").fetchall())
        finally:
            db.close()
        if len(per_check) != FUNNELS or any(n != 1 for _, n in per_check):
            raise SystemExit(f"{count} shards: not every funnel exactly once: {per_check}")
    return took, statuses


def run() -> list[Row]:
    walls: dict[int, float] = {}
    with LocalSite() as site:
        install_funnels(site, bench_funnels(FUNNELS))
        for count in SHARD_COUNTS:
            walls[count], statuses = run_shards(site, count)
            print(f"{count} shard{'s' if count > 1 else ''}: {walls[count]:.1f}s, {statuses}", file=sys.stderr)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = [Row(f"{FUNNELS} funnels, 1 process (unsharded, concurrency {CONCURRENCY})", walls[1], None, "s",
                note=f"{os.cpu_count()} cores, load average after: {load}")]
    rows += [Row(f"{FUNNELS} funnels, {n} shard processes at once vs 1 (concurrency {CONCURRENCY} each, one SQLite file)",
                 walls[n], walls[1], "s") for n in SHARD_COUNTS[1:]]
    return rows


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
    began = time.perf_counter()
    found = run()
    emit(found)
    if "--write" in sys.argv:
        print(f"wrote {write_results(found, table(found), time.perf_counter() - began)}", file=sys.stderr)
