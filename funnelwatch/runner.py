"""Runs a plan: one browser, a fresh context per check and viewport, retries, typed results.

Data flows one way: plan → attempts (steps on a page) → `CheckResult` → store.
Concurrency is asyncio: at most `browser.concurrency` contexts at once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .browser import BrowserHolder, new_context
from .config import BrokenCheck, Config
from .errors import FunnelwatchError, MonitorProblem, StepFailed
from .inbox import Inbox, make_inbox
from .plan import Plan, PlanItem
from .redaction import redact
from .results import Category, CheckResult, Status, StepRecord
from .steps import claim_for, release_for, settle_all, steps_of, submits_once
from .steps.base import StepContext
from .store import Store, iso, utcnow

Progress = Callable[[str, Any], None]
SCREENSHOT_TIMEOUT_MS = 5000


def new_token() -> str:
    """A short unique token for one submission: lowercase, safe in an email local part."""
    return "fw" + secrets.token_hex(5)


@dataclass
class Attempt:
    status: Status
    step: str | None = None
    category: Category | None = None
    reason: str | None = None
    duration_s: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    token: str | None = None
    no_retry: bool = False
    latency_s: float | None = None
    submitted_at: float | None = None


class Runner:
    def __init__(self, config: Config, store: Store, run_id: int, headed: bool = False, progress: Progress | None = None):
        self.config = config
        self.store = store
        self.run_id = run_id
        self.headed = headed
        self.progress = progress or (lambda event, payload: None)
        self.settings = config.settings
        self.artifacts_dir = config.reports_dir / "artifacts" / str(run_id)
        self.inbox: Inbox | None = None
        self.inbox_problem: MonitorProblem | None = None

    # --- the whole run ----------------------------------------------------------

    async def run(self, plan: Plan) -> list[CheckResult]:
        results: list[CheckResult] = [self._broken_result(b) for b in plan.broken]
        for result in results:
            self._record(result)
        await self._open_inbox(plan)
        try:
            results += await self._settle(plan)
            if plan.items:
                results += await self._run_items(plan.items)
        finally:
            if self.inbox is not None:
                await asyncio.to_thread(self.inbox.close)
        return results

    async def _open_inbox(self, plan: Plan) -> None:
        if not (plan.needs_inbox or self._has_open_probes()):
            return
        try:
            self.inbox = make_inbox(self.config)
            if self.inbox is None:
                raise MonitorProblem(Category.CONFIG, "this check needs an inbox, but config/funnelwatch.yaml has no inbox: section")
            await asyncio.to_thread(self.inbox.open)
        except MonitorProblem as problem:
            self.inbox, self.inbox_problem = None, problem
        except Exception as exc:
            self.inbox = None
            self.inbox_problem = MonitorProblem(Category.INBOX, redact(f"the inbox could not be opened: {exc}"))

    def _has_open_probes(self) -> bool:
        return self.store.has_open_probes()

    async def _settle(self, plan: Plan) -> list[CheckResult]:
        """Step kinds' work left open by earlier runs (follow-up probes), settled before any check."""
        settled = await settle_all(self, plan)
        for result in settled:
            self._record(result, kind="followup")
        return settled

    async def _run_items(self, items: list[PlanItem]) -> list[CheckResult]:
        from playwright.async_api import async_playwright

        semaphore = asyncio.Semaphore(self.settings.browser.concurrency)
        async with async_playwright() as playwright:
            holder = BrowserHolder(playwright, self.settings.browser.executable, self.settings.browser.headless and not self.headed,
                                   allow_private=self.settings.browser.allow_private)
            try:
                await holder.get()
            except FunnelwatchError as exc:  # no browser: every check is a monitor problem, the run still completes
                return [self._no_browser(item, str(exc)) for item in items]

            async def one(index: int, item: PlanItem) -> tuple[int, CheckResult]:
                async with semaphore:
                    self.progress("start", item)
                    waiting = claim_for(self.store, item, self.run_id, inbox_problem=self.inbox_problem)
                    if waiting is not None:  # a step kind vetoed this run (e.g. follow-up `every` not elapsed)
                        self._record(waiting, kind="waiting" if waiting.status is Status.PENDING else "check")
                        return index, waiting
                    result = await self._run_item(holder, item)
                    self._record(result)
                    return index, result

            try:
                done = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
            finally:
                await holder.close()
        return [result for _, result in sorted(done, key=lambda pair: pair[0])]

    def _no_browser(self, item: PlanItem, reason: str) -> CheckResult:
        result = CheckResult(
            check=item.check.name, file=item.check.file, status=Status.ERROR, category=Category.BROWSER,
            reason=reason, viewport=item.viewport, started_at=iso(utcnow()), tags=list(item.check.spec.tags),
        )
        self._record(result)
        return result

    def _record(self, result: CheckResult, kind: str = "check") -> None:
        result.report = f"{self.settings.reports_dir.rstrip('/')}/funnels/{_slug_of(self.config, result)}.html"
        self.store.add_result(self.run_id, result, kind=kind)
        self.progress("result", result)

    # --- one check on one viewport --------------------------------------------------

    async def _run_item(self, holder: BrowserHolder, item: PlanItem) -> CheckResult:
        started_at = iso(utcnow())
        attempts: list[Attempt] = []
        began = time.monotonic()
        for number in range(1, item.retries + 2):
            attempt = await self._attempt(holder, item, number)
            attempts.append(attempt)
            if attempt.status in (Status.PASS, Status.PENDING) or attempt.no_retry:
                break
        release_for(self.store, item, self.run_id, submitted=any(a.submitted_at for a in attempts))
        last = attempts[-1]
        status = last.status
        shown = last
        if status is Status.PASS and len(attempts) > 1:
            status, shown = Status.FLAKY, attempts[0]
        spec = item.check.spec
        return CheckResult(
            check=spec.name,
            file=item.check.file,
            status=status,
            step=shown.step if status is not Status.PASS else None,
            category=shown.category if status is not Status.PASS else None,
            reason=redact(shown.reason) if status is not Status.PASS else None,
            duration_s=time.monotonic() - began,
            attempts=len(attempts),
            viewport=item.viewport,
            latency_s=last.latency_s,
            token=last.token,
            evidence=shown.evidence,
            artifacts=shown.artifacts or last.artifacts,
            steps=last.steps,
            started_at=started_at,
            tags=list(spec.tags),
        )

    async def _attempt(self, holder: BrowserHolder, item: PlanItem, number: int) -> Attempt:
        began = time.monotonic()
        spec = item.check.spec
        token = new_token()
        address = self.settings.inbox.address.replace("{token}", token)
        try:
            browser = await holder.get()
            context = await new_context(browser, item.viewport)
        except FunnelwatchError as exc:
            return Attempt(Status.ERROR, None, Category.BROWSER, str(exc), time.monotonic() - began, token=token)
        except Exception as exc:
            return Attempt(Status.ERROR, None, Category.BROWSER, f"the browser failed: {_first_line(exc)}", time.monotonic() - began, token=token)
        timeout_s = self.settings.browser.timeout
        context.set_default_timeout(timeout_s * 1000)
        context.set_default_navigation_timeout(timeout_s * 1000)
        tracing = False if item.check.uses_secrets else await _start_tracing(context)
        attempt = Attempt(Status.PASS, token=token)
        ctx: StepContext | None = None
        label: str | None = None
        decided_by: str | None = None
        try:
            page = await context.new_page()
            ctx = StepContext(
                check=item.check, config=self.config, page=page, context=context, viewport=item.viewport,
                run_id=self.run_id, token=token, address=address, timeout_s=timeout_s,
                artifacts_dir=self.artifacts_dir, inbox=self.inbox, store=self.store, attempt=number,
            )
            _listen(ctx)
            for label, step, section in steps_of(spec):
                if label in ("asset", "followup") and self.inbox_problem and section_needs_inbox(label, section):
                    raise self.inbox_problem
                step_began = time.monotonic()
                try:
                    await asyncio.wait_for(step.run(ctx, section), timeout=_hard_cap(label, section, timeout_s))
                finally:
                    attempt.steps.append(StepRecord(label, False, time.monotonic() - step_began))
                attempt.steps[-1].ok = True
                if ctx.outcome is not None and decided_by is None:
                    decided_by = label
            label = None
            if ctx.outcome is not None:
                attempt.status = ctx.outcome.status
                attempt.latency_s = ctx.outcome.latency_s
                attempt.step, attempt.reason = decided_by, ctx.outcome.reason
        except StepFailed as failure:
            if _browser_died(browser, failure.reason):  # not the site's fault: never cry wolf
                _fail(attempt, Status.ERROR, label, Category.BROWSER, f"the browser closed unexpectedly during step '{label}'", {})
            else:
                _fail(attempt, Status.FAIL, label, failure.category, failure.reason, failure.evidence)
        except MonitorProblem as problem:
            _fail(attempt, Status.ERROR, label, problem.category, problem.reason, problem.evidence)
        except asyncio.TimeoutError:
            if _browser_died(browser, ""):
                _fail(attempt, Status.ERROR, label, Category.BROWSER, f"the browser closed unexpectedly during step '{label}'", {})
            else:
                _fail(attempt, Status.FAIL, label, Category.TIMEOUT, f"step '{label}' did not finish in time", {})
        except Exception as exc:
            _fail(attempt, *_classify(exc, label))
        finally:
            if ctx is not None and ctx.evidence.get("_crashed") and attempt.status is Status.FAIL:
                attempt.category = Category.CONNECTION
                attempt.reason = f"the page crashed the browser tab (out of memory or a browser bug) during step '{attempt.step}'"
            if ctx is not None:
                attempt.submitted_at = ctx.submitted_at
                # A demo request that went out is never sent twice to a sales team.
                attempt.no_retry = ctx.no_retry or (ctx.submitted_at is not None and submits_once(spec))
                attempt.evidence = {**_public(ctx.evidence), **attempt.evidence, **_browser_evidence(ctx)}
            if attempt.status in (Status.FAIL, Status.ERROR) and ctx is not None:
                attempt.artifacts = await self._keep_artifacts(ctx, item, number, tracing)
            elif tracing:
                await _stop_tracing(context, None)
            try:
                await context.close()
            except Exception:
                pass
        attempt.duration_s = time.monotonic() - began
        return attempt

    async def _keep_artifacts(self, ctx: StepContext, item: PlanItem, number: int, tracing: bool) -> dict[str, str]:
        try:
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        except OSError:  # reports_dir unwritable (disk full, a file in the way): the result still counts
            if tracing:
                await _stop_tracing(ctx.context, None)
            return {}
        base = f"{item.check.slug}-{item.viewport}-attempt{number}"
        kept: dict[str, str] = {}
        shot = self.artifacts_dir / f"{base}.png"
        try:
            # Playwright's own timeout is not a hard cap (a page still streaming 500 MB took 11 s).
            await asyncio.wait_for(ctx.page.screenshot(path=str(shot), full_page=True, timeout=SCREENSHOT_TIMEOUT_MS,
                                                       mask=list(ctx.secret_fields)),
                                   timeout=SCREENSHOT_TIMEOUT_MS / 1000 + 1)
            kept["screenshot"] = _relative(shot, self.config.reports_dir)
        except Exception:
            pass
        if tracing:
            trace = self.artifacts_dir / f"{base}-trace.zip"
            if await _stop_tracing(ctx.context, trace):
                kept["trace"] = _relative(trace, self.config.reports_dir)
        return kept

    def _broken_result(self, broken: BrokenCheck) -> CheckResult:
        first = broken.diagnostics[0]
        more = len(broken.diagnostics) - 1
        reason = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''}; run `funnelwatch validate`)" if more else "")
        return CheckResult(
            check=broken.name, file=broken.file, status=Status.ERROR, category=Category.CONFIG,
            reason=reason, started_at=iso(utcnow()),
            evidence={"diagnostics": [str(d) for d in broken.diagnostics]},
        )


def section_needs_inbox(label: str, section: Any) -> bool:
    return label == "followup" or bool(getattr(section, "email", None))


def _hard_cap(label: str, section: Any, timeout_s: float) -> float:
    """A step may never hang a run: its own waits plus generous slack."""
    within = getattr(getattr(section, "email", None), "within", 0) or 0
    pause = getattr(section, "wait", None) or 0
    return within + pause + timeout_s * 3 + 10


def _fail(attempt: Attempt, status: Status, step: str | None, category: Category, reason: str, evidence: dict[str, Any]) -> None:
    attempt.status, attempt.step, attempt.category, attempt.reason = status, step, category, redact(reason)
    attempt.evidence.update(evidence)


_CLOSED_MARKERS = ("target closed", "browser has been closed", "browser closed", "target page, context or browser has been closed")


def _browser_died(browser: Any, text: str) -> bool:
    """The browser process went away (killed, crashed) — as opposed to one tab crashing on a hostile page."""
    try:
        connected = browser.is_connected()
    except Exception:
        connected = False
    return not connected or any(marker in (text or "").lower() for marker in _CLOSED_MARKERS)


def _classify(exc: Exception, step: str | None) -> tuple[Status, str | None, Category, str, dict[str, Any]]:
    name = type(exc).__name__
    text = _first_line(exc)
    if name == "TimeoutError":
        return Status.FAIL, step, Category.TIMEOUT, _plain_timeout(text, step), {}
    lowered = str(exc).lower()
    if any(m in lowered for m in _CLOSED_MARKERS):
        return Status.ERROR, step, Category.BROWSER, f"the browser closed unexpectedly during step '{step}'", {}
    if "page crashed" in lowered:
        return Status.FAIL, step, Category.CONNECTION, "the page crashed the browser tab (out of memory or a browser bug)", {}
    return Status.ERROR, step, Category.INTERNAL, f"funnelwatch could not finish step '{step}': {name}: {text}", {}


def _plain_timeout(text: str, step: str | None) -> str:
    """`Locator.click: Timeout 30000ms exceeded.` → `step 'form' timed out after 30s while trying to click`."""
    match = re.match(r"^\w+\.(\w+): Timeout (\d+)ms exceeded", text)
    if not match:
        return f"step '{step}' timed out: {text}"
    action = re.sub(r"(?<!^)([A-Z])", r" \1", match.group(1)).lower().replace("wait for", "wait for")
    return f"step '{step}' timed out after {int(match.group(2)) / 1000:g}s while trying to {action}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _public(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evidence.items() if not k.startswith("_")}


def _browser_evidence(ctx: StepContext) -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        found["final_url"] = ctx.page.url
    except Exception:
        pass
    if ctx.console_errors:
        found["console_errors"] = ctx.console_errors[:50]
    if ctx.page_errors:
        found["page_errors"] = ctx.page_errors[:50]
    if ctx.failed_requests:
        found["failed_requests"] = ctx.failed_requests[:50]
    return found


def _listen(ctx: StepContext) -> None:
    """Collect console errors, uncaught page errors and failed requests as evidence."""
    page = ctx.page

    def on_console(message: Any) -> None:
        if message.type == "error" and len(ctx.console_errors) < 200:
            ctx.console_errors.append({"text": message.text[:500], "url": (message.location or {}).get("url", "")})

    def on_page_error(error: Any) -> None:
        if len(ctx.page_errors) < 200:
            ctx.page_errors.append({"message": str(error)[:500], "stack": (getattr(error, "stack", "") or "")[:2000], "at": time.time()})

    def on_request_failed(request: Any) -> None:
        if len(ctx.failed_requests) < 200:
            ctx.failed_requests.append({"url": request.url[:500], "method": request.method, "error": request.failure or "failed"})

    def on_response(response: Any) -> None:
        if response.status >= 400 and len(ctx.failed_requests) < 200:
            request = response.request
            ctx.failed_requests.append(
                {"url": response.url[:500], "method": request.method, "status": response.status, "resource": request.resource_type}
            )

    def on_crash(_: Any) -> None:
        ctx.evidence["_crashed"] = True

    page.on("crash", on_crash)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)


async def _start_tracing(context: Any) -> bool:
    try:
        await context.tracing.start(screenshots=True, snapshots=True)
        return True
    except Exception:
        return False


async def _stop_tracing(context: Any, path: Path | None) -> bool:
    try:
        if path is None:
            await context.tracing.stop()
        else:
            await context.tracing.stop(path=str(path))
        return True
    except Exception:
        return False


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _slug_of(config: Config, result: CheckResult) -> str:
    for check in config.checks:
        if check.name == result.check:
            return check.slug
    for broken in config.broken:
        if broken.name == result.check:
            return broken.slug
    return "check"
