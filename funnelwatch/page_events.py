"""What a page did while the steps ran: console errors, uncaught errors, failed requests, a crash.

Collected on the step context as the attempt goes (capped, so a noisy page
cannot fill memory) and copied into the result's evidence at the end.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .steps.base import StepContext

MAX_EVENTS = 200
SHOWN_EVENTS = 50


def listen(ctx: "StepContext") -> None:
    """Start collecting the page's events onto `ctx`."""
    page = ctx.page

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
    return found
