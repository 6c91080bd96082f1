"""`funnelwatch schedule`: stay up and run each check when its schedule says so.

Each check's `schedule:` (or `defaults.schedule`) becomes jobs on a
`schedule.Scheduler`; a job only marks its check as due. Every tick the due
checks run together in one `funnelwatch.run`, so `browser.concurrency` bounds
them across checks, and one run at a time touches the database. Open
follow-up probes are settled every `settle_every` even when no check is due.
The config is reloaded when its files change or on SIGHUP (a broken settings
file keeps the last good config). SIGTERM/SIGINT stop after the run in flight;
if it outlasts `stop_grace` (or a second signal comes) it is abandoned: what
finished stays stored, the run is marked `incomplete`.

The clock is injectable for tests: `sleep` and `now` are parameters, and the
`schedule` package reads `datetime.now()` (moved by time-machine in tests).

    Daemon("my-project").serve()
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import schedule as schedule_lib

from . import api
from .config import CHECKS_DIR, CONFIG_FILE, Config, load_config
from .errors import ConfigError, FunnelwatchError
from .locking import RunBusy
from .redaction import Redactor
from .results import RunResult
from .schedules import parse_schedule
from .store import open_store
from .text import one_line_each

BUSY_RETRY_S = 30.0


class Abandon(KeyboardInterrupt):
    """Raised in the main thread to abandon the run in flight (grace over, or a second signal)."""


def _stderr(line: str) -> None:
    print(one_line_each(line), file=sys.stderr, flush=True)


@dataclass
class Daemon:
    project: str | Path = "."
    run: Callable[..., RunResult] = api.run
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    log: Callable[[str], None] = _stderr
    settle_every_s: float = 900.0
    reload_every_s: float = 2.0
    stop_grace_s: float = 60.0
    run_now: bool = False
    settings_file: str | Path | None = None
    config: Config | None = None
    scheduler: Any = field(default_factory=schedule_lib.Scheduler)
    due: set[str] = field(default_factory=set)
    jobs: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    stopping: bool = False
    busy: bool = False
    _reload_asked: bool = False
    _fingerprint: tuple[Any, ...] = ()
    _next_reload_check: float = 0.0
    _next_settle: float = 0.0
    _retry_at: float = 0.0

    def _say(self, line: str) -> None:
        """Log a line with the current config's secrets hidden (a reload that failed keeps the last good ones)."""
        self.log((self.config.redactor if self.config is not None else Redactor()).redact(line))

    # --- config and jobs ----------------------------------------------------------

    def load(self) -> bool:
        """(Re)load the config and bring the jobs in line; keep the last good config on error."""
        self._fingerprint = self._files()
        try:
            config = load_config(self.project, settings_file=self.settings_file)
        except ConfigError as exc:
            self._say("config not reloaded, keeping the previous one: " + "; ".join(str(d) for d in exc.diagnostics))
            return False
        except FunnelwatchError as exc:
            self._say(f"config not reloaded, keeping the previous one: {exc}")
            return False
        first = self.config is None
        self.config = config
        for broken in config.broken:
            self._say(f"skipping {broken.file} until it is fixed: {broken.diagnostics[0]}")
        wanted = {}
        for check in config.checks:
            if check.spec.enabled:
                text = check.spec.schedule or config.settings.defaults.schedule
                wanted[(check.name, text)] = check
        for key in [k for k in self.jobs if k not in wanted]:
            for job in self.jobs.pop(key):
                self.scheduler.cancel_job(job)
        for key in wanted:
            if key not in self.jobs:
                self.jobs[key] = parse_schedule(key[1]).add_jobs(self.scheduler, self.due.add, key[0])
        self._say(f"{'loaded' if first else 'reloaded'} {len(wanted)} scheduled check{'s' if len(wanted) != 1 else ''}; "
                 f"next run {self.next_run_text()}")
        return True

    def next_run_text(self) -> str:
        upcoming = self.scheduler.get_next_run()
        return upcoming.astimezone().isoformat(timespec="minutes") if upcoming else "never (no enabled checks)"

    def _files(self) -> tuple[Any, ...]:
        root = Path(self.project)
        settings = Path(self.settings_file) if self.settings_file is not None else root / CONFIG_FILE
        files = [settings] + sorted((root / CHECKS_DIR).glob("*.y*ml"))
        found: list[tuple[str, int | None, int | None]] = []
        for file in files:
            try:
                stat = file.stat()
                found.append((str(file), stat.st_mtime_ns, stat.st_size))
            except OSError:
                found.append((str(file), None, None))
        return tuple(found)

    # --- the loop -------------------------------------------------------------------

    def tick(self) -> None:
        """One turn: reload if asked or changed, collect due checks, run them, settle probes."""
        moment = self.now()
        if self._reload_asked or moment >= self._next_reload_check:
            self._next_reload_check = moment + self.reload_every_s
            if self._reload_asked or self._files() != self._fingerprint:
                self._reload_asked = False
                self.load()
        self.scheduler.run_pending()
        if self.due and moment >= self._retry_at and not self.stopping:
            self._run_due()
        elif moment >= self._next_settle and not self.stopping:
            self._next_settle = moment + self.settle_every_s
            self._settle()

    def serve(self, until: Callable[[], bool] | None = None, handle_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or `until()` is true); 0 on a clean stop."""
        if self.config is None and not self.load():
            raise FunnelwatchError("the config has errors — run `funnelwatch validate`")
        if self.run_now:
            self.due.update(name for name, _ in self.jobs)
        self._next_settle = self.now() + self.settle_every_s
        previous = self._install() if handle_signals else {}
        try:
            while not self.stopping and not (until and until()):
                self.tick()
                if self.stopping or (until and until()):
                    break
                self.sleep(self._nap())
        except Abandon:
            self._say("stopped: abandoned the run in flight; its finished results are kept and the run is marked incomplete")
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.setitimer(signal.ITIMER_REAL, 0) if handle_signals else None
        self._say("stopped")
        return 0

    def _nap(self) -> float:
        if self.due:
            return max(0.0, min(self.reload_every_s, self._retry_at - self.now()))
        idle = self.scheduler.idle_seconds
        wait = self.reload_every_s if idle is None else max(0.0, min(idle, self.reload_every_s))
        return min(wait, max(0.0, self._next_settle - self.now()))

    # --- runs -----------------------------------------------------------------------

    def _run_due(self) -> None:
        names = sorted(self.due)
        assert self.config is not None
        # A check file that broke is no longer scheduled; each run records it as a monitor problem
        # (and alerts once), so a typo never silently stops a check.
        broken = sorted({b.name for b in self.config.broken} - set(names))
        began = self.now()
        self.busy = True
        try:
            outcome = self.run(self.config, checks=names + broken)
        except RunBusy as exc:
            self._retry_at = self.now() + BUSY_RETRY_S
            self._say(f"{', '.join(names)} wait: {exc}")
            return
        except FunnelwatchError as exc:
            self.due.clear()
            self._say(f"run of {', '.join(names)} could not start: {exc}")
            return
        except Abandon:
            raise
        except Exception as exc:
            self.due.clear()
            self._say(f"run of {', '.join(names)} failed inside funnelwatch: {type(exc).__name__}: {exc}")
            return
        finally:
            self.busy = False
        self.due.clear()
        self._say(_summary(outcome, names, self.now() - began))
        self._next_settle = self.now() + self.settle_every_s

    def _settle(self) -> None:
        assert self.config is not None
        try:
            store = open_store(self.config.database, redactor=self.config.redactor)
            try:
                if not store.ledger.has_open_probes():
                    return
            finally:
                store.close()
            began = self.now()
            self.busy = True
            try:
                outcome = self.run(self.config, settle_only=True)
            finally:
                self.busy = False
            self._say(_summary(outcome, ["follow-ups"], self.now() - began))
        except Abandon:
            raise
        except FunnelwatchError as exc:
            self._say(f"settling follow-ups skipped: {exc}")
        except Exception as exc:
            self._say(f"settling follow-ups failed inside funnelwatch: {type(exc).__name__}: {exc}")

    # --- signals --------------------------------------------------------------------

    def _install(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        for signum, handler in ((signal.SIGTERM, self._on_stop), (signal.SIGINT, self._on_stop),
                                (signal.SIGHUP, self._on_hup), (signal.SIGALRM, self._on_grace_over)):
            previous[signum] = signal.signal(signum, handler)
        return previous

    def _on_stop(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stopping and self.busy:
            raise Abandon()
        self.stopping = True
        if self.busy:
            self._say(f"{name}: stopping after the run in flight (at most {self.stop_grace_s:g}s more; send it again to stop now)")
            signal.setitimer(signal.ITIMER_REAL, max(self.stop_grace_s, 0.01))
        else:
            self._say(f"{name}: stopping")

    def _on_grace_over(self, _signum: int, _frame: Any) -> None:
        if self.busy:
            raise Abandon()

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self._reload_asked = True


def _summary(outcome: RunResult, names: list[str], took_s: float) -> str:
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp} run {outcome.run_id} ({', '.join(names)}): {tally} — exit {outcome.exit_code} in {took_s:.1f}s"
    for problem in outcome.problems:
        line += f"\n{stamp} run {outcome.run_id}: {problem}"
    return line
