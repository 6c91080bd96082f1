"""A loaded page says whether anything is still due on it (the shortcut past the clock-based waits).

Each page below is loaded in real Chromium with `page_idle.INIT_JS` added, and
asked once it has loaded. A page with nothing left to run answers '' (ready and
settled at once); each twin keeps something due and must say what, so the
waits run as before for it.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from funnelwatch import browser
from funnelwatch.steps import page_idle
from funnelwatch.steps.page_idle import SETTLE_MS


async def _ask(url: str, wait_s: float = 0.0, then: str | None = None) -> str:
    async with async_playwright() as playwright:
        chromium = await browser.launch(playwright)
        try:
            page = await chromium.new_page()
            await page.add_init_script(page_idle.INIT_JS)
            await page.goto(url, wait_until="load")
            if then:
                await page.evaluate(then)
            await asyncio.sleep(wait_s + 2 * SETTLE_MS / 1000)
            return await page_idle.pending(page)
        finally:
            await chromium.close()


def ask(url: str, wait_s: float = 0.0, then: str | None = None) -> str:
    return asyncio.run(_ask(url, wait_s, then))


OFFER = "<title>Spring offer</title><h1>Free HIPAA Checklist</h1><form><input name=email></form>"


def test_a_page_with_nothing_left_to_run_is_idle(site):
    site.page("/idle/static", OFFER + "<script>document.title = 'Spring offer';</script>")
    assert ask(site.url("/idle/static")) == ""


@pytest.mark.parametrize("name, body, expected", [
    ("timer", "<script>setTimeout(() => { document.title = 'later'; }, 900);</script>", "a timer"),
    ("timer-in-onload", "<body onload=\"setTimeout(() => location.replace('/elsewhere'), 800)\">", "a timer"),
    ("interval", "<script>setInterval(() => {}, 200);</script>", "an interval"),
    ("animation", "<script>const spin = () => requestAnimationFrame(spin); spin();</script>", "an animation frame"),
    ("idle-callback", "<script>const work = () => requestIdleCallback(work); work();</script>", "an idle callback"),
    ("frame", "<iframe src='about:blank'></iframe>", "a frame"),
    ("meta-refresh", "<meta http-equiv='refresh' content='30'>", "a meta refresh"),
])
def test_a_page_with_something_still_due_says_what(site, name, body, expected):
    site.page(f"/idle/{name}", OFFER + body)
    assert ask(site.url(f"/idle/{name}")) == expected


def test_a_page_that_started_to_leave_is_navigating(site):
    site.page("/idle/leaving", OFFER)
    site.page("/idle/slow-next", OFFER, delay_s=3.0)
    # Playwright may drop the leaving document's context before it answers: unanswered is pending too.
    assert ask(site.url("/idle/leaving"), then="() => { location.href = '/idle/slow-next'; }") in ("navigating", "unanswered")


def test_a_timer_that_has_fired_or_was_cleared_no_longer_counts(site):
    site.page("/idle/fired", OFFER + "<script>setTimeout(() => { document.title = 'later'; }, 150);</script>")
    site.page("/idle/cleared", OFFER + "<script>clearTimeout(setTimeout(() => {}, 900));</script>")
    assert ask(site.url("/idle/fired"), wait_s=0.3) == ""
    assert ask(site.url("/idle/cleared")) == ""


def test_a_timer_due_beyond_the_horizon_is_not_waited_for(site):
    """The clock-based waits never waited for a chat invitation 30 s away either."""
    site.page("/idle/chat", OFFER + "<script>setTimeout(() => {}, 30000);</script>")
    assert ask(site.url("/idle/chat")) == ""


def test_timers_still_work_with_their_arguments_and_this(site):
    site.page("/idle/args", OFFER + "<script>setTimeout((a, b) => { document.title = a + b; }, 10, 'x', 'y');"
                                    "setTimeout(\"document.body.dataset.s = 'string handler'\", 10);</script>")

    async def go() -> tuple[str, str]:
        async with async_playwright() as playwright:
            chromium = await browser.launch(playwright)
            page = await chromium.new_page()
            await page.add_init_script(page_idle.INIT_JS)
            await page.goto(site.url("/idle/args"), wait_until="load")
            await asyncio.sleep(0.2)
            found = await page.title(), await page.evaluate("() => document.body.dataset.s")
            await chromium.close()
            return found

    assert asyncio.run(go()) == ("xy", "string handler")


def test_a_page_never_watched_is_pending(site):
    """Without the init script there is nothing to go by: the waits run as before."""
    site.page("/idle/unwatched", OFFER)

    async def go() -> str:
        async with async_playwright() as playwright:
            chromium = await browser.launch(playwright)
            page = await chromium.new_page()
            await page.goto(site.url("/idle/unwatched"), wait_until="load")
            found = await page_idle.pending(page)
            await chromium.close()
            return found

    assert asyncio.run(go()) == "not watched"
