"""Page helpers the browser steps share: navigate and wait like a person, read text."""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StepFailed
from ..results import Category

if TYPE_CHECKING:
    from playwright.async_api import Page

    from .base import StepContext

NETWORK_QUIET_S = 0.5
NETWORK_QUIET_CAP_S = 3.0


@dataclass
class Navigation:
    """Where a navigation ended and how long it took to be ready."""

    requested_url: str
    final_url: str
    status: int | None
    ready_s: float
    hops: list[dict[str, Any]] = field(default_factory=list)


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


def describe_nav_error(exc: Exception, url: str) -> StepFailed:
    """Turn a Playwright navigation error into the spec's category."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "ERR_TOO_MANY_REDIRECTS" in text:
        return StepFailed(Category.REDIRECT_LOOP, f"{url} redirects in a loop (too many redirects)")
    if "Timeout" in type(exc).__name__ or "Timeout" in first:
        return StepFailed(Category.TIMEOUT, f"{url} did not load in time")
    for marker in ("ERR_CONNECTION_REFUSED", "ERR_NAME_NOT_RESOLVED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE",
                   "ERR_CERT", "ERR_SSL", "ERR_ADDRESS_UNREACHABLE", "ERR_CONNECTION_CLOSED", "ERR_INVALID_RESPONSE"):
        if marker in text:
            match = re.search(r"net::(ERR_[A-Z_]+)", text)
            return StepFailed(Category.CONNECTION, f"{url} could not be reached ({match.group(1) if match else marker})")
    return StepFailed(Category.CONNECTION, f"{url} could not be loaded: {first}")


async def navigate(ctx: "StepContext", url: str) -> Navigation:
    """Go to `url`, wait until ready, and report status and timing of the final page."""
    started = time.monotonic()
    try:
        response = await ctx.page.goto(url, wait_until="commit", timeout=ctx.timeout_ms)
    except Exception as exc:
        raise describe_nav_error(exc, url) from None
    remaining = max(1.0, ctx.timeout_s - (time.monotonic() - started))
    await wait_ready(ctx.page, remaining)
    status = response.status if response else None
    final = ctx.page.url
    if response is not None and response.url != final:
        # A client-side hop (meta refresh, JS) moved on: the status we care about is the final document's.
        status = await _final_status(ctx, final, status)
    return Navigation(url, final, status, time.monotonic() - started)


async def _final_status(ctx: "StepContext", final_url: str, fallback: int | None) -> int | None:
    try:
        entry = await ctx.page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus || null : null }"
        )
    except Exception:
        entry = None
    return entry or fallback


async def visible_text(page: "Page") -> str:
    """What a visitor reads: the title plus rendered text of the page (after scripts ran)."""
    try:
        title = await page.title()
        body = await page.evaluate("() => document.body ? document.body.innerText : ''")
    except Exception:
        await asyncio.sleep(0.2)
        title = await page.title()
        body = await page.evaluate("() => document.body ? document.body.innerText : ''")
    return f"{title}\n{body}"


_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")
_QUOTES = {ord("\u2018"): "'", ord("\u2019"): "'", ord("\u201c"): '"', ord("\u201d"): '"', 0xA0: " "}


def normalize(text: str) -> str:
    """Case, dashes, curly quotes and whitespace folded the way people read them."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES).casefold()
    return re.sub(r"\s+", " ", text).strip()


def contains(haystack: str, needle: str) -> bool:
    return normalize(needle) in normalize(haystack)
