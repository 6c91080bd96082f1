"""Page helpers the browser steps share: navigate and wait like a person, read text."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StepFailed
from ..hops import repeating_urls
from ..netguard import block_reason
from ..results import Category
from . import page_idle
from .message_match import fold, phrase_in
from .redirects import ChainRecorder, RedirectHop

if TYPE_CHECKING:
    from playwright.async_api import Page

    from .base import StepContext

NETWORK_QUIET_S = 0.5
NETWORK_QUIET_CAP_S = 3.0


MAX_HOPS = 15
#: After the page is ready, how long to watch for a tracker's client-side hop before calling it final.
#: Trackers hop from inline scripts or right after load; every page of every check pays this wait
#: (it was 0.5 s, the largest part of funnelwatch's lead over a hand-written script on a passing funnel).
CLIENT_HOP_GRACE_S = 0.3
_POLL_S = 0.05


@dataclass
class Navigation:
    """Where a navigation ended, the hops on the way, and how long the final page took.

    `ready_s` runs from the request of the final page (tracker hops before it
    excluded) to ready; `total_s` is the whole click.
    """

    requested_url: str
    final_url: str
    status: int | None
    ready_s: float
    hops: list[RedirectHop] = field(default_factory=list)
    total_s: float = 0.0

    def chain(self) -> list[dict[str, Any]]:
        return [hop.as_dict() for hop in self.hops]


async def wait_ready(page: "Page", cap_s: float) -> None:
    """Ready as a person sees it: the load event, then a short network quiet, both capped.

    Never `networkidle` alone: chat widgets and beacons poll forever.
    """
    try:
        await page.wait_for_load_state("load", timeout=cap_s * 1000)
    except Exception:
        pass
    try:
        await page.wait_for_load_state("networkidle", timeout=min(NETWORK_QUIET_CAP_S, cap_s) * 1000)
    except Exception:
        pass


def describe_nav_error(exc: Exception, url: str, hops: list[RedirectHop] | None = None) -> StepFailed:
    """Turn a Playwright navigation error into the spec's category."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    chain = [hop.as_dict() for hop in hops or []]
    if "ERR_TOO_MANY_REDIRECTS" in text or len(hops or []) - 1 > MAX_HOPS:  # out of time mid-loop: still the loop
        return loop_failure(url, hops or [], chain)
    if "ERR_BLOCKED_BY_CLIENT" in text:
        blocked = block_reason(*[hop.url for hop in reversed(hops or [])], url)
        if blocked:
            return StepFailed(Category.CONNECTION, blocked, chain=chain)
    if "Timeout" in type(exc).__name__ or "Timeout" in first:
        return StepFailed(Category.TIMEOUT, f"{url} did not load in time", chain=chain)
    for marker in ("ERR_CONNECTION_REFUSED", "ERR_NAME_NOT_RESOLVED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE",
                   "ERR_CERT", "ERR_SSL", "ERR_ADDRESS_UNREACHABLE", "ERR_CONNECTION_CLOSED", "ERR_INVALID_RESPONSE"):
        if marker in text:
            match = re.search(r"net::(ERR_[A-Z_]+)", text)
            where = hops[-1].url if hops else url
            return StepFailed(Category.CONNECTION, f"{where} could not be reached ({match.group(1) if match else marker})", chain=chain)
    return StepFailed(Category.CONNECTION, f"{url} could not be loaded: {first}", chain=chain)


def loop_failure(url: str, hops: list[RedirectHop], chain: list[dict[str, Any]]) -> StepFailed:
    """A redirect loop, naming the URLs that keep coming back."""
    repeating = repeating_urls([hop.url for hop in hops])
    if repeating:
        shown = " → ".join(repeating[:4]) + (" → …" if len(repeating) > 4 else "")
        reason = f"{url} redirects in a loop: {shown} repeat ({len(hops)} hops)"
    else:
        reason = f"{url} redirects more than {MAX_HOPS} times ({len(hops)} hops, last {hops[-1].url if hops else url})"
    return StepFailed(Category.REDIRECT_LOOP, reason, chain=chain, repeating=repeating)


async def navigate(ctx: "StepContext", url: str) -> Navigation:
    """Go to `url` like a click: follow every hop (HTTP, meta refresh, JS) until the final page is ready.

    Raises `StepFailed` for loops (`redirect_loop`), unreachable hosts and timeouts.
    """
    page = ctx.page
    recorder = await ChainRecorder(page).attach()
    started = recorder.started
    deadline = started + ctx.timeout_s
    try:
        try:
            await page.goto(url, wait_until="commit", timeout=ctx.timeout_ms)
        except Exception as exc:
            await recorder.finish()
            raise describe_nav_error(exc, url, recorder.hops) from None
        ready = await _settle(recorder, deadline, getattr(ctx, "evidence", {}))
    finally:
        recorder.detach()
    hops = await recorder.finish()
    if recorder.hop_count > MAX_HOPS:
        await _freeze(page)
        raise loop_failure(url, hops, [h.as_dict() for h in hops])
    if hops and hops[-1].error and page.url.startswith("chrome-error:"):
        blocked = block_reason(hops[-1].url) if "ERR_BLOCKED_BY_CLIENT" in hops[-1].error else None
        if blocked:
            raise StepFailed(Category.CONNECTION, blocked, chain=[h.as_dict() for h in hops])
        raise StepFailed(Category.CONNECTION, f"{hops[-1].url} could not be reached ({hops[-1].error})",
                         chain=[h.as_dict() for h in hops])
    if ready is None:
        raise StepFailed(Category.TIMEOUT, f"{page.url} was not ready within {ctx.timeout_s:g}s",
                         chain=[h.as_dict() for h in hops])
    documents = [h for h in hops if h.status is not None]
    status = documents[-1].status if documents else None
    return Navigation(url, page.url, status, max(0.0, ready - recorder.page_started_at()), hops, ready - started)


async def _freeze(page: "Page") -> None:
    """Stop a page that keeps hopping, so the screenshot and trace of the failure stay cheap."""
    try:
        await page.route("**/*", lambda route: route.abort())
        await page.evaluate("window.stop()")
    except Exception:
        pass


async def _settle(recorder: ChainRecorder, deadline: float, evidence: dict[str, Any]) -> float | None:
    """Wait until the current page is ready and no tracker hop follows; the time it became ready.

    A page with nothing left to run (`page_idle`) is ready at its load event, at once.
    Gives up at once when the tab crashed (the runner's crash listener sets `_crashed`).
    """
    while True:
        now = time.monotonic()
        if evidence.get("_crashed"):
            return None
        if recorder.hop_count > MAX_HOPS:
            return now
        ready = recorder.ready_at(now)
        if ready is not None and now - max(ready, recorder.last_nav_at) >= CLIENT_HOP_GRACE_S:
            return ready
        if now >= deadline:
            return ready
        # Nothing left that could hop or fetch: the network quiet and the grace would only wait. Asked again
        # after the page answered, since a request may have started while it did.
        if recorder.may_be_final(now) and not await page_idle.pending(recorder.page) and recorder.may_be_final(time.monotonic()):
            return recorder.load_at
        await asyncio.sleep(_POLL_S)


_VISIBLE_JS = "() => [document.title, document.body ? document.body.innerText : '']"


async def visible_text(page: "Page") -> str:
    """What a visitor reads: the title, then the rendered text of the page (after scripts ran).

    One evaluate for both: each round trip to the browser queues behind the other checks' (#21).
    """
    try:
        title, body = await page.evaluate(_VISIBLE_JS)
    except Exception:  # the document was replaced while it was read
        await asyncio.sleep(0.2)
        title, body = await page.evaluate(_VISIBLE_JS)
    return f"{title}\n{body}"


def title_of(text: str) -> str:
    """The title line of what `visible_text` read."""
    return text.partition("\n")[0]


def normalize(text: str) -> str:
    """Case, entities, dashes, curly quotes and whitespace folded the way people read them."""
    return re.sub(r"\s+", " ", fold(text)).strip()


def contains(haystack: str, needle: str) -> bool:
    """`needle` appears in `haystack` as people read it (`14 day` = `14-day`, `&amp;` = `&`, plurals)."""
    return normalize(needle) in normalize(haystack) or phrase_in(haystack, needle)
