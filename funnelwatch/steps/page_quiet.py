"""Re-reading a page whose copy may still arrive, until it has visibly stopped changing.

Single-page apps fetch their copy after the load event and render it a moment
later, so a phrase missing at first may still come. A fixed wait (it was 3 s on
the landing page, 4 s after an ad) made every real failure pay it in full. A
person notices instead that the page has settled: nothing in the document
changes any more and nothing the page asked its own site for is still
outstanding. `read_until` waits for exactly that, for `QUIET_S`, with the old
wait as the ceiling (a page that keeps changing, e.g. a ticker, still gets it).

Requests of other origins do not count: chat widgets and beacons poll for ever.
A copy change with neither a request nor a DOM change in sight (a timer that
renders after a pause longer than `QUIET_S`) is not waited for. A page with
nothing left to run at all (`page_idle`: no request of any origin, no short
timer, no animation frame) is settled at once: no wait can bring it more copy.

    text = await read_until(ctx, visible_text, lambda text: contains(text, "Free trial"), cap_s=3.0)
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NamedTuple, TypeVar
from urllib.parse import urlsplit

from . import page_idle

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Response

    from .base import StepContext

#: How long the page must stay unchanged (no DOM mutation, no own request in flight) to count as settled.
QUIET_S = 0.4
T = TypeVar("T")
_POLL_S = 0.1

# Installs (once per document) a MutationObserver that counts changes to the document's content, and
# answers how many there were, how long ago the last one was (ms), and how many fetches and XHRs to its own
# origin the page started that are not answered yet (`page_idle` counts them in the page, before any request event reaches
# us). Attribute changes (animations, hover classes) are not copy. Pages a script cannot observe (no body
# yet) answer as if just changed.
_WATCH_JS = """() => {
  let w = window.__funnelwatchQuiet;
  if (!w) {
    w = window.__funnelwatchQuiet = {count: 0, last: performance.now()};
    new MutationObserver(() => { w.count += 1; w.last = performance.now(); })
      .observe(document, {childList: true, subtree: true, characterData: true});
  }
  const idle = window.__funnelwatchIdle;
  return [w.count, performance.now() - w.last, idle ? idle.ownFetches : 0];
}"""


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class OwnRequests:
    """The requests of one page to its own origin still in flight, and when the last one ended.

    Attached when the page opens (a fetch started before the step began counts too).
    """

    def __init__(self, page: "Page"):
        self.page = page
        self.pending: set[Any] = set()
        self.changed_at = time.monotonic()
        #: Requests of any origin in flight, and when that last changed: for the shortcut (`page_idle`) only,
        #: which a third-party script still loading (an A/B test swapping the headline) must hold back.
        self.any_pending: set[Any] = set()
        self.any_changed_at = self.changed_at

    def attach(self) -> "OwnRequests":
        self.page.on("request", self._on_request)
        for event in ("requestfinished", "requestfailed"):
            self.page.on(event, self._on_done)
        self.page.on("response", self._on_response)
        return self

    def _on_request(self, request: "Request") -> None:
        self.any_pending.add(request)
        self.any_changed_at = time.monotonic()
        try:
            own = _origin(request.url) == _origin(self.page.url)
        except Exception:
            return
        if own:
            self.pending.add(request)
            self.changed_at = time.monotonic()

    def _on_response(self, response: "Response") -> None:
        # Chromium does not always report a fetch whose body the page never reads as finished (see redirects.py).
        self._on_done(response.request)

    def _on_done(self, request: "Request") -> None:
        if request in self.any_pending:
            self.any_pending.discard(request)
            self.any_changed_at = time.monotonic()
        if request in self.pending:
            self.pending.discard(request)
            self.changed_at = time.monotonic()


def watch_own_requests(page: "Page") -> OwnRequests:
    """Start counting the page's own requests; the step context keeps what this returns."""
    return OwnRequests(page).attach()


class _Changes(NamedTuple):
    """What the current document says about its content (`_WATCH_JS`)."""

    mutations: int  #: mutations so far; -1 when the document could not be asked (navigating, no scripts)
    quiet_s: float  #: since the last one
    fetching: bool  #: a fetch or XHR to its own origin is still out (counted in the page, `page_idle`)


async def _changes(page: "Page") -> _Changes:
    try:
        count, age_ms, fetching = await page.evaluate(_WATCH_JS)
    except Exception:  # navigating, or a page that will not run scripts: as if it just changed
        return _Changes(-1, 0.0, False)
    return _Changes(int(count), float(age_ms) / 1000, bool(fetching))


def _busy(changes: _Changes, requests: "OwnRequests | None") -> bool:
    """A request to the page's own origin is out: heard from the page, or from the browser's events."""
    return changes.fetching or (requests is not None and bool(requests.pending))


def _quiet_for(changes: _Changes, requests: "OwnRequests | None", ctx: "StepContext") -> float:
    """Seconds since the document or its own network last changed."""
    since = requests.changed_at if requests is not None else ctx.started
    return min(changes.quiet_s, time.monotonic() - since)


async def settled(ctx: "StepContext") -> bool:
    """The page has not changed for `QUIET_S`: no DOM mutation, no request to its own origin in flight or just ended.

    The first call on a document starts watching it, so it answers True at the earliest `QUIET_S` later.
    """
    changes = await _changes(ctx.page)
    requests: OwnRequests | None = getattr(ctx, "own_requests", None)
    if _busy(changes, requests):
        return False
    return changes.mutations >= 0 and (_quiet_for(changes, requests, ctx) >= QUIET_S or await _nothing_due(ctx, requests))


async def _nothing_due(ctx: "StepContext", requests: "OwnRequests | None") -> bool:
    """No request in flight or just ended, and nothing left to run on the page (`page_idle`): settled now."""
    if requests is None or requests.any_pending or time.monotonic() - requests.any_changed_at < page_idle.SETTLE_MS / 1000:
        return False
    return not await page_idle.pending(ctx.page)


async def read_until(ctx: "StepContext", read: Callable[["Page"], Awaitable[T]], enough: Callable[[T], bool],
                     cap_s: float) -> T:
    """Read the page until `enough(what was read)` or it has been quiet for `QUIET_S`, at most `cap_s`.

    `read(page)` returns what to judge (e.g. `pagekit.visible_text`); it is
    re-read only after the document changed. Returns the last reading.
    """
    reading = await read(ctx.page)
    if enough(reading):
        return reading
    deadline = time.monotonic() + cap_s
    requests: OwnRequests | None = getattr(ctx, "own_requests", None)
    seen = (await _changes(ctx.page)).mutations
    if await _nothing_due(ctx, requests):
        return await read(ctx.page)  # nothing can bring more copy: read once more (it may have changed) and judge
    while time.monotonic() < deadline:
        await asyncio.sleep(_POLL_S)
        changes = await _changes(ctx.page)
        if changes.mutations != seen:
            seen = changes.mutations
            reading = await read(ctx.page)
            if enough(reading):
                return reading
        if _busy(changes, requests):
            continue
        if changes.mutations >= 0 and _quiet_for(changes, requests, ctx) >= QUIET_S:
            return reading  # settled, and read since its last change
        if await _nothing_due(ctx, requests):
            return await read(ctx.page)
    return await read(ctx.page)
