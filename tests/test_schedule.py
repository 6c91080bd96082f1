"""Schedules: readable strings, the `funnelwatch schedule` daemon (injected clock), cron lines, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
import schedule as schedule_lib
import time_machine

from funnelwatch.config import validate_text
from funnelwatch.cron import cron_lines
from funnelwatch.daemon import Daemon
from funnelwatch.results import RunResult
from funnelwatch.schedules import parse_schedule
from funnelwatch.schema import CheckSpec, Settings
from funnelwatch.store import Store

CHECK = """\
name: {name}
{schedule}landing:
  url: http://127.0.0.1:9/lp
"""


def local(*parts: int) -> datetime:
    """A wall-clock time on this machine (the `schedule` package counts in local time)."""
    return datetime(*parts).astimezone()


@pytest.mark.parametrize("text, fields", [
    ("every 15 minutes", "*/15 * * * *"),
    ("every 6 hours", "0 */6 * * *"),
    ("every hour", "0 * * * *"),
    ("daily at 02:00", "0 2 * * *"),
    ("weekdays at 09:30", "30 9 * * 1-5"),
    ("mondays at 08:00", "0 8 * * 1"),
    ("Sunday at 7:05", "5 7 * * 0"),
    ("daily at 02:00 Europe/Berlin", "0 2 * * *"),
])
def test_readable_schedules_parse_into_cron_fields(text, fields):
    assert parse_schedule(text).cron_fields() == fields


@pytest.mark.parametrize("text, why", [
    ("dayly at 02:00", "'dayly' is not daily, weekdays, weekends or a day"),
    ("daily at 25:00", "25:00 is not a time of day"),
    ("every 90 minutes", "every N minutes takes N from 1 to 59"),
    ("every 2 days", "intervals are minutes or hours"),
    ("daily at 02:00 Mars/Olympus", "'Mars/Olympus' is not a time zone"),
    ("at night", "not a schedule funnelwatch understands"),
])
def test_bad_schedule_is_a_validation_error_with_line_and_examples(text, why):
    found = validate_text(f"name: x\ntags: [a]\nschedule: {text}\nlanding:\n  url: http://x/\n", CheckSpec, "checks/x.yaml")
    assert len(found) == 1
    message = str(found[0])
    assert message.startswith(f"checks/x.yaml:3: schedule: '{text}' is not a valid schedule ({why}")
    assert "write it like 'every 15 minutes', 'every 6 hours', 'daily at 02:00', 'weekdays at 09:30'" in message
    found = validate_text(f"defaults:\n  schedule: {text}\n", Settings, "config/funnelwatch.yaml")
    assert str(found[0]).startswith("config/funnelwatch.yaml:2: defaults.schedule: ")


def test_weekday_schedule_becomes_one_job_per_working_day():
    scheduler = schedule_lib.Scheduler()
    jobs = parse_schedule("weekdays at 09:30").add_jobs(scheduler, print)
    assert [j.start_day for j in jobs] == ["monday", "tuesday", "wednesday", "thursday", "friday"]


class Recorder:
    """Stands in for funnelwatch.run inside the daemon: notes what ran and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, list[str] | None, bool]] = []

    def __call__(self, config, checks=None, settle_only=False, **_):  # type: ignore[no-untyped-def]
        self.calls.append((datetime.now(timezone.utc), checks, settle_only))
        return RunResult(len(self.calls), "", "", [])

    def ran(self) -> list[tuple[str, list[str] | None]]:
        return [(when.astimezone().strftime("%a %H:%M"), checks) for when, checks, settle in self.calls if not settle]


def daemon_for(project, recorder, clock, **options) -> Daemon:
    lines: list[str] = []
    daemon = Daemon(project.root, run=recorder, sleep=clock.shift, log=lines.append, **options)
    daemon.lines = lines  # type: ignore[attr-defined]
    return daemon


def serve_until(daemon: Daemon, end: datetime) -> None:
    daemon.serve(until=lambda: datetime.now(timezone.utc) >= end, handle_signals=False)


def test_due_checks_run_when_their_schedule_comes(project):
    project.config("defaults:\n  schedule: daily at 02:00\nbrowser:\n  concurrency: 2\n")
    project.check("nightly", CHECK.format(name="Nightly", schedule=""))
    project.check("often", CHECK.format(name="Often", schedule="schedule: every 30 minutes\n"))
    project.check("also", CHECK.format(name="Also nightly", schedule=""))
    recorder = Recorder()
    with time_machine.travel(local(2026, 11, 23, 1, 10), tick=False) as clock:  # a Monday
        serve_until(daemon_for(project, recorder, clock), local(2026, 11, 23, 2, 45).astimezone(timezone.utc))
    assert recorder.ran() == [
        ("Mon 01:40", ["Often"]),
        ("Mon 02:00", ["Also nightly", "Nightly"]),  # due together: one run, browser.concurrency applies across them
        ("Mon 02:10", ["Often"]),
        ("Mon 02:40", ["Often"]),
    ]


def test_schedule_with_timezone_runs_at_that_zones_time(project):
    project.check("ny", CHECK.format(name="New York", schedule="schedule: daily at 02:00 America/New_York\n"))
    project.check("berlin", CHECK.format(name="Berlin", schedule="schedule: mondays at 08:00 Europe/Berlin\n"))
    recorder = Recorder()
    with time_machine.travel(datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc), tick=False) as clock:
        serve_until(daemon_for(project, recorder, clock), datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc))
    utc = [(when.strftime("%H:%M"), checks) for when, checks, _ in recorder.calls]
    assert utc == [("07:00", ["Berlin"]), ("07:00", ["New York"])] or utc == [("07:00", ["Berlin", "New York"])]


def test_config_changes_are_picked_up_without_restart(project):
    path = project.check("lp", CHECK.format(name="Landing", schedule="schedule: daily at 05:00\n"))
    recorder = Recorder()
    with time_machine.travel(local(2026, 11, 23, 1, 0), tick=False) as clock:
        daemon = daemon_for(project, recorder, clock)
        serve_until(daemon, local(2026, 11, 23, 1, 5).astimezone(timezone.utc))
        path.write_text(CHECK.format(name="Landing", schedule="schedule: every 10 minutes\n"), encoding="utf-8")
        os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        serve_until(daemon, local(2026, 11, 23, 1, 30).astimezone(timezone.utc))
        daemon._on_hup(signal.SIGHUP, None)
        path.write_text("name: Landing\nschedule: whenever\nlanding:\n  url: http://x/\n", encoding="utf-8")
        serve_until(daemon, local(2026, 11, 23, 1, 45).astimezone(timezone.utc))
    assert [checks for _, checks in recorder.ran()] == [["Landing"]] * 2
    assert any(line.startswith("reloaded 1 scheduled check") for line in daemon.lines)  # type: ignore[attr-defined]
    assert any("skipping checks/lp.yaml until it is fixed: checks/lp.yaml:2: schedule: 'whenever'" in line
               for line in daemon.lines)  # type: ignore[attr-defined]


def test_a_broken_check_file_is_recorded_by_every_scheduled_run(project):
    project.check("often", CHECK.format(name="Often", schedule="schedule: every 30 minutes\n"))
    project.check("typo", "name: Typo\nlanding:\n  urll: http://x/\n")
    recorder = Recorder()
    with time_machine.travel(local(2026, 11, 23, 1, 0), tick=False) as clock:
        serve_until(daemon_for(project, recorder, clock), local(2026, 11, 23, 1, 45).astimezone(timezone.utc))
    assert recorder.ran() == [("Mon 01:30", ["Often", "Typo"])]  # run() records Typo as an error result


def test_open_followup_probes_are_settled_regularly(project):
    project.check("lp", CHECK.format(name="Landing", schedule="schedule: daily at 05:00\n"))
    store = Store(project.load().database_path)
    run_id, _ = store.begin_run("all checks")  # probes name real runs (foreign keys)
    store.finish_run(run_id, 0)
    store.ledger.record("Demo", "desktop", run_id, {"token": "fwabc", "address": "qa+fwabc@x", "submitted_at": "2026-11-22T00:00:00Z",
                                             "sla_deadline": "2026-11-23T00:00:00Z", "give_up_at": "2026-11-29T00:00:00Z"})
    store.close()
    recorder = Recorder()
    with time_machine.travel(local(2026, 11, 23, 1, 0), tick=False) as clock:
        serve_until(daemon_for(project, recorder, clock, settle_every_s=600), local(2026, 11, 23, 1, 35).astimezone(timezone.utc))
    settles = [when.astimezone().strftime("%H:%M") for when, _, settle in recorder.calls if settle]
    assert settles == ["01:10", "01:20", "01:30"]


def test_run_now_runs_every_check_at_start(project):
    project.check("a", CHECK.format(name="A", schedule="schedule: daily at 05:00\n"))
    project.check("b", CHECK.format(name="B", schedule="schedule: mondays at 05:00\n"))
    recorder = Recorder()
    with time_machine.travel(local(2026, 11, 23, 1, 0), tick=False) as clock:
        serve_until(daemon_for(project, recorder, clock, run_now=True), local(2026, 11, 23, 1, 1).astimezone(timezone.utc))
    assert recorder.ran() == [("Mon 01:00", ["A", "B"])]


def test_cron_prints_absolute_nightly_line_with_flock(project):
    project.check("a", CHECK.format(name="A", schedule=""))
    project.check("b", CHECK.format(name="B", schedule="schedule: weekdays at 09:30 Europe/Berlin\n"))
    lines = cron_lines(project.load(), command="/opt/venv/bin/funnelwatch")
    root = str(project.root.resolve())
    nightly = [line for line in lines if line.startswith("0 2 * * * ")]
    assert nightly == [
        f"0 2 * * * cd {root} && mkdir -p {root}/reports && flock -w 3600 {root}/reports/.funnelwatch-cron.lock "
        f"/opt/venv/bin/funnelwatch -C {root} run --check a >> {root}/reports/cron.log 2>&1"
    ]
    assert "CRON_TZ=Europe/Berlin" in lines
    assert any(line.startswith("30 9 * * 1-5 ") and line.endswith("run --check b >> " + f"{root}/reports/cron.log 2>&1") for line in lines)


def test_cron_command_uses_the_venvs_funnelwatch(project):
    project.check("a", CHECK.format(name="A", schedule=""))
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "funnelwatch"), "-C", str(project.root), "cron"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if not x.startswith("#")][0]
    assert line.startswith("0 2 * * * ")
    assert f" {os.path.join(os.path.dirname(sys.executable), 'funnelwatch')} -C {project.root.resolve()} run >> " in line


def _daemon_process(project, site, path: str, delay_s: float, *extra: str) -> subprocess.Popen:
    site.page(path, "<h1>Slow but fine</h1>", delay_s=delay_s)
    project.check("slow", f"""
        name: Slow page
        schedule: daily at 02:00
        landing:
          url: {site.url(path)}
          must_show: [Slow but fine]
    """)
    return subprocess.Popen([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "schedule", "--now", *extra],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _wait_for_hit(site, path: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not site.hits(path):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the daemon never reached the page"
        time.sleep(0.05)


def test_sigterm_mid_run_finishes_the_run_and_keeps_history(project, site):
    project.run()  # earlier history that must survive
    process = _daemon_process(project, site, "/lp/slow-finishes", 2.0)
    _wait_for_hit(site, "/lp/slow-finishes", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "SIGTERM: stopping after the run in flight" in stderr
    assert "(Slow page): 1 pass — exit 0" in stderr
    store = Store(project.load().database_path)
    try:
        runs = store.runs()
        assert [r["state"] for r in runs] == ["complete", "complete"]
        assert [r.status.value for r in store.results_for_run(runs[0]["id"])] == ["pass"]
    finally:
        store.close()


def test_sigterm_after_grace_abandons_the_run_cleanly(project, site):
    project.run()
    process = _daemon_process(project, site, "/lp/slow-abandoned", 8.0, "--stop-grace", "1s")
    _wait_for_hit(site, "/lp/slow-abandoned", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "abandoned the run in flight; its finished results are kept and the run is marked incomplete" in stderr
    assert "Traceback" not in stderr
    store = Store(project.load().database_path)
    try:
        runs = store.runs()
        assert [r["state"] for r in runs] == ["incomplete", "complete"]
        assert store.results_for_run(runs[0]["id"]) == []
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
