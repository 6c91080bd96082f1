"""Peak memory (PSS) of funnelwatch and all its Chromium processes during the 24-funnel run.

PSS (proportional set size, from /proc/PID/smaps_rollup) splits shared pages
between the processes sharing them, so summing it over this process and every
descendant (Playwright driver, Chromium browser, renderers, GPU and network
processes) counts each page once. Target: ≤ 1 GB at concurrency 4. The growth
from concurrency 1 to 8 is shown against the concurrency-1 peak as baseline.

    .venv/bin/python bench/memory.py [--levels 1,4,8]
"""

from __future__ import annotations

import argparse

from common import PeakSampler, Row, bench_funnels, emit, install_funnels, run_funnels

from funnelwatch.demo.server import LocalSite

LEVELS = (1, 4, 8)
TARGET_MB = 1024.0


def peaks(levels: tuple[int, ...] = LEVELS) -> dict[int, tuple[float, int]]:
    """Peak PSS in MB and the process count at that peak, per concurrency level."""
    funnels = bench_funnels(24)
    found = {}
    with LocalSite() as site:
        install_funnels(site, funnels)
        for concurrency in levels:
            with PeakSampler() as sampler:
                run_funnels(site, funnels, concurrency)
            found[concurrency] = (sampler.peak_bytes / 2**20, sampler.peak_processes)
    return found


def run(levels: tuple[int, ...] = LEVELS) -> list[Row]:
    found = peaks(levels)
    rows = []
    if 4 in found:
        mb, processes = found[4]
        rows.append(Row("peak PSS, 24 funnels at concurrency 4", mb, None, "MB", TARGET_MB,
                        note=f"{processes} processes at the peak"))
    base = found.get(min(found))
    for concurrency in sorted(found):
        if concurrency != min(found):
            mb, processes = found[concurrency]
            rows.append(Row(f"peak PSS growth, concurrency {min(found)} → {concurrency}", mb, base[0], "MB",
                            note=f"{processes} processes at the peak"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    args = parser.parse_args()
    emit(run(tuple(int(x) for x in args.levels.split(","))))


if __name__ == "__main__":
    main()
