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
from funnelwatch.steps.page_idle import MAX_FRAME_DEPTH, SETTLE_MS
from tests.sites.forms import other_origin


async def _load_and(url: str, read: str | None = None, wait_s: float = 0.0, then: str | None = None) -> tuple[str, object]:
    """Load `url` watched, evaluate `then`, wait: (what is due, what `read` evaluates to then)."""
    async with async_playwright() as playwright:
        chromium = await browser.launch(playwright)
        try:
            page = await chromium.new_page()
            await page.add_init_script(page_idle.INIT_JS)
            await page.goto(url, wait_until="load")
            if then:
                await page.evaluate(then)
            await asyncio.sleep(wait_s)
            return await page_idle.pending(page), (await page.evaluate(read) if read else None)
        finally:
            await chromium.close()


def ask(url: str, wait_s: float = 0.0, then: str | None = None) -> str:
    """What is due on `url` once loaded, after `wait_s` and a settle moment."""
    return asyncio.run(_load_and(url, None, wait_s + 2 * SETTLE_MS / 1000, then))[0]


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
    ("plugin", "<object data='/idle/static'></object>", "a frame"),
    ("meta-refresh", "<meta http-equiv='refresh' content='30'>", "a meta refresh"),
])
def test_a_page_with_something_still_due_says_what(site, name, body, expected):
    site.page(f"/idle/{name}", OFFER + body)
    assert ask(site.url(f"/idle/{name}")) == expected


CHILD = "<p>protected by reCAPTCHA</p>"


def test_a_page_whose_frames_have_nothing_due_is_idle(site):
    """A reCAPTCHA badge or a video player in a frame, idle itself, does not hold the page (#21)."""
    other = other_origin(site)  # Chromium runs a frame of another origin out of process
    site.page("/idle/child", CHILD)
    site.page("/idle/child-nested", CHILD + "<iframe src='/idle/child'></iframe>")
    site.page("/idle/framed", OFFER + "<iframe src='/idle/child'></iframe><iframe src='about:blank'></iframe>"
                                      f"<iframe srcdoc='<p>hi</p>'></iframe><iframe src='{other}/idle/child-nested'></iframe>")
    assert ask(site.url("/idle/framed")) == ""


@pytest.mark.parametrize("name, frame, expected", [
    ("timer", "<iframe src='/idle/child-timer'></iframe>", "a timer in a frame"),
    ("other-origin", "<iframe src='{other}/idle/child-timer'></iframe>", "a timer in a frame"),
    ("nested", "<iframe src='/idle/child-nested-busy'></iframe>", "an interval in a frame"),
    ("lazy", "<div style='height:5000px'></div><iframe loading='lazy' src='/idle/child'></iframe>", "a frame"),
    ("too-deep", "<iframe src='/idle/deep1'></iframe>", "a frame in a frame"),  # deeper than MAX_FRAME_DEPTH
])
def test_a_frame_with_something_due_or_not_yet_loaded_keeps_the_page_pending(site, name, frame, expected):
    site.page("/idle/child", CHILD)
    site.page("/idle/child-timer", CHILD + "<script>setTimeout(() => {}, 900);</script>")
    site.page("/idle/child-busy", CHILD + "<script>setInterval(() => {}, 200);</script>")
    site.page("/idle/child-nested-busy", CHILD + "<iframe src='/idle/child-busy'></iframe>")
    for depth in range(1, MAX_FRAME_DEPTH + 2):
        site.page(f"/idle/deep{depth}", CHILD + f"<iframe src='/idle/deep{depth + 1}'></iframe>")
    site.page(f"/idle/deep{MAX_FRAME_DEPTH + 2}", CHILD)
    site.page(f"/idle/frame-{name}", OFFER + frame.format(other=other_origin(site)))
    assert ask(site.url(f"/idle/frame-{name}")) == expected


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


#: Copy still out when the page is asked, however long the load took on a busy machine (a 1 s answer was
#: once already in when CI asked, 0.5 s after a slow load).
SLOWER_COPY, SLOWER_COPY_S = "/idle/slower-copy", 4.0


@pytest.mark.parametrize("name, script", [
    ("fetch", "fetch('/idle/slow-copy').then(r => r.text()).then(t => { document.title = t; });"),
    ("xhr", "const x = new XMLHttpRequest(); x.open('GET', '/idle/slow-copy');"
            " x.onload = () => { document.title = x.responseText; }; x.send();"),
])
def test_a_fetch_the_page_started_keeps_it_pending_until_answered(site, name, script):
    """Counted in the page as it starts: a request event can reach funnelwatch late on a busy machine."""
    site.page("/idle/slow-copy", "Copy arrived", delay_s=1.0)
    site.page(SLOWER_COPY, "Copy arrived", delay_s=SLOWER_COPY_S)
    site.page(f"/idle/{name}", OFFER + f"<script>{script}</script>")
    site.page(f"/idle/{name}-slower", OFFER + f"<script>{script.replace('/idle/slow-copy', SLOWER_COPY)}</script>")
    due, waiting = asyncio.run(_load_and(site.url(f"/idle/{name}-slower"), "() => window.__funnelwatchIdle.ownFetches", 0.1))
    assert (due, waiting) == ("a request", 1)
    due, title = asyncio.run(_load_and(site.url(f"/idle/{name}"), "() => document.title", 1.5))
    assert (due, title) == ("", "Copy arrived")  # answered: no longer due, and the page got its answer


def test_a_failed_fetch_no_longer_counts_and_a_fetch_elsewhere_is_not_the_pages_own(site):
    site.page("/idle/failed", OFFER + "<script>fetch('http://127.0.0.1:9/nothing').catch(() => { document.title = 'caught'; });"
                                      "fetch('/idle/missing-answer');</script>")
    due, counts = asyncio.run(_load_and(site.url("/idle/failed"), "() => [document.title, window.__funnelwatchIdle.fetches,"
                                        " window.__funnelwatchIdle.ownFetches]", 0.5))
    assert (due, counts) == ("", ["caught", 0, 0])


def test_an_own_fetch_still_out_is_a_change_now_for_the_copy_wait(site):
    """`page_quiet` reads the same count: the page is not settled while its copy is still being fetched."""
    from funnelwatch.steps.page_quiet import _WATCH_JS

    site.page(SLOWER_COPY, "Copy arrived", delay_s=SLOWER_COPY_S)
    site.page("/idle/quiet-fetch", OFFER + f"<script>fetch('{SLOWER_COPY}');</script>")
    due, answer = asyncio.run(_load_and(site.url("/idle/quiet-fetch"), _WATCH_JS, 0.5))
    assert due == "a request" and answer[2] == 1
