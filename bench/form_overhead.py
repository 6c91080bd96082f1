"""What one form check costs through funnelwatch, next to a hand-written Playwright script.

Both do the same thing against the same local site in the same run: open the
landing page, fill email/first name/country/consent, submit, wait for the
thank-you URL and text. The script is what a careful engineer would write by
hand (one browser launch, goto, fill, click, wait_for_url, text check);
funnelwatch additionally loads config, finds the form, watches the network
and frames to judge the outcome, stores history and writes the report.

    .venv/bin/python bench/form_overhead.py [--reps 5]

Prints medians over the repetitions and the ratios (whole run, and the
form step alone against the script's fill-submit-wait part).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import funnelwatch  # noqa: E402
from funnelwatch.browser import launch, new_context  # noqa: E402
from funnelwatch.demo.server import LocalSite  # noqa: E402
from tests.sites import forms  # noqa: E402

CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 10s
  concurrency: 1
inbox:
  maildir:
    path: mail
  address: qa+{token}@funnelwatch.test
defaults:
  retries: 0
"""

CHECK = """\
name: Bench lead form
landing:
  url: {url}
form:
  fill:
    email: "{{inbox}}"
    first_name: Funnel
    country: Germany
    consent: true
  success:
    url_contains: /thank-you
    text: Check your inbox
"""


async def by_hand(url: str) -> tuple[float, float]:
    """The hand-written script: (seconds from start to the driver closed, seconds from first fill to success seen)."""
    from playwright.async_api import async_playwright

    began = time.perf_counter()
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        context = await new_context(browser, "desktop")
        page = await context.new_page()
        await page.goto(url)
        filled = time.perf_counter()
        await page.fill("input[name=email]", "qa+bench@funnelwatch.test")
        await page.fill("input[name=first_name]", "Funnel")
        await page.select_option("select[name=country]", label="Germany")
        await page.check("input[name=consent]")
        await page.click("button[type=submit]")
        await page.wait_for_url("**/thank-you")
        await page.get_by_text("Check your inbox").wait_for()
        done = time.perf_counter()
        await browser.close()
    # The whole run includes closing the browser and the driver, as funnelwatch's does.
    return time.perf_counter() - began, done - filled


def by_funnelwatch(root: Path) -> tuple[float, float]:
    """One `funnelwatch.run` of the same check: (total seconds, form step seconds)."""
    began = time.perf_counter()
    outcome = funnelwatch.run(funnelwatch.load_config(root), alerts=False)
    total = time.perf_counter() - began
    result = outcome.results[0]
    if result.status is not funnelwatch.Status.PASS:
        raise SystemExit(f"funnelwatch did not pass the healthy form: {result.reason}")
    form_s = next(step.duration_s for step in result.steps if step.step == "form")
    return total, form_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with LocalSite() as site, tempfile.TemporaryDirectory() as tmp:
        url = site.url(forms.install_classic(site, "bench"))
        root = Path(tmp)
        (root / "config").mkdir()
        (root / "checks").mkdir()
        (root / "config" / "funnelwatch.yaml").write_text(CONFIG)
        (root / "checks" / "bench.yaml").write_text(textwrap.dedent(CHECK.format(url=url)))
        hand_total, hand_form, fw_total, fw_form = [], [], [], []
        for _ in range(args.reps):  # interleaved, so load on the machine hits both alike
            total, part = asyncio.run(by_hand(url))
            hand_total.append(total)
            hand_form.append(part)
            total, part = by_funnelwatch(root)
            fw_total.append(total)
            fw_form.append(part)
    med = statistics.median
    print(f"form check, median of {args.reps} (same run, same local site)")
    print(f"  whole run      hand-written Playwright {med(hand_total):6.2f}s   funnelwatch {med(fw_total):6.2f}s   "
          f"ratio {med(fw_total) / med(hand_total):4.2f}x")
    print(f"  fill+submit    hand-written Playwright {med(hand_form):6.2f}s   funnelwatch {med(fw_form):6.2f}s   "
          f"ratio {med(fw_form) / med(hand_form):4.2f}x")


if __name__ == "__main__":
    main()
