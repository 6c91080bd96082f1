"""Report build time vs history size: 1,000 funnels × 365 nightly runs against the same 1,000 funnels with 3,650 results.

The report's cost should follow what it shows (1,000 funnels, their last
results, 30 days of uptime), not how much history there is. Prints both build
times, their ratio (target ≤ 3) and the latency of `funnelwatch history NAME`.

    .venv/bin/python bench/report_scale.py [--checks 1000] [--runs 365]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

import funnelwatch
from funnelwatch.cli import cli
from funnelwatch.store import Store, iso

CONFIG = "database: reports/history.db\nreports_dir: reports\nreport:\n  keep: 90d\n"
EVIDENCE = json.dumps({
    "ad": {"chain": [{"url": "https://example.com/go", "status": 302}, {"url": "https://example.com/lp", "status": 200}],
           "match": [{"phrase": "30% off", "found": False, "where": None}]},
    "console_errors": [{"text": "Uncaught TypeError: x is undefined", "url": "https://example.com/app.js"}],
})


def make_history(root: Path, checks: int, total: int) -> Path:
    """A project whose history holds `total` results of `checks` funnels, one run per night, newest last."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "funnelwatch.yaml").write_text(CONFIG, encoding="utf-8")
    store = Store(root / "reports" / "history.db")
    rng = random.Random(7)
    nights = -(-total // checks)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    written = 0
    try:
        with store.transaction():
            for night in range(nights):
                day = now - timedelta(days=nights - night, hours=-1)
                run_id = store.db["runs"].insert({"started_at": iso(day), "finished_at": iso(day), "state": "complete",
                                                  "selection": "all checks", "exit_code": 1}).last_pk
                rows = []
                for number in range(min(checks, total - written)):
                    broken = rng.random() < 0.03 or (number % 97 == 0 and night > nights - 5)
                    rows.append({
                        "run_id": run_id, "check_name": f"Funnel {number:04d}", "file": f"checks/f{number:04d}.yaml",
                        "viewport": "desktop", "status": "fail" if broken else "pass",
                        "step": "ad" if broken else None, "category": "message_mismatch" if broken else None,
                        "reason": "the landing page does not say '30% off'" if broken else None,
                        "duration_s": rng.uniform(2, 20), "attempts": 2 if broken else 1, "started_at": iso(day),
                        "kind": "check", "tags": json.dumps(["bench", f"group-{number % 10}"]),
                        "artifacts": "{}",
                    })
                store.db["results"].insert_all(rows, batch_size=1000)
                # evidence lives beside its result (store/migrations.py, schema 4)
                store.db.execute("insert into evidence (result_id, evidence) select id, ? from results "
                                 "where run_id = ? and status = 'fail'", [EVIDENCE, run_id])
                written += len(rows)
    finally:
        store.close()
    return root


def build_seconds(root: Path, repeats: int = 2) -> float:
    config = funnelwatch.load_config(root)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        funnelwatch.api.build_report(config)
        best = min(best, time.perf_counter() - began)
    return best


def history_seconds(root: Path, name: str, repeats: int = 5) -> float:
    runner = CliRunner()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        outcome = runner.invoke(cli, ["-C", str(root), "history", name, "-n", "20"])
        best = min(best, time.perf_counter() - began)
        assert outcome.exit_code == 0, outcome.output
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=365)
    args = parser.parse_args(argv)
    big_total, small_total = args.checks * args.runs, args.checks * args.runs // 100
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp:
        began = time.perf_counter()
        big = make_history(Path(tmp) / "big", args.checks, big_total)
        small = make_history(Path(tmp) / "small", args.checks, small_total)
        print(f"wrote {big_total:,} + {small_total:,} results in {time.perf_counter() - began:.1f}s", file=sys.stderr)
        small_s = build_seconds(small)
        big_s = build_seconds(big)
        history_s = history_seconds(big, "Funnel 0500")
    ratio = big_s / small_s if small_s else float("inf")
    print(f"report build, {args.checks:,} funnels: {small_total:,} results {small_s:.2f}s, "
          f"{big_total:,} results {big_s:.2f}s — ratio {ratio:.2f} (target ≤ 3)")
    print(f"`funnelwatch history NAME` on {big_total:,} results: {history_s * 1000:.0f} ms")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
