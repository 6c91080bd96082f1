"""Runs a plan: one browser, a fresh context per check and viewport, retries, typed results.

Data flows one way: plan → attempts (steps on a page) → `CheckResult` → store.
Concurrency is asyncio: at most `browser.concurrency` contexts at once. A
slot is held per attempt, not per check: a check waiting out its
`retry_delay` leaves the browser to the others.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import scratch
from .browser import BrowserHolder, context_profile, new_context, with_user_agent
from .clock import SYSTEM_CLOCK, Clock, iso, parse_iso
from .config import BrokenCheck, Config
from .errors import FunnelwatchError, MonitorProblem
from .inbox import Inbox, make_inbox
from .maintenance import Calendar
from .outcome import Verdict, classify, first_line
from .page_events import browser_evidence, open_page, settle_hits, watch
from .plan import Plan, PlanItem
from .redaction import Redactor
from .results import Category, CheckResult, Status, StepRecord
from .shards import Shard
from .steps import KINDS, RunServices, kinds_of, steps_of
from .steps.base import StepContext
from .store import DiskFull, Store, free_bytes
from .threads import in_daemon_thread
from .units import format_size

Progress = Callable[[str, Any], None]
SCREENSHOT_TIMEOUT_MS = 5000
#: Screenshots and traces are kept only while their disk has this much free: they never crowd out the history.
ARTIFACTS_MIN_FREE_BYTES = 200_000_000
INBOX_CLOSE_S = 10.0


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
    #: The step running now (the one an exception belongs to).
    running: str | None = None

    def judge(self, verdict: Verdict, redactor: Redactor) -> None:
        self.status, self.step, self.category = verdict.status, self.running, verdict.category
        self.reason = redactor.redact(verdict.reason)
        self.evidence.update(verdict.evidence)


@dataclass
class _Opened:
    """One attempt's browser, context and step context."""

    browser: Any
    context: Any
    ctx: StepContext
    tracing: bool


class Runner:
    def __init__(self, config: Config, store: Store, run_id: int, headed: bool = False,
                 progress: Progress | None = None, clock: Clock = SYSTEM_CLOCK, shard: Shard | None = None):
        self.config = config
        self.store = store
        self.run_id = run_id
        self.headed = headed
        self.clock = clock
        self.progress = progress or (lambda event, payload: None)
        self.settings = config.settings
        self.artifacts_dir = config.reports_dir / "artifacts" / str(run_id)
        self.redact = config.redactor
        self.services = RunServices(run_id=run_id, ledger=store.ledger, clock=clock, checks=config.checks,
                                    redactor=config.redactor, progress=self.progress,
                                    trusted_authserv_id=config.settings.inbox.trusted_authserv_id, shard=shard)
        #: The first write the full disk refused, and the results it could not keep (with their history kind).
        self.disk_full: DiskFull | None = None
        self.unsaved: list[tuple[CheckResult, str]] = []
        self.artifacts_skipped = 0
        self.calendar = Calendar.of(config, store.maintenance.active(clock.now()))
        #: Seconds to wait before retry `n` (jittered); tests and benchmarks may replace it.
        self.retry_delay_s: Callable[[int], float] = lambda n: self.settings.defaults.retry_delay * (1 + random.random() / 2)

    # --- the whole run ----------------------------------------------------------

    async def run(self, plan: Plan) -> list[CheckResult]:
        self.progress("plan", len(plan.items) + len(plan.broken))
        results: list[CheckResult] = [self._broken_result(b) for b in plan.broken]
        for result in results:
            self._record(result)
        # Earlier runs' partial downloads go now (a killed run cannot remove its own).
        self.services.scratch = scratch.run_folder(self.config.database_path, self.run_id,
                                                   self.services.shard.lock_name if self.services.shard else None)
        await self._open_inbox(plan)
        try:
            results += await self._settle()
            if plan.items:
                results += await self._run_items(plan.items)
        finally:
            if self.services.inbox is not None:
                try:
                    await in_daemon_thread(self.services.inbox.close, deadline_s=INBOX_CLOSE_S)
                except asyncio.TimeoutError:  # a server that never says goodbye keeps nothing alive
                    pass
            scratch.remove(self.services.scratch)
        return results

    async def _open_inbox(self, plan: Plan) -> None:
        if not (plan.needs_inbox or self._owns_open_probes()):
            return
        inbox: Inbox | None = None
        try:
            inbox = make_inbox(self.config)
            if inbox is None:
                raise MonitorProblem(Category.CONFIG, "this check needs an inbox, but config/funnelwatch.yaml has no inbox: section")
            await in_daemon_thread(inbox.open)
            self.services.inbox = inbox
        except MonitorProblem as problem:
            self.services.inbox_problem = problem
        except Exception as exc:
            self.services.inbox_problem = MonitorProblem(Category.INBOX, self.redact.redact(f"the inbox could not be opened: {exc}"))

    def _owns_open_probes(self) -> bool:
        """Some open probe is this run's to settle (a shard opens no inbox for another shard's probes)."""
        if not self.store.ledger.has_open_probes():
            return False
        return self.services.shard is None or any(self.services.owns(p) for p in self.store.ledger.open_probes())

    async def _settle(self) -> list[CheckResult]:
        """Work that kinds left open in earlier runs (follow-up probes), settled before any check."""
        settled: list[CheckResult] = []
        tags = {check.spec.name: list(check.spec.tags) for check in self.config.checks}
        for kind in KINDS.values():
            for result in await kind.settle(self.services):
                result.tags = result.tags or tags.get(result.check, [])  # a probe knows its check's name, not its tags
                self._record(result, kind=kind.name)
                settled.append(result)
        return settled

    async def _run_items(self, items: list[PlanItem]) -> list[CheckResult]:
        """Every item at most `browser.concurrency` at once; the browser starts only if some item needs one."""
        if not any(_needs_browser(item) for item in items):
            return await self._gather(None, items, None)
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            holder = BrowserHolder(playwright, self.settings.browser.executable, self.settings.browser.headless and not self.headed,
                                   allow_private=self.settings.browser.allow_private,
                                   answer_hits=self.settings.browser.analytics == "answer",
                                   answer_globs=_answered_globs(items))
            try:
                try:
                    await holder.get()
                except FunnelwatchError as exc:  # no browser: every browser check is a monitor problem, the run still completes
                    return await self._gather(None, items, str(exc))
                return await self._gather(holder, items, None)
            finally:
                await holder.close()

    async def _gather(self, holder: BrowserHolder | None, items: list[PlanItem], no_browser: str | None) -> list[CheckResult]:
        semaphore = asyncio.Semaphore(self.settings.browser.concurrency)

        async def one(index: int, item: PlanItem) -> tuple[int, CheckResult]:
            if no_browser is not None and _needs_browser(item):
                return index, self._no_browser(item, no_browser)
            waiting = self._claim(item)
            if waiting is not None:  # a step kind vetoed this run (e.g. follow-up `every` not elapsed)
                self.progress("start", item)
                self._record(waiting, kind="waiting" if waiting.status is Status.PENDING else "check")
                return index, waiting
            result = await self._run_item(holder, item, semaphore)  # a slot per attempt, not per check
            self._record(result)
            return index, result

        done = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        return [result for _, result in sorted(done, key=lambda pair: pair[0])]

    def _claim(self, item: PlanItem) -> CheckResult | None:
        """The first result a kind of this check claims instead of running it; None: run it."""
        for kind in kinds_of(item.check.spec):
            try:
                result = kind.claim(self.services, item)
            except DiskFull as full:  # a reservation that cannot be written: never submit without it
                self.disk_full = self.disk_full or full
                return CheckResult(check=item.check.name, file=item.check.file, status=Status.ERROR,
                                   category=Category.INTERNAL, reason=f"not run: {full}", viewport=item.viewport,
                                   started_at=iso(self.clock.now()), tags=list(item.check.spec.tags))
            if result is not None:
                return result
        return None

    def _no_browser(self, item: PlanItem, reason: str) -> CheckResult:
        result = CheckResult(
            check=item.check.name, file=item.check.file, status=Status.ERROR, category=Category.BROWSER,
            reason=reason, viewport=item.viewport, started_at=iso(self.clock.now()), tags=list(item.check.spec.tags),
        )
        self._record(result)
        return result

    def _record(self, result: CheckResult, kind: str = "check") -> None:
        started = parse_iso(result.started_at)
        moments = [self.clock.now()] + ([started] if started else [])
        result.maintenance = result.maintenance or self.calendar.covering(result.check, result.tags, *moments)
        result.report = f"{self.settings.reports_dir.rstrip('/')}/funnels/{_slug_of(self.config, result)}.html"
        try:
            self.store.add_result(self.run_id, result, kind=kind)
        except DiskFull as full:  # keep running: the result is still shown, alerted on, and stored later if room comes back
            self.disk_full = self.disk_full or full
            self.unsaved.append((result, kind))
        self.progress("result", result)

    # --- one check on one viewport --------------------------------------------------

    async def _run_item(self, holder: BrowserHolder | None, item: PlanItem, semaphore: asyncio.Semaphore) -> CheckResult:
        started_at: str | None = None
        attempts: list[Attempt] = []
        began = 0.0
        for number in range(1, item.retries + 2):
            if number > 1:  # outside the slot: the pause lets a deploy or CDN blip pass, and others run meanwhile
                await asyncio.sleep(max(0.0, self.retry_delay_s(number)))
            async with semaphore:
                if started_at is None:  # the check's time starts when it gets a slot, not while it queues
                    started_at, began = iso(self.clock.now()), time.monotonic()
                    self.progress("start", item)
                attempt = await self._attempt(holder, item, number)
            attempts.append(attempt)
            if attempt.status in (Status.PASS, Status.PENDING) or attempt.no_retry:
                break
        for kind in kinds_of(item.check.spec):
            kind.release(self.services, item, submitted=any(a.submitted_at for a in attempts))
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
            reason=self.redact.redact(shown.reason) if status is not Status.PASS else None,
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

    async def _attempt(self, holder: BrowserHolder | None, item: PlanItem, number: int) -> Attempt:
        """Open a context → run the steps → classify what went wrong → keep the artifacts."""
        began = time.monotonic()
        attempt = Attempt(Status.PASS, token=new_token())
        try:
            if holder is None or not _needs_browser(item):
                opened = self._open_bare(item, number, attempt.token or "")
            else:
                opened = await self._open(holder, item, number, attempt.token or "")
        except Exception as exc:
            reason = str(exc) if isinstance(exc, FunnelwatchError) else f"the browser failed: {first_line(exc)}"
            return Attempt(Status.ERROR, None, Category.BROWSER, reason, time.monotonic() - began, token=attempt.token)
        try:
            await self._run_steps(opened.ctx, item, attempt)
        except Exception as exc:
            alive = opened.browser is None or _connected(opened.browser)
            attempt.judge(classify(exc, attempt.running, browser_alive=alive, tab_crashed=opened.ctx.crashed), self.redact)
        finally:
            await self._finish(opened, item, number, attempt)
        attempt.duration_s = time.monotonic() - began
        return attempt

    async def _open(self, holder: BrowserHolder, item: PlanItem, number: int, token: str) -> _Opened:
        """A fresh context and page for one attempt, listened to, traced as `browser.trace` says."""
        browser = await holder.get()
        profile = await with_user_agent(browser, item.viewport, context_profile(self.settings.browser, item.check.spec))
        context = await new_context(browser, item.viewport, profile)
        timeout_s = self.settings.browser.timeout
        trace = traces(self.settings.browser.trace, number, item.check.uses_secrets)
        page, tracing = await open_page(context, timeout_s, trace)
        ctx = StepContext(
            check=item.check, config=self.config, page=page, context=context, viewport=item.viewport,
            run_id=self.run_id, token=token, address=self.settings.inbox.address.replace("{token}", token),
            timeout_s=timeout_s, artifacts_dir=self.artifacts_dir, services=self.services, attempt=number,
            profile=profile,
        )
        await watch(ctx)
        return _Opened(browser, context, ctx, tracing)

    def _open_bare(self, item: PlanItem, number: int, token: str) -> _Opened:
        """A step context without a browser, for checks whose kinds need none (a contact probe is an email)."""
        ctx = StepContext(
            check=item.check, config=self.config, page=None, context=None,  # type: ignore[arg-type]
            viewport=item.viewport, run_id=self.run_id, token=token,
            address=self.settings.inbox.address.replace("{token}", token), timeout_s=self.settings.browser.timeout,
            artifacts_dir=self.artifacts_dir, services=self.services, attempt=number,
        )
        return _Opened(None, None, ctx, False)

    async def _run_steps(self, ctx: StepContext, item: PlanItem, attempt: Attempt) -> None:
        """Each step in order on the same page; the first step that sets an outcome decides it."""
        decided_by: str | None = None
        for label, kind, section in steps_of(item.check.spec):
            attempt.running = label
            if self.services.inbox_problem is not None and kind.needs_inbox(section):
                raise self.services.inbox_problem
            step_began = time.monotonic()
            record = StepRecord(label, False, 0.0)
            attempt.steps.append(record)
            try:
                await asyncio.wait_for(kind.run(ctx, section), timeout=kind.time_cap_s(section, ctx.timeout_s))
                record.ok = True
            finally:
                record.duration_s = time.monotonic() - step_began
            if ctx.outcome is not None and decided_by is None:
                decided_by = label
        attempt.running = None
        if ctx.outcome is not None:
            attempt.status, attempt.latency_s = ctx.outcome.status, ctx.outcome.latency_s
            attempt.step, attempt.reason = decided_by, ctx.outcome.reason

    async def _finish(self, opened: _Opened, item: PlanItem, number: int, attempt: Attempt) -> None:
        """Copy what the attempt learnt into it, keep artifacts of a failure, close the context."""
        ctx = opened.ctx
        attempt.submitted_at = ctx.submitted_at
        # A demo request that went out is never sent twice to a sales team.
        attempt.no_retry = ctx.no_retry or (ctx.submitted_at is not None and any(k.submits_once for k in kinds_of(item.check.spec)))
        attempt.evidence = {**_public(ctx.evidence), **attempt.evidence, **(browser_evidence(ctx) if ctx.page else {})}
        if opened.context is None:
            return
        if attempt.status in (Status.FAIL, Status.ERROR):
            attempt.artifacts = await self._keep_artifacts(ctx, item, number, opened.tracing)
            if "artifacts_skipped" in ctx.evidence:
                attempt.evidence["artifacts_skipped"] = ctx.evidence["artifacts_skipped"]
        elif opened.tracing:
            await _stop_tracing(opened.context, None)
        await settle_hits(opened.browser)  # a hit still paused when its context closes would go out unanswered
        await _close(opened.context)

    async def _keep_artifacts(self, ctx: StepContext, item: PlanItem, number: int, tracing: bool) -> dict[str, str]:
        if self._short_of_room(ctx, "screenshot and trace"):
            if tracing:
                await _stop_tracing(ctx.context, None)
            return {}
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
            if self._short_of_room(ctx, "trace"):
                await _stop_tracing(ctx.context, None)
                return kept
            trace = self.artifacts_dir / f"{base}-trace.zip"
            if await _stop_tracing(ctx.context, trace):
                kept["trace"] = _relative(trace, self.config.reports_dir)
        return kept

    def _short_of_room(self, ctx: StepContext, what: str) -> bool:
        """Too little free space for artifacts: skip them (noted in the evidence) so the history keeps its room."""
        free = free_bytes(self.artifacts_dir)
        if free >= ARTIFACTS_MIN_FREE_BYTES:
            return False
        self.artifacts_skipped += 1
        ctx.evidence["artifacts_skipped"] = (f"{what} not kept: only {format_size(free)} free on the disk holding "
                                             f"{self.config.reports_dir} (artifacts need {format_size(ARTIFACTS_MIN_FREE_BYTES)})")
        return True

    def _broken_result(self, broken: BrokenCheck) -> CheckResult:
        first = broken.diagnostics[0]
        more = len(broken.diagnostics) - 1
        reason = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''}; run `funnelwatch validate`)" if more else "")
        return CheckResult(
            check=broken.name, file=broken.file, status=Status.ERROR, category=Category.CONFIG,
            reason=reason, started_at=iso(self.clock.now()), tags=list(broken.tags),
            evidence={"diagnostics": [str(d) for d in broken.diagnostics]},
        )


def _needs_browser(item: PlanItem) -> bool:
    return any(kind.needs_browser(section) for kind, section in item.check.spec.sections())


def _answered_globs(items: list[PlanItem]) -> list[str]:
    """Globs of hits the browser answers besides the known vendors' (a check's own tags, e.g. `conversions[].url`)."""
    globs: list[str] = []
    for item in items:
        for kind, section in item.check.spec.sections():
            globs += [g for g in kind.answered_globs(section) if g not in globs]
    return globs


def _connected(browser: Any) -> bool:
    """The browser process is still there (killed or crashed browsers are not the site's fault)."""
    try:
        return bool(browser.is_connected())
    except Exception:
        return False


async def _close(context: Any) -> None:
    try:
        await context.close()
    except Exception:
        pass


def _public(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evidence.items() if not k.startswith("_")}


def traces(mode: str, attempt: int, uses_secrets: bool) -> bool:
    """Whether an attempt records a Playwright trace (`browser.trace`, in Playwright Test's words).

    `on-all-retries` (the default) traces only the retries of a failed attempt:
    a check that passes, which is most of them on most nights, pays nothing,
    and a failure that persists still keeps its trace (its last attempt is the
    result shown). Tracing every attempt cost 8% of a passing night's wall
    time (bench/RESULTS.md, #21). A check that fills secrets is never traced:
    traces record typed values.
    """
    if uses_secrets or mode == "off":
        return False
    return mode == "retain-on-failure" or attempt > 1


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
