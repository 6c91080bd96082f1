"""Judging a submitted form as a person would: did it really work, and if not, why.

After the click, the judge watches the network (which request carried the
lead, what it answered), every frame (success URL/text, validation messages,
HTML5 constraint-validation bubbles, CAPTCHA challenges) and uncaught page
errors, and stops as soon as the evidence is conclusive: a POST that answered
500 is a failure at once, not after the whole timeout.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..results import Category
from .form_look import Seen, look
from .form_traffic import TRACKERS, Sent, Traffic
from .page_quiet import settled
from .pagekit import contains

if TYPE_CHECKING:
    from .base import StepContext
    from .form import FormSuccess
    from .form_find import FoundForm

POLL_S = 0.1
#: A page that keeps nudging (a chatty tracker) is looked at no more often than this.
MIN_LOOK_GAP_S = 0.02
#: Page events after which the outcome may have changed: the judge looks again at once rather than at its next poll.
_NUDGES = ("load", "domcontentloaded", "framenavigated", "response", "requestfinished", "requestfailed", "pageerror")
QUIET_S = 0.8
HTML5_WAIT_S = 0.5
#: The longest a reached thank-you URL is given for its text to appear (a settled page is judged at once).
TEXT_GRACE_S = 1.5
_SCRIPT_AT = re.compile(r"(https?://[^\s()]+?):(\d+):\d+")


@dataclass
class Verdict:
    """The judge's conclusion: category None means the form worked."""

    category: Category | None
    reason: str = ""
    seen: Seen | None = None
    waited_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def script_of(error: dict[str, Any]) -> str | None:
    """The script URL:line an uncaught error was thrown from, read off its stack."""
    match = _SCRIPT_AT.search(error.get("stack") or "")
    return f"{match.group(1)}:{match.group(2)}" if match else None


def is_third_party(error: dict[str, Any], own_hosts: set[str]) -> bool:
    script = script_of(error)
    if not script:
        return False
    return bool(TRACKERS.search(script)) or urlsplit(script).hostname not in own_hosts


async def _nudge_or_poll(nudged: asyncio.Event) -> bool:
    """Wait for the page to do something, at most `POLL_S`; whether it did."""
    try:
        await asyncio.wait_for(nudged.wait(), POLL_S)
        return True
    except asyncio.TimeoutError:
        return False


class Judge:
    """Watches one submission until the outcome is conclusive or `timeout_s` runs out."""

    def __init__(self, ctx: "StepContext", form: "FoundForm", success: FormSuccess | None, traffic: Traffic,
                 mark: str, before: Seen, errors_from: int, button: str, settle_s: float | None = None):
        self.ctx = ctx
        self.form = form
        self.success = success
        self.traffic = traffic
        self.mark = mark
        self.before_messages = set(before.messages)
        self.success_before = bool(success) and self._success_in(before)[0] and self._success_in(before)[1]
        self.errors_from = errors_from
        self.button = button
        #: With no success to wait for (a custom `submit:`), a click that sends nothing and shows nothing
        #: for this long is left to the next steps instead of failing at the timeout.
        self.settle_s = settle_s

    async def verdict(self) -> Verdict:
        """Look, judge, and look again when the page next does something (at the latest after `POLL_S`)."""
        nudged = asyncio.Event()
        page = self.ctx.page

        def nudge(_: Any) -> None:
            nudged.set()

        for event in _NUDGES:
            page.on(event, nudge)  # type: ignore[call-overload]
        try:
            return await self._watch(nudged)
        finally:
            for event in _NUDGES:
                try:
                    page.remove_listener(event, nudge)
                except Exception:
                    pass

    async def _watch(self, nudged: asyncio.Event) -> Verdict:
        began = time.monotonic()
        deadline = began + self.ctx.timeout_s
        messages_since: tuple[tuple[str, ...], float] = ((), began)
        url_ok_since: float | None = None
        errors_seen, last_error_at = 0, began
        while True:
            nudged.clear()  # what happens from here on is seen by the next look
            if self.traffic.awaiting_document() and time.monotonic() < deadline:
                await _nudge_or_poll(nudged)  # a look now would read the page being left (a round trip each, #21)
                continue
            seen = await look(self.ctx.page, self.form, self.mark, self.before_messages)
            now = time.monotonic()
            subs, navs = self.traffic.submissions(), self.traffic.navigations()
            errors = self.errors()
            if len(errors) != errors_seen:
                errors_seen, last_error_at = len(errors), now
            key = tuple(seen.messages)
            if key != messages_since[0]:
                messages_since = (key, now)
            messages_stable = bool(key) and now - messages_since[1] >= QUIET_S
            pending = any(s.pending for s in subs + navs)
            done = self._network_verdict(seen, subs, navs, now)
            if done is None:
                quiet = url_ok_since is not None and not pending and await settled(self.ctx)
                done = self._success_verdict(seen, subs, navs, pending, now, url_ok_since, quiet)
                if self.success and self.success.url_contains and self._success_in(seen)[0] and not self._success_in(seen)[1]:
                    url_ok_since = url_ok_since or now
                else:
                    url_ok_since = None
            if done is None:
                done = self._trouble_verdict(seen, subs, navs, pending, errors, messages_stable, now - began, now - last_error_at)
            if done is None and self.settle_s is not None and (now - began >= self.settle_s or now >= deadline) \
                    and not (subs or navs or errors or seen.messages or seen.invalid or seen.captcha):
                done = Verdict(None)
            if done is None and now >= deadline:
                done = self._final_verdict(seen, subs, navs, errors)
            if done is not None:
                done.seen, done.waited_s = seen, now - began
                return done
            if await _nudge_or_poll(nudged):
                await asyncio.sleep(max(0.0, MIN_LOOK_GAP_S - (time.monotonic() - now)))

    def errors(self) -> list[dict[str, Any]]:
        return self.ctx.page_errors[self.errors_from:]

    def own_hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in (self.ctx.page.url, self.form.frame_url)}

    def _success_in(self, seen: Seen) -> tuple[bool, bool]:
        """(URL part satisfied, text part satisfied); an unset part counts as satisfied."""
        success = self.success
        if success is None:
            return False, False
        url_ok = not success.url_contains or any(success.url_contains in u for u in seen.urls)
        text_ok = not success.text or contains(seen.all_text, success.text)
        return url_ok, text_ok

    def _network_verdict(self, seen: Seen, subs: list[Sent], navs: list[Sent], now: float) -> Verdict | None:
        for sent in subs:
            if sent.status is not None and sent.status >= 500:
                return self._http_error(sent)
            if sent.error and "ERR_ABORTED" not in sent.error:
                return Verdict(Category.FORM_HTTP_ERROR, f"the form submission {sent.method} {sent.url} could not be sent ({sent.error})")
        for sent in subs:
            if sent.status is not None and 400 <= sent.status < 500:
                if seen.messages:
                    return self._validation(seen, f" (the server answered HTTP {sent.status})")
                if seen.main_ready and sent.answered is not None and now - sent.answered >= QUIET_S:
                    return self._http_error(sent)
        for sent in navs:
            if sent.status is not None and sent.status >= 400:
                return Verdict(Category.HTTP_STATUS, f"after submitting, the page {sent.url} answered HTTP {sent.status}")
        return None

    def _success_verdict(self, seen: Seen, subs: list[Sent], navs: list[Sent], pending: bool, now: float,
                         url_ok_since: float | None, settled: bool = False) -> Verdict | None:
        answered = [s for s in subs + navs if not s.pending]
        if self.success is None:
            if answered and not pending and not seen.messages and now - max(s.answered or now for s in answered) >= QUIET_S:
                return Verdict(None)
            return None
        url_ok, text_ok = self._success_in(seen)
        if url_ok and text_ok:
            if pending or (self.success_before and (not answered or seen.messages)):
                return None
            return Verdict(None)
        if self.success.url_contains and url_ok and not text_ok and not pending:
            # The thank-you page's text may still be rendering: wait until the page settles, at most TEXT_GRACE_S.
            if seen.main_ready and url_ok_since is not None and (settled or now - url_ok_since >= TEXT_GRACE_S):
                return Verdict(
                    Category.TEXT_MISSING,
                    f"the thank-you page {seen.main_url} was reached but does not say '{self.success.text}'; it says: {seen.says()}",
                )
        return None

    def _trouble_verdict(self, seen: Seen, subs: list[Sent], navs: list[Sent], pending: bool, errors: list[dict[str, Any]],
                         messages_stable: bool, elapsed: float, since_error: float) -> Verdict | None:
        blocking = [c for c in seen.captcha if c["blocking"]]
        if blocking:
            return Verdict(Category.CAPTCHA, f"a {blocking[0]['kind']} appeared after submitting instead of the success page", extra={"captcha": blocking})
        if messages_stable and not pending:
            return self._validation(seen)
        if seen.invalid and not subs and not navs and elapsed >= HTML5_WAIT_S:
            return self._html5(seen)
        if errors and not subs and not navs and since_error >= QUIET_S:
            return self._js_error(errors)
        return None

    def _final_verdict(self, seen: Seen, subs: list[Sent], navs: list[Sent], errors: list[dict[str, Any]]) -> Verdict:
        timeout = f"{self.ctx.timeout_s:g}s"
        waiting = [s for s in subs if s.pending]
        if waiting:
            return Verdict(Category.TIMEOUT, f"the form submission {waiting[0].method} {waiting[0].url} got no answer within {timeout}")
        if seen.captcha:
            return Verdict(Category.CAPTCHA, f"a {seen.captcha[0]['kind']} blocks the form: no success within {timeout}", extra={"captcha": seen.captcha})
        if seen.messages:
            return self._validation(seen)
        if seen.invalid and not subs:
            return self._html5(seen)
        if errors and not subs and not navs:
            return self._js_error(errors)
        where = f"the browser is at {seen.main_url} and the page says: {seen.says()}"
        wanted = self._wanted()
        if self.success and self.success.text and contains(seen.all_text, self.success.text):
            return Verdict(Category.FORM_NO_SUCCESS, f"the page says '{self.success.text}' but never reached a URL containing "
                                                     f"'{self.success.url_contains}' within {timeout}; {where}")
        if not subs and not navs:
            return Verdict(Category.FORM_NO_SUCCESS, f"clicking {self.button} sent nothing and showed no message within {timeout}; {where}")
        sent = (subs or navs)[-1]
        return Verdict(Category.FORM_NO_SUCCESS, f"the form was sent ({sent.method} {sent.url} → HTTP {sent.status}) but {wanted} "
                                                 f"did not appear within {timeout}; {where}")

    def _wanted(self) -> str:
        if self.success is None:
            return "no confirmation"
        parts = []
        if self.success.url_contains:
            parts.append(f"a URL containing '{self.success.url_contains}'")
        if self.success.text:
            parts.append(f"the text '{self.success.text}'")
        return " and ".join(parts)

    def _http_error(self, sent: Sent) -> Verdict:
        return Verdict(Category.FORM_HTTP_ERROR, f"the form submission {sent.method} {sent.url} answered HTTP {sent.status}")

    def _validation(self, seen: Seen, suffix: str = "") -> Verdict:
        shown = "; ".join(f"'{m}'" for m in seen.messages[:5])
        return Verdict(Category.FORM_VALIDATION, f"the form rejected the entry: {shown}{suffix}", extra={"validation": seen.messages[:20]})

    def _html5(self, seen: Seen) -> Verdict:
        shown = "; ".join(f"{i['field']}: '{i['message']}'" for i in seen.invalid[:5])
        return Verdict(
            Category.FORM_VALIDATION,
            f"the browser refused to submit the form ({shown})",
            extra={"validation": [f"{i['field']}: {i['message']}" for i in seen.invalid[:20]]},
        )

    def _js_error(self, errors: list[dict[str, Any]]) -> Verdict:
        own = self.own_hosts()
        culprit = next((e for e in errors if not is_third_party(e, own)), errors[0])
        script = script_of(culprit)
        where = f" (in {script})" if script else ""
        return Verdict(
            Category.FORM_JS_ERROR,
            f"submitting the form threw {error_text(culprit)}{where} and nothing was sent",
        )


async def judge_submission(ctx: "StepContext", form: "FoundForm", success: FormSuccess | None, markers: list[str],
                           mark: str, submit: Callable[[Traffic], Awaitable[str]],
                           settle_s: float | None = None) -> tuple[Verdict, dict[str, Any]]:
    """Submit with the network watched and judge the outcome, for the form step and a custom `submit:` alike.

    `submit(traffic)` arms `traffic` and clicks; it returns how the form was
    submitted. Returns the verdict and its evidence (not yet redacted as a whole):

        verdict, facts = await judge_submission(ctx, found, section.success, markers, mark, click)
    """
    before = await look(ctx.page, form, mark, set())
    traffic = Traffic(ctx.page, form, markers)
    errors_from = len(ctx.page_errors)
    facts: dict[str, Any] = {}
    traffic.start()
    try:
        facts["submitted_with"] = await submit(traffic)
        facts["submitted_at"] = ctx.submitted_at
        judge = Judge(ctx, form, success, traffic, mark, before, errors_from, facts["submitted_with"], settle_s)
        verdict = await judge.verdict()
    finally:
        traffic.stop()
    subs = traffic.submissions()
    facts["submission"] = subs[-1].facts(ctx.redactor) if subs else None
    facts["requests"] = [s.facts(ctx.redactor) for s in traffic.sent[:20]]
    own = judge.own_hosts()
    facts["errors_after_submit"] = [
        {"message": error_text(e), "script": script_of(e), "third_party": is_third_party(e, own)} for e in judge.errors()[:20]
    ]
    seen = verdict.seen
    if seen is not None:
        facts["final_url"] = seen.main_url
        facts["page_says"] = ctx.redactor.redact(seen.says())
        facts["validation"] = verdict.extra.get("validation", seen.messages[:20])
        facts["captcha"] = verdict.extra.get("captcha", seen.captcha)
    facts["outcome"] = verdict.category.value if verdict.category else "success"
    facts["waited_s"] = round(verdict.waited_s, 2)
    return verdict, facts


def error_text(error: dict[str, Any]) -> str:
    """'TypeError: message' — the stack's first line names the error type, the message alone does not."""
    first = (error.get("stack") or "").strip().splitlines()
    text = first[0] if first and error.get("message", "") in first[0] else error.get("message", "")
    return text.strip().removeprefix("Uncaught ")[:200]


__all__ = ["Judge", "Verdict", "error_text", "is_third_party", "judge_submission", "script_of"]
