"""The `form` step: fill and submit a lead form, then see the success state.

Minimal spine version: fill by name/id, submit, check success URL/text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StepFailed
from ..results import Category
from ..schema import FormSection
from .pagekit import contains, visible_text, wait_ready

if TYPE_CHECKING:
    from .base import StepContext


class Step:
    name = "form"

    async def run(self, ctx: "StepContext", section: FormSection) -> None:
        page = ctx.page
        form = page.locator(section.selector or "form:has(input[type=email]), form:has(input[name*=email])").first
        try:
            await form.wait_for(state="attached", timeout=ctx.timeout_ms / 2)
        except Exception:
            raise StepFailed(Category.FORM_MISSING, f"no form found on {page.url}") from None
        for key, value in section.fill.items():
            field = form.locator(f"[name='{key}'], #{key}").first
            if not await field.count():
                raise StepFailed(Category.FORM_FIELD_MISSING, f"the form has no field '{key}'")
            await field.fill(str(ctx.fill_placeholders(value)))
        button = form.locator(section.submit or "button[type=submit], input[type=submit], button:not([type])").first
        await button.click(timeout=ctx.timeout_ms)
        import time

        ctx.submitted_at = time.time()
        await wait_ready(page, ctx.timeout_s)
        success = section.success
        if success and success.url_contains:
            try:
                await page.wait_for_url(lambda u: success.url_contains in u, timeout=ctx.timeout_ms)
            except Exception:
                raise StepFailed(Category.TEXT_MISSING, f"after submitting, the browser is at {page.url}, not a page containing '{success.url_contains}'") from None
        if success and success.text and not contains(await visible_text(page), success.text):
            raise StepFailed(Category.TEXT_MISSING, f"after submitting, '{success.text}' does not appear on {page.url}")
