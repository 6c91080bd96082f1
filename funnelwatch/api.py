"""The Python API the CLI is a thin layer over.

    import funnelwatch
    config = funnelwatch.load_config("my-project")
    result = funnelwatch.run(config, tags=["google-ads"])
    print(result.exit_code, [r.status for r in result.results])
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from .clock import SYSTEM_CLOCK, Clock, iso
from .config import Config
from .errors import FunnelwatchError
from .locking import RunBusy
from .plan import Listed, Plan, describe, make_plan
from .results import Problem, RunResult
from .runner import Progress, Runner
from .shards import Shard
from .store import DiskFull, HistoryDamaged, Store, open_store, run_lock


def run(
    config: Config,
    *,
    checks: list[str] | None = None,
    tags: list[str] | None = None,
    headed: bool = False,
    progress: Progress | None = None,
    report: bool = True,
    alerts: bool = True,
    settle_only: bool = False,
    clock: Clock | None = None,
    shard: Shard | None = None,
) -> RunResult:
    """Run the selected checks, store their results, rebuild the report and send alerts.

    One run at a time per database (`on_overlap`: the second waits or exits);
    `settle_only` runs no check and only settles open follow-up probes; `clock`
    is the time every decision is made by (tests move it). A run that could not do its job
    (the history cannot be opened, the run crashed) still pings the failure heartbeat before it raises.

    With a `shard` (`Shard(1, 2)`: `run --shard 1/2`) only that shard's checks run, only their
    open probes are settled, and the overlap lock is that shard's: the other shards run at once.
    """
    if settle_only:
        plan = Plan(selection="follow-ups only" + (f", {shard}" if shard else ""), shard=shard)
    else:
        plan = make_plan(config, checks, tags, shard=shard)
    notify = (lambda message: progress("notice", message)) if progress else None
    try:
        with run_lock(config.database, config.settings.on_overlap, notify, name=shard.lock_name if shard else "",
                      redactor=config.redactor):
            return _run_locked(config, plan, headed, progress, report, alerts, clock or SYSTEM_CLOCK)
    except RunBusy:
        raise  # the run holding the lock pings for both
    except Exception:
        if alerts:
            from .alerts import ping_heartbeat

            for problem in ping_heartbeat(config, 2, shard.label if shard else None):
                if progress:
                    progress("notice", problem)
        raise


def _run_locked(config: Config, plan: Plan, headed: bool, progress: Progress | None, report: bool, alerts: bool,
                clock: Clock) -> RunResult:
    store = open_store(config.database, clock=clock, redactor=config.redactor)
    try:
        run_id, started = store.begin_run(plan.selection, plan.shard.label if plan.shard else None)
        runner = Runner(config, store, run_id, headed=headed, progress=progress, clock=clock, shard=plan.shard)
        try:
            results = asyncio.run(runner.run(plan))
        except BaseException:
            _abandon(store, run_id)
            raise
        outcome = RunResult(run_id, iso(started) or "", None, results, reports_dir=config.settings.reports_dir,
                            shard=plan.shard.label if plan.shard else None)
        full = runner.disk_full
        if full is None:
            try:
                outcome.finished_at = iso(store.finish_run(run_id, outcome.exit_code))
            except DiskFull as late:
                full = late
        if full is not None:  # keep what fits, mark the run, say so in one line; no report on a full disk
            outcome.problems.append(_settle_full_disk(store, runner, outcome, full))
            report = False
        if report:
            try:
                outcome.report_path = str(build_report(config, store))
            except (OSError, FunnelwatchError) as exc:  # the results are stored; the report is its own problem
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                outcome.problems.append(Problem(f"the report could not be written to {config.settings.reports_dir}: {reason}", "report"))
            except HistoryDamaged as exc:  # a damaged history must not silence the alerts and the heartbeat
                path = config.database_path
                outcome.problems.append(Problem(
                    f"the report could not be built: {path} is damaged ({exc}); this run's results are stored and "
                    f"alerts still go out — repair it with `sqlite3 {path} .recover | sqlite3 {path.name}.recovered` "
                    "and move the recovered file into its place", "report"
                ))
            except Exception as exc:  # noqa: BLE001 — nor may a bug in the report
                outcome.problems.append(Problem(
                    f"the report could not be built (internal error: {type(exc).__name__}: {exc}); "
                    "this run's results are stored and alerts still go out", "report"
                ))
        if alerts:
            from .alerts import dispatch
            from .alerts.weekly import send_if_due

            # `shard_alerts: at_report`: a shard pings its heartbeat, and `funnelwatch report` says what all shards found
            held = plan.shard is not None and config.settings.shard_alerts == "at_report"
            outcome.problems += [Problem.of(p, "alert") for p in dispatch(config, store, outcome, channels=not held)]
            if not held and (plan.shard is None or plan.shard.index == 1):  # one shard sends the weekly digest, not N racing
                outcome.problems += [Problem.of(p, "alert") for p in send_if_due(config, store, clock.now())]  # report.digest: weekly
        return outcome
    finally:
        store.close()


def _abandon(store: Store, run_id: int) -> None:
    """Mark a run stopped mid-way `incomplete`, on a full disk too (its reserve is given back for that)."""
    try:
        store.abandon_run(run_id)
    except DiskFull:
        store.release_reserve()
        try:
            store.abandon_run(run_id)
        except DiskFull:  # the next run marks it (its process is gone by then)
            pass


def _settle_full_disk(store: Store, runner: Runner, outcome: RunResult, full: DiskFull) -> str:
    """The disk filled up during the run: give back the reserve, mark the run, store what now fits; one line."""
    outcome.incomplete = True
    store.release_reserve()
    try:
        store.abandon_run(outcome.run_id)
        marked = "the run is marked incomplete"
    except DiskFull:
        marked = "the next run will mark this one incomplete"
    for result, kind in list(runner.unsaved):
        try:
            store.add_result(outcome.run_id, result, kind=kind)
        except DiskFull:
            break
        runner.unsaved.remove((result, kind))
    total, lost = len(outcome.results), len(runner.unsaved)
    kept = f"{total - lost} of {total} results were kept in {full.name}"
    if lost:
        kept += f" ({', '.join(sorted({r.check for r, _ in runner.unsaved}))} not: shown above only)"
    skipped = f"; screenshots and traces were skipped {runner.artifacts_skipped} time(s)" if runner.artifacts_skipped else ""
    return f"{full.where}: {kept}; {marked}; the report was not rebuilt{skipped} — free some space there"


def list_plan(config: Config, *, checks: list[str] | None = None, tags: list[str] | None = None,
              clock: Clock | None = None, shard: Shard | None = None) -> tuple[Plan, list[Listed]]:
    """What `run` would do with this selection (of this shard), and nothing else: no browser, no run recorded, no reservation.

    The history is only read (and only when it exists), to tell which submissions wait on their `every`.
    """
    plan = make_plan(config, checks, tags, shard=shard)
    now = (clock or SYSTEM_CLOCK).now()
    if not config.postgresql and not config.database_path.exists():
        return plan, describe(plan, None, now)
    store = open_store(config.database, clock=clock or SYSTEM_CLOCK, redactor=config.redactor)
    try:
        return plan, describe(plan, store.ledger, now)
    finally:
        store.close()


def start_maintenance(config: Config, duration_s: float, tags: list[str] | None = None, checks: list[str] | None = None,
                      note: str | None = None, clock: Clock | None = None) -> dict[str, Any]:
    """Open an ad-hoc maintenance window from now for `duration_s` (a deploy), kept in the history database.

    Checks still run inside it; their alerts wait and the uptime leaves them out.
    """
    now = (clock or SYSTEM_CLOCK).now()
    store = open_store(config.database, clock=clock or SYSTEM_CLOCK, redactor=config.redactor)
    try:
        return store.maintenance.open(now, now + timedelta(seconds=duration_s), list(tags or []), list(checks or []), note)
    finally:
        store.close()


def maintenance_windows(config: Config, clock: Clock | None = None) -> list[str]:
    """Every maintenance window that is open now or still to come, one line each."""
    from .maintenance import Calendar

    now = (clock or SYSTEM_CLOCK).now()
    store = open_store(config.database, redactor=config.redactor)
    try:
        calendar = Calendar.of(config, store.maintenance.active(now))
    finally:
        store.close()
    return [window.text + (" — open now" if window.covers(now) else "") + _scope(window) for window in calendar.windows]


def end_maintenance(config: Config, tags: list[str] | None = None, clock: Clock | None = None) -> int:
    """End the open ad-hoc windows now (only those for `tags`, when given); how many there were."""
    store = open_store(config.database, redactor=config.redactor)
    try:
        return store.maintenance.end((clock or SYSTEM_CLOCK).now(), list(tags or []))
    finally:
        store.close()


def _scope(window: Any) -> str:
    """`(only tag google-ads, check HIPAA)` for a configured window (a stored one's text says it already)."""
    parts = [f"tag {t}" for t in window.tags] + [f"check {c}" for c in window.checks]
    return f" (only {', '.join(parts)})" if parts and not window.text.startswith("ad-hoc") else ""


def build_report(config: Config, store: Store | None = None, full: bool = False) -> Path:
    """Rebuild reports/index.html, and the funnel pages whose funnel changed (every page with `full`), from history."""
    from .report import build

    own = store is None
    store = store or open_store(config.database, redactor=config.redactor)
    try:
        return build(config, store, full=full)
    finally:
        if own:
            store.close()


def report(config: Config, clock: Clock = SYSTEM_CLOCK, full: bool = False) -> tuple[Path, list[str]]:
    """`funnelwatch report`: rebuild the report from history (every page with `full`) and, with
    `shard_alerts: at_report`, send the shards' held alerts (one message per channel) and the weekly
    digest when due; (path, problems)."""
    from .alerts.held import send_held
    from .alerts.weekly import send_if_due

    store = open_store(config.database, clock=clock, redactor=config.redactor)
    try:
        path = build_report(config, store, full=full)
        problems: list[str] = []
        if config.settings.shard_alerts == "at_report":
            problems += send_held(config, store, clock.now())
            problems += send_if_due(config, store, clock.now())
        return path, [config.redactor.redact(str(p)) for p in problems]
    finally:
        store.close()


def digest(config: Config, since_s: float = 7 * 86400, send: bool = True, clock: Clock = SYSTEM_CLOCK) -> tuple[str, list[str]]:
    """The digest of the last `since_s` seconds as Markdown, sent to every alert channel when `send`.

    Returns the text and the problems sending met (a channel down is never an exception).
    """
    from .alerts.digest import as_markdown, build_digest, send_digest

    store = open_store(config.database, clock=clock, redactor=config.redactor)
    try:
        built = build_digest(config, store, since_s, clock.now())
    finally:
        store.close()
    problems = send_digest(config, built) if send else []
    return config.redactor.redact(as_markdown(built, config.settings.report.url)), problems


def migrate_history(config: Config, to: str, *, batch: int = 500,
                    progress: Callable[[str, int], None] | None = None) -> list[Any]:
    """Copy this project's SQLite history into the PostgreSQL database at `to`; the rows per table on both sides.

    Resumable (a rerun continues where an interrupted copy stopped, never duplicating a row) and verified: a
    table whose counts differ is a `FunnelwatchError`. Set `database:` to the URL afterwards. See docs/history.md.
    """
    from .database_url import is_postgresql, password, shown
    from .store.copy import copy_history
    from .store.postgres import PgStore

    if not is_postgresql(to):
        raise FunnelwatchError(f"--to {to!r} is not a PostgreSQL URL — give postgresql://user:password@host:5432/database")
    secret = password(to)
    if secret:
        config.redactor.add(secret)
    if config.postgresql:
        raise FunnelwatchError(f"the history is already on PostgreSQL ({config.database_shown}); migrate copies a SQLite "
                               "history — point `database:` at the SQLite file to copy")
    if not config.database_path.exists():
        raise FunnelwatchError(f"{config.database_path}: no SQLite history to copy (check `database:`)")
    if shown(to) == config.database_shown:
        raise FunnelwatchError("--to names the history being copied")
    source = Store(config.database_path, redactor=config.redactor)
    try:
        target = PgStore(to, redactor=config.redactor)
        try:
            return copy_history(source, target, batch=batch, on_batch=progress)
        finally:
            target.close()
    finally:
        source.close()
