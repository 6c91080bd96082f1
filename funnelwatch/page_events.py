"""A check's page: opened with its scripts (and trace), and what it did while the steps ran.

`open_page` opens it the same way for the runner and for `funnelwatch new`;
`watch` then collects its console errors, uncaught errors, failed requests,
hits and a crash on the step context as the attempt goes (capped, so a noisy
page cannot fill memory), copied into the result's evidence at the end.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

from .tag_hits import Seen, recognise, transport_of

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

    from .steps.base import StepContext

MAX_EVENTS = 200
SHOWN_EVENTS = 50
MAX_REQUESTS = 2000
#: Pages whose main-frame requests the browser-wide interception reports (`watch_hits`).
_watched: "weakref.WeakSet[Any]" = weakref.WeakSet()


async def open_page(context: "BrowserContext", timeout_s: float, trace: bool = False) -> tuple["Page", bool]:
    """The context's page, opened the way every check's is: (page, whether its trace started).

    The timeouts and the page scripts (`redirects.prepare_context`) go on the
    context first, concurrently with `tracing.start` when a trace is wanted,
    so the page is born with them instead of paying a round trip each. A
    context whose page will not open is closed.
    """
    from .steps.redirects import prepare_context

    context.set_default_timeout(timeout_s * 1000)
    context.set_default_navigation_timeout(timeout_s * 1000)
    started = await asyncio.gather(prepare_context(context), *([_start_tracing(context)] if trace else []))
    try:
        page = await context.new_page()
    except Exception:
        try:
            await context.close()
        except Exception:
            pass
        raise
    return page, trace and bool(started[-1])


async def _start_tracing(context: "BrowserContext") -> bool:
    """Record DOM snapshots before and after every action, not the screencast filmstrip.

    The trace viewer shows the page at each step, with its network and
    console. Measured per context on a form journey (bench/RESULTS.md, #21):
    the filmstrip with snapshots cost 0.4 s of CPU over no trace, snapshots
    alone 0.1-0.25 s; the failure's full-page screenshot is kept anyway.
    """
    try:
        await context.tracing.start(screenshots=False, snapshots=True, sources=False)
        return True
    except Exception:
        return False


async def watch(ctx: "StepContext") -> None:
    """Listen to the step context's page (`listen`) and hear its main frame from the browser (`watch_hits`)."""
    listen(ctx)
    await watch_hits(ctx)


def listen(ctx: "StepContext") -> None:
    """Start collecting the page's events onto `ctx`."""
    from .steps.page_quiet import watch_own_requests

    page = ctx.page
    ctx.own_requests = watch_own_requests(page)

    def on_console(message: Any) -> None:
        if message.type == "error" and len(ctx.console_errors) < MAX_EVENTS:
            ctx.console_errors.append({"text": message.text[:500], "url": (message.location or {}).get("url", "")})

    def on_page_error(error: Any) -> None:
        if len(ctx.page_errors) < MAX_EVENTS:
            ctx.page_errors.append({"message": str(error)[:500], "stack": (getattr(error, "stack", "") or "")[:2000], "at": time.time()})

    def on_request_failed(request: Any) -> None:
        if len(ctx.failed_requests) < MAX_EVENTS:
            ctx.failed_requests.append({"url": request.url[:500], "method": request.method, "error": request.failure or "failed"})

    def on_response(response: Any) -> None:
        if response.status >= 400 and len(ctx.failed_requests) < MAX_EVENTS:
            request = response.request
            ctx.failed_requests.append(
                {"url": response.url[:500], "method": request.method, "status": response.status, "resource": request.resource_type}
            )

    def on_crash(_: Any) -> None:
        ctx.crashed = True

    def on_request(request: Any) -> None:
        """Context-wide (popups, frames); the main frame is heard from the browser itself once `watch_hits` ran."""
        try:
            frame = request.frame
            if frame.page in _watched and frame is frame.page.main_frame:
                return
        except Exception:  # a service worker's request has no frame
            pass
        try:
            body = request.post_data_buffer if request.method == "POST" else None
            _record(ctx, request.method, request.url, body, request.headers.get("content-type", ""), request.resource_type,
                    _page_of(request))
        except Exception:
            pass

    ctx.context.on("request", on_request)
    page.on("crash", on_crash)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)


def browser_evidence(ctx: "StepContext") -> dict[str, Any]:
    """The final URL and the page's events, for the result's evidence."""
    found: dict[str, Any] = {}
    try:
        found["final_url"] = ctx.page.url
    except Exception:
        pass
    if ctx.console_errors:
        found["console_errors"] = ctx.console_errors[:SHOWN_EVENTS]
    if ctx.page_errors:
        found["page_errors"] = ctx.page_errors[:SHOWN_EVENTS]
    if ctx.failed_requests:
        found["failed_requests"] = ctx.failed_requests[:SHOWN_EVENTS]
    if ctx.tag_hits:
        found["tags"] = [seen.facts(ctx.submitted_at, ctx.started_at, ctx.redactor) for seen in ctx.tag_hits[:MAX_EVENTS]]
    return found


async def watch_hits(ctx: "StepContext") -> None:
    """Hear the page's main-frame requests from the browser-wide interception (`netguard.HitWatch`).

    A beacon the form's page sends while it unloads never shows in the page's
    own event stream; the browser still issues (and answers) it. Without a
    guarded browser, the context's events are all there is.
    """
    from .netguard import hit_watch, request_body

    watch = hit_watch(ctx.context.browser)
    if watch is None:
        return
    try:
        session = await ctx.context.new_cdp_session(ctx.page)
        target = str((await session.send("Target.getTargetInfo"))["targetInfo"]["targetId"])
        await session.detach()
    except Exception:
        return

    def on_browser_request(request: dict[str, Any], resource: str) -> None:
        headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
        page_url = ""
        try:
            page_url = ctx.page.url[:300]
        except Exception:
            pass
        _record(ctx, str(request.get("method", "GET")), str(request.get("url", "")), request_body(request),
                headers.get("content-type", ""), "fetch/xhr" if resource == "xhr" else resource, page_url)

    watch.watch(target, on_browser_request)
    _watched.add(ctx.page)
    ctx.context.on("close", lambda _: watch.forget(target))


async def settle_hits(browser: Any) -> None:
    """Before a context closes: every hit the browser paused has its answer (`netguard.HitWatch.settled`)."""
    from .netguard import hit_watch

    watch = hit_watch(browser)
    if watch is not None:
        await watch.settled()


def _record(ctx: "StepContext", method: str, url: str, body: bytes | str | None, content_type: str, resource: str, page: str) -> None:
    """Keep the request for `url:` globs, and its analytics and ad hits."""
    now = time.time()
    if len(ctx.requests_seen) < MAX_REQUESTS:
        ctx.requests_seen.append({"url": url[:2000], "at": now, "resource": resource, "page": page})
    if len(ctx.tag_hits) >= MAX_EVENTS or not _maybe_hit(url):
        return
    answered = ctx.config.settings.browser.analytics == "answer"
    hits = recognise(method, url, body, content_type)
    ctx.tag_hits += [Seen(hit, now, url, transport_of(resource), answered, page=page) for hit in hits]


def _page_of(request: Any) -> str:
    """The URL of the page that sent a request (its frame may be gone mid-navigation)."""
    try:
        return str(request.frame.url)[:300]
    except Exception:
        return ""


def _maybe_hit(url: str) -> bool:
    """A cheap look before parsing: every recognised hit's path has one of these."""
    return "/collect" in url or "/pagead/" in url or "/tr" in url
