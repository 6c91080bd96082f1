"""What following an ad's redirect chain costs, next to loading the landing page directly.

Same browser, same local site, same run: funnelwatch's `navigate` follows a
4-hop click (302 → 301 → meta refresh → JavaScript `location.replace`) to the
landing page, and also loads that landing page directly. Both wait for
"ready" the same way (load event + short network quiet + the grace that
watches for one more tracker hop), so the ratio is the price of the hops.
A raw `page.goto(final, wait_until="load")` is printed too, for scale.

    .venv/bin/python bench/ad_chain.py [--reps 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from funnelwatch.browser import launch, new_context  # noqa: E402
from funnelwatch.demo.server import LocalSite, Request, Response  # noqa: E402
from funnelwatch.steps.pagekit import navigate  # noqa: E402

QUERY = "utm_source=google&utm_medium=cpc&utm_campaign=bench&gclid=FW-BENCH"
LANDING = "<title>Free HIPAA Compliance Checklist</title><h1>Free HIPAA Compliance Checklist</h1><p>40 pages.</p>"


def build_site(site: LocalSite) -> None:
    def meta(request: Request) -> Response:
        query = urlsplit(request.url).query
        return Response(200, f'<meta http-equiv="refresh" content="0;url=/t/js?{query}"><p>Redirecting…</p>')

    site.redirect("/go/ad", "/t/one", 302)
    site.redirect("/t/one", "/t/meta", 301)
    site.route("/t/meta", meta)
    site.page("/t/js", "<script>location.replace('/lp/hipaa' + location.search)</script>")
    site.page("/lp/hipaa", LANDING)


async def measure(site: LocalSite, reps: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    times: dict[str, list[float]] = {"chain": [], "direct": [], "goto": []}
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        for _ in range(reps):  # interleaved, so load on the machine hits all alike
            for label, path in (("chain", "/go/ad"), ("direct", "/lp/hipaa")):
                context = await new_context(browser, "desktop")
                page = await context.new_page()
                ctx = SimpleNamespace(page=page, timeout_s=15.0, timeout_ms=15000.0)
                began = time.perf_counter()
                nav = await navigate(ctx, site.url(f"{path}?{QUERY}"))  # type: ignore[arg-type]
                times[label].append(time.perf_counter() - began)
                if label == "chain" and len(nav.hops) != 5:
                    raise SystemExit(f"expected 4 hops, got {[h.as_dict() for h in nav.hops]}")
                await context.close()
            context = await new_context(browser, "desktop")
            page = await context.new_page()
            began = time.perf_counter()
            await page.goto(site.url(f"/lp/hipaa?{QUERY}"), wait_until="load")
            times["goto"].append(time.perf_counter() - began)
            await context.close()
        await browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    with LocalSite() as site:
        build_site(site)
        times = asyncio.run(measure(site, args.reps))
    med = {label: statistics.median(values) for label, values in times.items()}
    print(f"ad click-through, median of {args.reps} (same run, same browser, local site)")
    print(f"  4-hop chain (302 → 301 → meta refresh → JS) to ready   {med['chain']:6.3f}s")
    print(f"  final page directly, to ready                          {med['direct']:6.3f}s")
    print(f"  ratio chain / direct                                   {med['chain'] / med['direct']:6.2f}x")
    print(f"  (raw page.goto(final, wait_until='load')               {med['goto']:6.3f}s)")


if __name__ == "__main__":
    main()
