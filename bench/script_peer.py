"""24 funnels through funnelwatch next to the asyncio Playwright script an engineer would write.

The physical limit (`concurrency.py`) is a floor no browser reaches on two
cores; the honest peer is a hand-written script doing the same journeys the
same way: one browser, a fresh context per funnel, at most 4 at once, no
retries. Both run in this process against the same local site, interleaved
(script, funnelwatch, script, funnelwatch …) so load on the machine hits both
alike; each figure is the median of `--reps` rounds.

- passing: open the landing page, see its headline, fill the email, submit,
  wait for the thank-you URL and text.
- failing: the same 24 with a `must_show` text the page never shows; the script
  keeps a full-page screenshot per failure (funnelwatch its screenshot and trace).

    .venv/bin/python bench/script_peer.py [--reps 3] [--only passing|failing]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from common import BENCH_CHECK, BENCH_CONFIG, Funnel, Row, bench_funnels, emit, install_funnels

import funnelwatch
from funnelwatch.browser import launch, new_context
from funnelwatch.demo.server import LocalSite

CONCURRENCY = 4
TARGETS = {"passing": 1.10, "failing": 1.5}
MISSING = "Spring sale {n}"  # what the failing funnels must show and never do

#: The bench's own check (bench/common.py), and its twin that also wants a phrase the page never shows.
PASSING_CHECK = BENCH_CHECK
FAILING_CHECK = BENCH_CHECK.replace("must_show: [Bench offer {n}]", "must_show: [Bench offer {n}, {missing}]")


# --- the hand-written script ------------------------------------------------------------------


async def _journey(browser: object, site: LocalSite, funnel: Funnel, failing: bool, shots: Path) -> bool:
    """One funnel as an engineer writes it: goto, check copy, fill, submit, wait for the thank-you page."""
    n = funnel.number
    context = await new_context(browser, "desktop")  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        await page.goto(site.url(f"/lp/{n}"))
        text = await page.inner_text("body")
        wanted = [f"Bench offer {n}"] + ([MISSING.format(n=n)] if failing else [])
        if not all(phrase in text for phrase in wanted):
            await page.screenshot(path=str(shots / f"funnel-{n}.png"), full_page=True)
            return False
        await page.fill("input[name=email]", f"bench+{n}@example.com")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"**/thanks/{n}")
        await page.get_by_text("Check your inbox").wait_for()
        return True
    finally:
        await context.close()


async def _by_hand(site: LocalSite, funnels: list[Funnel], failing: bool) -> tuple[float, int]:
    from playwright.async_api import async_playwright

    slots = asyncio.Semaphore(CONCURRENCY)
    with tempfile.TemporaryDirectory(prefix="fw-bench-shots-") as tmp:
        began = time.perf_counter()
        async with async_playwright() as playwright:
            browser = await launch(playwright)

            async def one(funnel: Funnel) -> bool:
                async with slots:
                    return await _journey(browser, site, funnel, failing, Path(tmp))

            passed = await asyncio.gather(*(one(f) for f in funnels))
            await browser.close()
        took = time.perf_counter() - began
    return took, sum(passed)


def by_hand(site: LocalSite, funnels: list[Funnel], failing: bool) -> tuple[float, int]:
    """The script's wall seconds (browser launch included) and how many funnels passed."""
    return asyncio.run(_by_hand(site, funnels, failing))


# --- funnelwatch --------------------------------------------------------------------------------


def write_project(root: Path, site: LocalSite, funnels: list[Funnel], failing: bool) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "checks").mkdir(parents=True, exist_ok=True)
    (root / "config" / "funnelwatch.yaml").write_text(BENCH_CONFIG.format(concurrency=CONCURRENCY), encoding="utf-8")
    template = FAILING_CHECK if failing else PASSING_CHECK
    for funnel in funnels:
        text = template.format(n=funnel.number, url=site.url(f"/lp/{funnel.number}"),
                               missing=MISSING.format(n=funnel.number))
        (root / "checks" / f"bench-{funnel.number:02d}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def by_funnelwatch(root: Path) -> tuple[float, int]:
    """One `funnelwatch.run` (config loaded, history stored, report written): wall seconds, passes."""
    config = funnelwatch.load_config(root)
    began = time.perf_counter()
    outcome = funnelwatch.run(config, alerts=False)
    took = time.perf_counter() - began
    return took, len([r for r in outcome.results if r.status is funnelwatch.Status.PASS])


def run(reps: int = 3, kinds: tuple[str, ...] = ("passing", "failing")) -> list[Row]:
    funnels = bench_funnels(24)
    rows = []
    with LocalSite() as site, tempfile.TemporaryDirectory(prefix="fw-bench-peer-") as tmp:
        install_funnels(site, funnels)
        roots = {kind: write_project(Path(tmp) / kind, site, funnels, kind == "failing") for kind in kinds}
        times: dict[str, dict[str, list[float]]] = {kind: {"script": [], "funnelwatch": []} for kind in kinds}
        odd: list[str] = []
        for _ in range(reps):  # interleaved: A, B, A, B …
            for kind in kinds:
                expected = 0 if kind == "failing" else len(funnels)
                took, passed = by_hand(site, funnels, kind == "failing")
                times[kind]["script"].append(took)
                if passed != expected:
                    odd.append(f"script {kind}: {passed} of {len(funnels)} passed")
                took, passed = by_funnelwatch(roots[kind])
                times[kind]["funnelwatch"].append(took)
                if passed != expected:
                    odd.append(f"funnelwatch {kind}: {passed} of {len(funnels)} passed")
        for kind in kinds:
            label = ("24 passing funnels, concurrency 4: funnelwatch vs hand-written Playwright" if kind == "passing" else
                     "24 funnels failing on must_show, concurrency 4: funnelwatch vs hand-written Playwright")
            spread = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(times[kind]["funnelwatch"], times[kind]["script"]))
            notes = [f"rounds funnelwatch/script: {spread} s; load {os.getloadavg()[0]:.1f}"]
            notes += [o for o in odd if kind in o]
            rows.append(Row(label, statistics.median(times[kind]["funnelwatch"]), statistics.median(times[kind]["script"]),
                            "s", TARGETS[kind], note="; ".join(notes)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", choices=("passing", "failing"))
    args = parser.parse_args()
    emit(run(args.reps, (args.only,) if args.only else ("passing", "failing")))


if __name__ == "__main__":
    main()
