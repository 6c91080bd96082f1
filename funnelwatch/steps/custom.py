"""Custom `steps:`: goto, click, fill, submit, expect_text, expect_url, screenshot, wait.

For flows the sections cannot describe (a two-step form, a pricing page with a
"Book a demo" button). A failure names the step as `steps[N]` (0-based).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..errors import StepFailed
from ..redaction import redact
from ..results import Category
from ..schema import CustomStep
from .pagekit import contains, navigate, visible_text, wait_ready

if TYPE_CHECKING:
    from .base import StepContext


class Step:
    name = "steps"

    async def run(self, ctx: "StepContext", section: CustomStep) -> None:
        action, value = section.action
        await getattr(self, f"_{action}")(ctx, value)

    async def _goto(self, ctx: "StepContext", url: str) -> None:
        nav = await navigate(ctx, ctx.fill_placeholders(url))
        ctx.evidence["_navigation"] = nav
        if nav.status is not None and nav.status >= 400:
            raise StepFailed(Category.HTTP_STATUS, f"{nav.final_url} answered HTTP {nav.status}")

    async def _click(self, ctx: "StepContext", selector: str) -> None:
        locator = ctx.page.locator(selector).first
        try:
            await locator.click(timeout=ctx.timeout_ms)
        except Exception:
            raise StepFailed(Category.ELEMENT_MISSING, f"nothing to click matches '{selector}' on {ctx.page.url}") from None
        await wait_ready(ctx.page, ctx.timeout_s)

    async def _fill(self, ctx: "StepContext", fields: dict[str, Any]) -> None:
        for selector, value in fields.items():
            locator = ctx.page.locator(selector).first
            text = ctx.fill_placeholders(str(value))
            try:
                await locator.fill(text, timeout=ctx.timeout_ms)
            except Exception:
                raise StepFailed(Category.FORM_FIELD_MISSING, f"no field matches '{selector}' on {ctx.page.url}") from None
            if redact(text) != text:
                ctx.secret_fields.append(locator)

    async def _submit(self, ctx: "StepContext", selector: str) -> None:
        form = ctx.page.locator(selector).first
        try:
            await form.wait_for(state="attached", timeout=ctx.timeout_ms)
        except Exception:
            raise StepFailed(Category.FORM_MISSING, f"no form matches '{selector}' on {ctx.page.url}") from None
        button = form.locator("button[type=submit], input[type=submit], button:not([type])").first
        submitted_at = time.time()
        try:
            if await button.count():
                await button.click(timeout=ctx.timeout_ms)
            else:
                await form.evaluate("f => f.requestSubmit ? f.requestSubmit() : f.submit()")
        except Exception:
            raise StepFailed(Category.ELEMENT_MISSING, f"the form '{selector}' on {ctx.page.url} could not be submitted") from None
        ctx.submitted_at = submitted_at  # a demo request sent by steps: is never sent twice either
        await wait_ready(ctx.page, ctx.timeout_s)

    async def _expect_text(self, ctx: "StepContext", text: str) -> None:
        wanted = ctx.fill_placeholders(text)
        deadline_ms = ctx.timeout_ms
        try:
            await ctx.page.get_by_text(re.compile(re.escape(wanted), re.I)).first.wait_for(timeout=deadline_ms)
            return
        except Exception:
            pass
        if not contains(await visible_text(ctx.page), wanted):
            raise StepFailed(Category.TEXT_MISSING, f"'{wanted}' does not appear on {ctx.page.url}")

    async def _expect_url(self, ctx: "StepContext", fragment: str) -> None:
        wanted = ctx.fill_placeholders(fragment)
        try:
            await ctx.page.wait_for_url(lambda url: wanted in url, timeout=ctx.timeout_ms)
        except Exception:
            raise StepFailed(Category.WRONG_LANDING, f"expected a URL containing '{wanted}', but the browser is at {ctx.page.url}") from None

    async def _screenshot(self, ctx: "StepContext", label: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "screenshot"
        path = ctx.artifacts_dir / f"{ctx.check.slug}-{ctx.viewport}-{safe}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await ctx.page.screenshot(path=str(path), full_page=True, mask=list(ctx.secret_fields))
        ctx.evidence.setdefault("screenshots", []).append(str(path))

    async def _wait(self, ctx: "StepContext", seconds: float) -> None:
        await ctx.page.wait_for_timeout(seconds * 1000)
