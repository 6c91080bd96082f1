"""The `form` step: submit the real lead form and know whether it really worked.

A form that silently fails is the most expensive breakage there is, so the
step does what a visitor does — find the form (page or iframe), fill it, click
its button — and then judges the outcome from what the browser actually saw:
the request that carried the lead and its answer, validation messages
(including HTML5 bubbles that never appear in page text), CAPTCHA challenges,
uncaught errors of the submit handler, and the success URL/text. Finding and
filling live in `form_find`; judging in `form_judge`, from what `form_traffic`
(the network) and `form_look` (every frame) saw.

Evidence, `ctx.evidence["form"]` (JSON; rendered by the report):

    {"form": {"selector": "form#download", "frame_url": null | "https://embed.example/form/12",
              "id": "download", "action": "https://example.com/lead", "method": "post"},
     "fields": [{"key": "email", "field": "email (work email)", "matched_by": "name|id|label|selector",
                 "kind": "text|select|checkbox|radio|hidden|file", "value": "qa+fw1a2b@example.com"}],
     "form_fields": ["email (work email)", "first_name (first name)"], "hidden_fields": ["hs_context"],
     "submitted_with": "the 'Download now' button" | "'button.next'" | "Enter" | "requestSubmit()",
     "submitted_at": 1767225600.0,
     "submission": {"method": "POST", "url": "...", "status": 500, "error": null, "kind": "submission"} | null,
     "requests": [ ...the same shape, for every submission and page navigation after the click ],
     "validation": ["Please enter a business email"], "captcha": [{"kind": "reCAPTCHA image challenge", ...}],
     "errors_after_submit": [{"message": "TypeError: ...", "script": "https://.../app.js:12", "third_party": false}],
     "final_url": "https://example.com/thank-you", "page_says": "Thanks — check your inbox",
     "outcome": "success" | "<category>", "waited_s": 0.42}

`ctx.submitted_at` (epoch seconds) is set the moment the form is submitted;
the follow-up step measures its SLA from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import model_validator

from ..errors import StepFailed
from ..fields import Strict
from ..results import Category
from .base import StepKind
from .form_find import FoundForm, fill_form, find_form
from .form_judge import judge_submission
from .form_traffic import Traffic, lead_markers

if TYPE_CHECKING:
    from .base import StepContext

CLICK_TIMEOUT_S = 5.0


class FormSuccess(Strict):
    url_contains: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _something(self) -> "FormSuccess":
        if not self.url_contains and not self.text:
            raise ValueError("give url_contains, text or both, so funnelwatch knows what success looks like")
        return self


class FormSection(Strict):
    selector: str | None = None
    fill: dict[str, str | int | bool] = {}
    submit: str | None = None
    success: FormSuccess | None = None


class Form(StepKind):
    """The lead form: find, fill, submit, judge."""

    name = "form"
    title = "Lead form"
    model = FormSection

    def needs_page(self, section: FormSection) -> bool:
        return True

    def submits(self, section: FormSection) -> bool:
        return True

    async def run(self, ctx: "StepContext", section: FormSection) -> None:
        facts: dict[str, Any] = ctx.evidence.setdefault("form", {})
        mark = ctx.token
        found = await find_form(ctx, section.selector, list(section.fill), mark)
        facts["form"] = {"selector": found.selector, "frame_url": found.frame_url if found.in_iframe else None}
        try:
            facts["fields"] = await fill_form(ctx, found, section.fill, mark)
        finally:
            if found.facts:
                facts["form"].update({k: found.facts[k] for k in ("id", "action", "method")})
                facts["form_fields"], facts["hidden_fields"] = found.facts["fields"], found.facts["hidden"]
        verdict, outcome = await judge_submission(ctx, found, section.success, lead_markers(ctx, section.fill), mark,
                                                  lambda traffic: _submit(ctx, found, section.submit, mark, traffic))
        facts.update(outcome)
        ctx.evidence["form"] = ctx.redactor.redact_deep(facts)
        if verdict.category is not None:
            raise StepFailed(verdict.category, verdict.reason)


async def _submit(ctx: "StepContext", form: FoundForm, selector: str | None, mark: str, traffic: Traffic) -> str:
    """Click `submit` (or the form's own button), else press Enter; returns how it was submitted."""
    button = None
    if selector:
        for scope in (form.locator, form.frame, ctx.page):
            candidate = scope.locator(selector)
            try:
                if await candidate.count():
                    button = candidate.first
                    break
            except Exception:
                raise StepFailed(Category.ELEMENT_MISSING, f"form.submit '{selector}' is not a valid selector") from None
        if button is None:
            raise StepFailed(Category.ELEMENT_MISSING, f"nothing matches form.submit '{selector}' on {ctx.page.url}")
        described = f"'{selector}'"
    else:
        candidate = form.frame.locator(f"[data-funnelwatch-submit='{mark}']")
        if await candidate.count():
            button, described = candidate.first, f"the '{form.facts.get('button') or 'submit'}' button"
    traffic.armed = True
    ctx.submitted_at = ctx.submitting()
    if button is not None:
        try:
            # The judge waits for what the click started, with the whole step timeout; the short cap is for
            # the click alone (a covered button), never for a slow answer to a submission that went out.
            await button.click(timeout=min(ctx.timeout_s, CLICK_TIMEOUT_S) * 1000, no_wait_after=True)
        except Exception as exc:
            ctx.submitted_at = None  # nothing went out: the follow-up window stays open
            raise StepFailed(Category.ELEMENT_MISSING, f"{described} could not be clicked: {_why_not_clickable(exc)}") from None
        return described
    text_fields = [i for i, f in enumerate(_filled(ctx)) if f.get("kind") == "text"]
    if text_fields:
        await form.frame.locator(f"[data-funnelwatch-field='{text_fields[-1]}']").first.press("Enter")
        return "Enter"
    await form.locator.evaluate("f => f.requestSubmit ? f.requestSubmit() : f.submit()")
    return "requestSubmit()"


def _filled(ctx: "StepContext") -> list[dict[str, Any]]:
    return ctx.evidence.get("form", {}).get("fields", [])


def _why_not_clickable(exc: Exception) -> str:
    """The line of Playwright's call log that says what stood in the way, else its first line and last step."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "intercepts pointer events" in line or "not enabled" in line or "not visible" in line:
            return line.lstrip("- ")[:200]
    steps = [line.lstrip("- ") for line in lines[1:] if line.startswith("-")]
    first = lines[0] if lines else type(exc).__name__
    return (f"{first} (last: {steps[-1]})" if steps else first)[:300]
