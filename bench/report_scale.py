"""Report build time vs history size: 365,000 results against 3,650, same funnels, same run (issue #21).

The report's cost should follow what it shows, not how much history there is.
Three rows, each a ratio of the 365,000-result history to the 3,650-result one:

- after a run (the nightly case): a run of 24 funnels adds its results, then the
  report is built as `funnelwatch run` builds it (incremental: the 24 pages
  and the index), best of 3 nights. Target ≤ 1.5x. Measured on a project of
  24 funnels (152 vs 15,208 results each: both histories fill every strip and
  every page's hundred-row table, so the report shows the same and only the
  history's size differs; the run touches them all), and on 1,000 funnels
  (3.65 vs 365 nights: the run touches 24 of them; the small history's strips
  and pages hold 4 results, not 30 and 100, so it has less to show).
- full rebuild (`funnelwatch report --full`) of 1,000 funnels: target ≤ 3x.

It also prints the latency of `funnelwatch history NAME`.

    .venv/bin/python bench/report_scale.py [--checks 1000] [--project 24] [--runs 365] [--touched 24]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Callable

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


AFTER_RUN_TARGET = 1.5
FULL_TARGET = 3.0


def _full_build(config: funnelwatch.Config) -> None:
    try:
        funnelwatch.api.build_report(config, full=True)
    except TypeError:  # a funnelwatch before #21: every build is a full one
        funnelwatch.api.build_report(config)


def _best_of_interleaved(builds: list[Callable[[], None]], repeats: int,
                         before: Callable[[int, int], None] | None = None) -> list[float]:
    """Each build's best time of `repeats`, the builds taking turns so load on the machine hits them alike;
    `before(build, repeat)` runs untimed ahead of each (the night's run that the build then reports)."""
    best = [float("inf")] * len(builds)
    for repeat in range(repeats):
        for which, build in enumerate(builds):
            if before is not None:
                before(which, repeat)
            began = time.perf_counter()
            build()
            best[which] = min(best[which], time.perf_counter() - began)
    return best


def build_seconds(small: Path, big: Path, repeats: int = 2) -> tuple[float, float]:
    """A full rebuild (every page) of each history, best of `repeats`."""
    configs = [funnelwatch.load_config(small), funnelwatch.load_config(big)]
    small_s, big_s = _best_of_interleaved([partial(_full_build, config) for config in configs], repeats)
    return small_s, big_s


def add_run(root: Path, checks: int, touched: int, night: int) -> None:
    """One more run, an hour after the last, in which `touched` funnels (spread over the project) ran; one broke."""
    store = Store(root / "reports" / "history.db")
    try:
        with store.transaction():
            last = store.runs(1)[0]["started_at"]
            day = datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) + timedelta(hours=1)
            run_id = store.db["runs"].insert({"started_at": iso(day), "finished_at": iso(day), "state": "complete",
                                              "selection": f"{touched} checks", "exit_code": 1}).last_pk
            step = max(1, checks // touched)
            rows = [{
                "run_id": run_id, "check_name": f"Funnel {number:04d}", "file": f"checks/f{number:04d}.yaml",
                "viewport": "desktop", "status": "fail" if number == night % checks else "pass",
                "step": None, "category": None, "reason": None, "duration_s": 3.0, "attempts": 1,
                "started_at": iso(day), "kind": "check", "tags": json.dumps(["bench", f"group-{number % 10}"]),
                "artifacts": "{}",
            } for number in range(0, step * touched, step)]
            store.db["results"].insert_all(rows)
    finally:
        store.close()


def after_run_seconds(small: Path, big: Path, checks: int, touched: int, repeats: int = 3) -> tuple[float, float]:
    """The report build after a run of `touched` funnels (incremental: their pages and the index) of each
    history, best of `repeats` nights."""
    roots = (small, big)
    configs = [funnelwatch.load_config(root) for root in roots]
    for config in configs:
        funnelwatch.api.build_report(config)  # the report as the last night left it
    small_s, big_s = _best_of_interleaved([partial(funnelwatch.api.build_report, config) for config in configs], repeats,
                                          before=lambda which, night: add_run(roots[which], checks, touched, night))
    return small_s, big_s


def history_seconds(root: Path, name: str, repeats: int = 5) -> float:
    runner = CliRunner()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        outcome = runner.invoke(cli, ["-C", str(root), "history", name, "-n", "20"])
        best = min(best, time.perf_counter() - began)
        assert outcome.exit_code == 0, outcome.output
    return best


def _verdict(ratio: float, target: float) -> str:
    return f"target ≤ {target:g}x: {'pass' if ratio <= target else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--project", type=int, default=24, help="funnels of the like-for-like project")
    parser.add_argument("--runs", type=int, default=365)
    parser.add_argument("--touched", type=int, default=24, help="funnels in the run before the report build")
    args = parser.parse_args(argv)
    big_total, small_total = args.checks * args.runs, args.checks * args.runs // 100
    load = os.getloadavg()[0]
    failed = False
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp:
        for checks in (args.project, args.checks):
            began = time.perf_counter()
            big = make_history(Path(tmp) / f"big{checks}", checks, big_total)
            small = make_history(Path(tmp) / f"small{checks}", checks, small_total)
            print(f"wrote {big_total:,} + {small_total:,} results of {checks:,} funnels in {time.perf_counter() - began:.1f}s",
                  file=sys.stderr)
            if checks == args.checks:
                small_s, big_s = build_seconds(small, big)
                ratio = big_s / small_s if small_s else float("inf")
                failed |= ratio > FULL_TARGET
                print(f"report full rebuild, {checks:,} funnels: {small_total:,} results {small_s:.2f}s, "
                      f"{big_total:,} results {big_s:.2f}s — ratio {ratio:.2f}x ({_verdict(ratio, FULL_TARGET)})")
                history_s = history_seconds(big, "Funnel 0500")
            small_s, big_s = after_run_seconds(small, big, checks, args.touched)
            ratio = big_s / small_s if small_s else float("inf")
            failed |= ratio > AFTER_RUN_TARGET
            print(f"report after a run of {args.touched} funnels, {checks:,} funnels: {small_total:,} results {small_s:.3f}s, "
                  f"{big_total:,} results {big_s:.3f}s — ratio {ratio:.2f}x ({_verdict(ratio, AFTER_RUN_TARGET)})")
    print(f"`funnelwatch history NAME` on {big_total:,} results: {history_s * 1000:.0f} ms")
    print(f"load average at the start: {load:.1f} (2 cores, shared; ratios are same-run)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
