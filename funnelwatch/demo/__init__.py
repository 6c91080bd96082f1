"""`funnelwatch demo`: serve the bundled demo site and inbox, run its checks, write a report.

Everything stays on 127.0.0.1: the site is a local server, the inbox a Maildir.
The demo's check files are ordinary funnel files (`demo/checks/*.yaml`) whose
URLs come from `${FUNNELWATCH_DEMO_URL}`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from ..alerts.receiver import AlertReceiver
from ..api import run
from ..config import load_config
from ..results import RunResult
from .site import DemoSite

CHECKS = Path(__file__).parent / "checks"

CONFIG = """\
# Written by `funnelwatch demo`: a project pointing at the bundled demo site.
database: data/history.db         # in the demo project, outside the published reports folder
reports_dir: {reports}
browser:
  timeout: 15s
  concurrency: 4
  trace: retain-on-failure            # the demo has no retries: trace every attempt, so its failures show a trace
inbox:
  maildir:
    path: inbox
  address: demo+{{token}}@acme.test
  trusted_authserv_id: mx.acme.test          # the demo's receiving server: only its verdicts count
outbox:                               # contact probes go out through the demo's relay on this machine
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    plain: true
  from: "Funnel Tester <demo+{{token}}@acme.test>"
defaults:
  retries: 0
"""


def prepare_project(reports_dir: Path, alert_url: str | None = None, smtp_port: int = 2525) -> Path:
    """Write the demo project (config, checks, empty inbox) under `reports_dir/.demo-project`."""
    reports_dir = reports_dir.resolve()
    project = reports_dir / ".demo-project"
    for part in ("config", "checks", "inbox"):  # data/ (the history) stays, as in a real project
        if (project / part).exists():
            shutil.rmtree(project / part)
    (project / "config").mkdir(parents=True)
    shutil.copytree(CHECKS, project / "checks")
    alerts = f"alerts:\n  - url: {alert_url}\n" if alert_url else ""
    (project / "config" / "funnelwatch.yaml").write_text(CONFIG.format(reports=reports_dir, smtp_port=smtp_port) + alerts, encoding="utf-8")
    (project / "inbox").mkdir()
    return project


def run_demo(reports_dir: Path, keep_running: bool = False, echo: Callable[[str], None] = print,
             slow_reply_s: float | None = None, alert_demo: bool = False) -> RunResult:
    receiver = AlertReceiver().start() if alert_demo else None
    options = {} if slow_reply_s is None else {"slow_reply_s": slow_reply_s}
    site = DemoSite(reports_dir.resolve() / ".demo-project" / "inbox", **options).start()
    previous = os.environ.get("FUNNELWATCH_DEMO_URL")
    os.environ["FUNNELWATCH_DEMO_URL"] = site.base
    try:
        project = prepare_project(reports_dir, receiver.apprise_url("/demo-alerts") if receiver else None, site.relay.port)
        echo(f"demo site on {site.base}, inbox {project / 'inbox'}")
        config = load_config(project)
        outcome = run(config, progress=lambda event, payload: echo(_line(payload)) if event == "result" else None)
        outcome = _settle_followups(config, outcome, site, echo)
        echo(f"report: {outcome.report_path}")
        if receiver is not None:
            _show_alerts(receiver, echo)
        if keep_running:
            echo("demo site stays up; press Ctrl-C to stop")
            while True:
                time.sleep(3600)
        return outcome
    finally:
        site.stop()
        if receiver is not None:
            receiver.stop()
        if previous is None:
            os.environ.pop("FUNNELWATCH_DEMO_URL", None)
        else:
            os.environ["FUNNELWATCH_DEMO_URL"] = previous


#: Longest the demo waits for its slow sales team before the settling run.
FOLLOWUP_WAIT_S = 20.0


def _settle_followups(config: Any, outcome: RunResult, site: DemoSite, echo: Callable[[str], None]) -> RunResult:
    """Follow-ups are settled by a later run; the demo waits for its slow team and runs again.

    In production the next cron run does this; the demo's second pass runs no
    check (`settle_only`), so no demo request is sent twice.
    """
    if not any(r.step in ("followup", "contact") and r.status.value == "pending" for r in outcome.results):
        return outcome
    echo("waiting for the sales teams and the published inboxes to answer, then settling …")
    site.wait_for_outbox(FOLLOWUP_WAIT_S)
    settled = run(config, settle_only=True,
                  progress=lambda event, payload: echo(_line(payload)) if event == "result" else None)
    outcome.results += settled.results
    outcome.problems += settled.problems
    outcome.report_path = settled.report_path or outcome.report_path
    return outcome


def _line(result: Any) -> str:
    from ..results import summary_line

    return summary_line(result)


def _show_alerts(receiver: AlertReceiver, echo: Callable[[str], None]) -> None:
    """Print what the demo's Apprise channel (json:// to a local receiver) delivered."""
    messages = receiver.wait_for(1, timeout_s=5)
    echo(f"alerts received at the local receiver {receiver.apprise_url('/demo-alerts')}: {len(messages)}")
    for message in messages:
        echo(f"  {message.get('title', '')}")
        for line in str(message.get("message", "")).splitlines():
            echo(f"    {line}")
