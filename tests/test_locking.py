"""Two runs on one database never trample each other: the second exits or waits (`on_overlap`), on a SQLite
file (a flock beside it) and on a shared PostgreSQL history (an advisory lock on the server)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from funnelwatch.store import open_store

CONFIG = """\
database: {database}
reports_dir: reports
browser:
  timeout: 20s
defaults:
  retries: 0
on_overlap: {mode}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request) -> str:
    """What `database:` says: the SQLite file, or a fresh PostgreSQL database's URL."""
    return "reports/history.db" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def using(history: str) -> str:
    """How the lock's message names the history."""
    return "history.db" if history.endswith(".db") else "postgresql://" + history.split("@", 1)[1]


def engine(history: str) -> str:
    """Each engine's test has its own page: the session's site remembers the hits of the other."""
    return "sqlite" if history.endswith(".db") else "postgresql"


def holder(history: str, pid: int) -> str:
    return f"(pid {pid}, started " if history.endswith(".db") else f"(pid {pid} on "


def slow_project(project, site, path: str, mode: str, history: str = "reports/history.db", delay_s: float = 3):
    """`delay_s`: how long the first run holds the lock on the page, long enough for a second process to start."""
    project.config(CONFIG.format(mode=mode, database=history))
    site.page(path, "<h1>Slow form page</h1>", delay_s=delay_s)
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
    store = open_store(project.load().database)
    try:
        return list(reversed(store.runs()))
    finally:
        store.close()


def test_second_run_exits_with_a_clear_message_while_one_runs(project, site, history):
    # The second process must reach the lock while the first still holds it: on a loaded machine
    # starting Python and loading the config takes seconds, so the first run's page takes ten.
    slow_project(project, site, f"/lp/lock-exit-{engine(history)}", "exit", history, delay_s=10)
    first = start_run(project)
    wait_for_hit(site, f"/lp/lock-exit-{engine(history)}", first)
    second = start_run(project)
    _, second_err = second.communicate(timeout=60)
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 2
    assert f"Z funnelwatch: another funnelwatch run {holder(history, first.pid)}" in second_err
    assert f"is using {using(history)} — this run exits without checking; set `on_overlap: wait`" in second_err
    assert [r["state"] for r in runs_of(project)] == ["complete"]
    assert len(site.hits(f"/lp/lock-exit-{engine(history)}")) == 1


def test_second_run_waits_its_turn_when_on_overlap_is_wait(project, site, history):
    slow_project(project, site, f"/lp/lock-wait-{engine(history)}", "wait", history)
    first = start_run(project)
    wait_for_hit(site, f"/lp/lock-wait-{engine(history)}", first)
    second = start_run(project)
    _, second_err = second.communicate(timeout=90)
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    assert f"funnelwatch: waiting for the other funnelwatch run {holder(history, first.pid)}" in second_err
    runs = runs_of(project)
    assert [r["state"] for r in runs] == ["complete", "complete"]
    assert runs[1]["started_at"] >= runs[0]["finished_at"]


def test_a_killed_run_never_leaves_the_lock_behind(project, site, history):
    slow_project(project, site, f"/lp/lock-killed-{engine(history)}", "exit", history)
    first = start_run(project)
    wait_for_hit(site, f"/lp/lock-killed-{engine(history)}", first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    second = start_run(project)
    _, second_err = second.communicate(timeout=60)
    assert second.returncode == 0, second_err
    assert [r["state"] for r in runs_of(project)] == ["incomplete", "complete"]
