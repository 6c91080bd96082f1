"""Custom `steps:`: goto, click, fill, submit, expect_text, expect_url, screenshot, wait.

For flows the sections cannot describe (a two-step form, a pricing page with a
"Book a demo" button). A failure names the step as `steps[N]` (0-based).

A `submit:` is judged as the `form` step judges its click (`form_judge`): a
POST that answers 5xx or 4xx is `form_http_error` at that step as soon as
the answer comes, and so are a validation message, a script error or a
CAPTCHA; the request is in `evidence["form"]`. A click that sends nothing
and shows nothing (a wizard going to its next screen) is left to the next
steps to judge.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import field_validator, model_validator

from ..errors import StepFailed
from ..fields import Duration, Strict, web_url
from ..results import Category
from .base import EvidenceKit, StepKind
from .form_find import FoundForm
from .form_judge import judge_submission
from .form_traffic import Traffic, lead_markers
from .pagekit import contains, navigate, visible_text, wait_ready

if TYPE_CHECKING:
    from .base import StepContext

#: A custom submit that sends nothing and shows nothing for this long is left to the next steps.
SUBMIT_SETTLE_S = 2.0
_MARK_JS = """(form, mark) => {
  form.setAttribute('data-funnelwatch-form', mark);
  const button = form.querySelector('button[type=submit], input[type=submit], button:not([type])');
  if (button) button.setAttribute('data-funnelwatch-submit', mark);
}"""


class CustomStep(Strict):
    """One item of `steps:`; exactly one action key."""

    goto: str | None = None
    click: str | None = None
    fill: dict[str, str | int | bool] | None = None
    submit: str | None = None
    expect_text: str | None = None
    expect_url: str | None = None
    screenshot: str | None = None
    wait: Duration | None = None

    _goto_is_web = field_validator("goto")(web_url)

    @model_validator(mode="after")
    def _exactly_one(self) -> "CustomStep":
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            valid = ", ".join(type(self).model_fields)
            raise ValueError(f"each step takes exactly one action ({valid}); this one has {len(given) or 'none'}")
        return self

    @property
    def action(self) -> tuple[str, Any]:
        for key in type(self).model_fields:
            value = getattr(self, key)
            if value is not None:
                return key, value
        raise AssertionError("validated step without action")


class Custom(StepKind):
    """Custom `steps:` — goto, click, fill, submit, expect, screenshot, wait — each its own step `steps[i]`."""

    name = "steps"
    title = "Custom step"
    model = CustomStep
    repeated = True

    def submits(self, section: CustomStep) -> bool:
        return True

    def time_cap_s(self, section: CustomStep, timeout_s: float) -> float:
        return (section.wait or 0) + timeout_s * 3 + 10

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        return []  # custom steps leave screenshots (shown by the report) and browser evidence only

    async def run(self, ctx: "StepContext", section: CustomStep) -> None:
        action, value = section.action
        if action == "submit":
            await self._submit(ctx, value, _index(ctx, section))
            return
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
        ctx.evidence.setdefault("_filled", {}).update(fields)  # how the next submit's request is recognised
        for selector, value in fields.items():
            locator = ctx.page.locator(selector).first
            text = ctx.fill_placeholders(str(value))
            try:
                await locator.fill(text, timeout=ctx.timeout_ms)
            except Exception:
                raise StepFailed(Category.FORM_FIELD_MISSING, f"no field matches '{selector}' on {ctx.page.url}") from None
            if ctx.redactor.redact(text) != text:
                ctx.secret_fields.append(locator)

    async def _submit(self, ctx: "StepContext", selector: str, index: int | None = None) -> None:
        form = ctx.page.locator(selector).first
        try:
            await form.wait_for(state="attached", timeout=ctx.timeout_ms)
        except Exception:
            raise StepFailed(Category.FORM_MISSING, f"no form matches '{selector}' on {ctx.page.url}") from None
        mark = ctx.token
        try:
            await form.evaluate(_MARK_JS, mark, timeout=ctx.timeout_ms)
        except Exception:
            pass  # only HTML5 validity needs the mark; the rest of the judging does without
        found = FoundForm(ctx.page.main_frame, form, selector, ctx.page.url, in_iframe=False)
        button = form.locator("button[type=submit], input[type=submit], button:not([type])").first

        async def click(traffic: Traffic) -> str:
            traffic.armed = True
            submitted_at = ctx.submitting()
            try:
                if await button.count():
                    await button.click(timeout=ctx.timeout_ms)
                else:
                    await form.evaluate("f => f.requestSubmit ? f.requestSubmit() : f.submit()")
            except Exception:
                raise StepFailed(Category.ELEMENT_MISSING, f"the form '{selector}' on {ctx.page.url} could not be submitted") from None
            ctx.submitted_at = submitted_at  # a demo request sent by steps: is never sent twice either
            return f"'{selector}'"

        markers = lead_markers(ctx, ctx.evidence.get("_filled", {}))
        verdict, facts = await judge_submission(ctx, found, None, markers, mark, click, settle_s=SUBMIT_SETTLE_S)
        if verdict.category is not None or "form" not in ctx.evidence:
            step = {"step": f"steps[{index}]"} if index is not None else {}
            ctx.evidence["form"] = ctx.redactor.redact_deep({**step, "form": {"selector": selector}, **facts})
        if verdict.category is not None:
            raise StepFailed(verdict.category, verdict.reason)
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


def _index(ctx: "StepContext", section: CustomStep) -> int | None:
    """This step's place in the check's `steps:` (the runner names it `steps[N]`)."""
    spec = getattr(getattr(ctx, "check", None), "spec", None)
    steps = getattr(spec, "steps", None) or []
    return next((i for i, step in enumerate(steps) if step is section), None)
