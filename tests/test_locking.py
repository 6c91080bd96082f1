"""Two runs on one database never trample each other: the second exits or waits (`on_overlap`)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from funnelwatch.store import Store

CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 20s
defaults:
  retries: 0
on_overlap: {mode}
"""


def slow_project(project, site, path: str, mode: str):
    project.config(CONFIG.format(mode=mode))
    site.page(path, "<h1>Slow form page</h1>", delay_s=3)
    project.check("slow", f"""
        name: Slow page
        landing:
          url: {site.url(path)}
          must_show: [Slow form page]
    """)


def start_run(project) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_hit(site, path: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not site.hits(path):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the first run never reached the page"
        time.sleep(0.05)


def runs_of(project) -> list[dict]:
    store = Store(project.load().database_path)
    try:
        return list(reversed(store.runs()))
    finally:
        store.close()


def test_second_run_exits_with_a_clear_message_while_one_runs(project, site):
    slow_project(project, site, "/lp/lock-exit", "exit")
    first = start_run(project)
    wait_for_hit(site, "/lp/lock-exit", first)
    second = start_run(project)
    _, second_err = second.communicate(timeout=60)
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 2
    assert f"Z funnelwatch: another funnelwatch run (pid {first.pid}, started " in second_err
    assert "is using history.db — this run exits without checking; set `on_overlap: wait`" in second_err
    assert [r["state"] for r in runs_of(project)] == ["complete"]
    assert len(site.hits("/lp/lock-exit")) == 1


def test_second_run_waits_its_turn_when_on_overlap_is_wait(project, site):
    slow_project(project, site, "/lp/lock-wait", "wait")
    first = start_run(project)
    wait_for_hit(site, "/lp/lock-wait", first)
    second = start_run(project)
    _, second_err = second.communicate(timeout=90)
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    assert f"funnelwatch: waiting for the other funnelwatch run (pid {first.pid}, started " in second_err
    runs = runs_of(project)
    assert [r["state"] for r in runs] == ["complete", "complete"]
    assert runs[1]["started_at"] >= runs[0]["finished_at"]


def test_a_killed_run_never_leaves_the_lock_behind(project, site):
    slow_project(project, site, "/lp/lock-killed", "exit")
    first = start_run(project)
    wait_for_hit(site, "/lp/lock-killed", first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    second = start_run(project)
    _, second_err = second.communicate(timeout=60)
    assert second.returncode == 0, second_err
    assert [r["state"] for r in runs_of(project)] == ["incomplete", "complete"]
