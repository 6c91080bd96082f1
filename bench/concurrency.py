"""Wall time of 24 funnels at concurrency 1, 2, 4 and 8 against the physical limit.

Each bench funnel waits a known time on the site (page latency + form POST
latency, 0.8–2.0 s). No monitor can finish faster than the sum of those waits
spread over the concurrency slots, or the longest single funnel, whichever is
larger: that is the baseline. Target: ≤ 1.5× the limit at concurrency 4.

    .venv/bin/python bench/concurrency.py [--levels 1,2,4,8]
"""

from __future__ import annotations

import argparse

from common import Row, bench_funnels, emit, install_funnels, physical_limit_s, run_funnels

from funnelwatch.demo.server import LocalSite

LEVELS = (1, 2, 4, 8)
TARGET_AT_4 = 1.5


def run(levels: tuple[int, ...] = LEVELS) -> list[Row]:
    funnels = bench_funnels(24)
    rows = []
    with LocalSite() as site:
        install_funnels(site, funnels)
        for concurrency in levels:
            took, statuses = run_funnels(site, funnels, concurrency)
            bad = len([s for s in statuses if s != "pass"])
            rows.append(Row(
                f"24 funnels, concurrency {concurrency}: wall vs physical limit", took,
                physical_limit_s(funnels, concurrency), "s", TARGET_AT_4 if concurrency == 4 else None,
                note=f"{bad} of {len(statuses)} did not pass" if bad else "",
            ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    args = parser.parse_args()
    emit(run(tuple(int(x) for x in args.levels.split(","))))


if __name__ == "__main__":
    main()
