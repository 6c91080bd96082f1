"""Live progress on a terminal: a status line of what runs and what it waits for; nothing of it in logs or --json."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from types import SimpleNamespace

from funnelwatch.live import CLEAR, Live
from funnelwatch.steps.base import Waiting


class Stopwatch:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _item(name: str, viewport: str = "desktop") -> SimpleNamespace:
    return SimpleNamespace(check=SimpleNamespace(name=name), viewport=viewport)


def test_the_status_line_names_the_wait_its_time_so_far_and_its_limit():
    clock, written = Stopwatch(), []
    live = Live(write=written.append, clock=clock)
    try:
        live.progress("plan", 3)
        live.progress("start", _item("HIPAA checklist"))
        live.progress("start", _item("Pricing page"))
        live.progress("waiting", Waiting("waiting for the delivery email", "HIPAA checklist", "desktop", 600, since=clock.now))
        clock.now += 80
        assert live.status_line() == "[0/3] HIPAA checklist: waiting for the delivery email, 1m 20s of 10m 0s · running: Pricing page"
        live.progress("result", SimpleNamespace(check="HIPAA checklist", viewport="desktop"))
        assert live.status_line() == "[1/3] running: Pricing page"
        live.progress("waiting", Waiting("3 demo requests waiting for a reply", since=clock.now))
        assert "3 demo requests waiting for a reply, 0ms" in live.status_line()
    finally:
        live.close()
    assert written[-1] == CLEAR  # the terminal is left clean


def _run_in_a_terminal(cmd: list[str], timeout: float = 90) -> tuple[int, str]:
    """Run `cmd` with stderr on a real pseudo-terminal; return its exit code and what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(leader)
    return process.returncode, shown.decode("utf-8", "replace")


def test_a_terminal_sees_what_runs_and_a_log_sees_only_results(project, site):
    site.page("/lp/slow", "<title>Slow</title><h1>Free checklist</h1>", delay_s=2.5)
    project.check("slow", f"name: Slow page\nlanding: {{url: '{site.url('/lp/slow')}', must_show: [Free checklist]}}\n")
    cli = [sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run"]
    code, terminal = _run_in_a_terminal(cli)
    assert code == 0, terminal
    assert "[0/1] running: Slow page" in terminal
    assert "✓" in terminal and "Slow page" in terminal
    assert "report:" in terminal
    logged = subprocess.run(cli, capture_output=True, text=True, timeout=90)
    assert logged.returncode == 0, logged.stderr
    assert "\x1b[" not in logged.stderr and "running:" not in logged.stderr
    assert "Slow page" in logged.stderr
