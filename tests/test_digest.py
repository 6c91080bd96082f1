"""The Monday digest: a week of stored history, sent through real Apprise to a local receiver and a local SMTP server."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import funnelwatch
from funnelwatch.clock import FixedClock, iso
from funnelwatch.results import Category, CheckResult, RunResult, Status
from funnelwatch.store import Store

NOW = datetime(2026, 11, 30, 8, 5, tzinfo=timezone.utc)  # a Monday morning
CHECKS = {
    "webinar": "name: Webinar signup\nlanding: {url: 'http://127.0.0.1:9/lp'}\n",
    "pricing": "name: Pricing page\nlanding: {url: 'http://127.0.0.1:9/pricing'}\n",
    "ebook": "name: Cloud ebook\nlanding: {url: 'http://127.0.0.1:9/ebook'}\n",
}


def week_of_history(project) -> None:
    """Seven nightly runs: the webinar form broke on day 3 and is still broken, the ebook broke for a day, pricing works."""
    for name, text in CHECKS.items():
        project.check(name, text)
    store = Store(project.load().database_path)
    try:
        for day in range(7):
            moment = NOW - timedelta(days=7 - day, hours=-1)
            store.clock = FixedClock(moment.timestamp())
            run_id, _ = store.begin_run("all")
            results = [
                CheckResult("Pricing page", "checks/pricing.yaml", Status.PASS, started_at=iso(moment)),
                CheckResult("Webinar signup", "checks/webinar.yaml",
                            Status.FAIL if day >= 3 else Status.PASS, step="form" if day >= 3 else None,
                            category=Category.FORM_HTTP_ERROR if day >= 3 else None,
                            reason="the form's server answered HTTP 500" if day >= 3 else None, started_at=iso(moment)),
                CheckResult("Cloud ebook", "checks/ebook.yaml", Status.FAIL if day == 1 else Status.PASS,
                            step="asset" if day == 1 else None, category=Category.WRONG_ASSET if day == 1 else None,
                            reason="the PDF is titled 'GDPR Readiness'" if day == 1 else None, started_at=iso(moment)),
            ]
            for result in results:
                store.add_result(run_id, result)
            store.finish_run(run_id, RunResult(run_id, iso(moment) or "", None, results).exit_code)
    finally:
        store.close()


def test_digest_sums_up_the_week_breakages_recoveries_and_uptime(project, receiver):
    project.config(f"database: reports/history.db\nreports_dir: reports\nalerts:\n  - url: {receiver.apprise_url('/hook/T0KEN-digest')}\n")
    week_of_history(project)
    text, problems = funnelwatch.api.digest(project.load(), clock=FixedClock(NOW.timestamp()))
    assert problems == []
    (message,) = receiver.wait_for(1)
    assert message["title"] == "funnelwatch: the last 7 days — 1 funnel still broken"
    body = message["message"]
    assert body == text
    still, recovered = body.split("**Broke and recovered**")
    assert "Webinar signup [desktop] — broken for 3d 23h: Lead form: form submission failed — the form's server answered HTTP 500" in still
    assert "Cloud ebook [desktop] — broken for 24h 0m: Delivery email and asset: wrong asset delivered" in recovered
    assert "Pricing page [desktop]: 100% over 7 runs" in body
    assert "Webinar signup [desktop]: 42.9% over 7 runs" in body
    assert "Cloud ebook [desktop]: 85.7% over 7 runs" in body


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Mailroom:
    """aiosmtpd handler keeping what arrives."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"


def test_digest_by_email_is_html_without_scripts_or_remote_urls(project):
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    mailroom = _Mailroom()
    server = Controller(mailroom, hostname="127.0.0.1", port=_free_port())
    server.start()
    try:
        url = f"mailto://127.0.0.1:{server.port}?from=funnelwatch@acme.test&to=marketing@acme.test"
        project.config(f"database: reports/history.db\nreports_dir: reports\nreport:\n  url: https://reports.acme.test/fw\n"
                       f"alerts:\n  - url: '{url}'\n")
        week_of_history(project)
        _, problems = funnelwatch.api.digest(project.load(), clock=FixedClock(NOW.timestamp()))
        assert problems == []
        deadline = time.monotonic() + 10
        while not mailroom.received and time.monotonic() < deadline:
            time.sleep(0.1)
        (raw,) = mailroom.received
    finally:
        server.stop()
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "funnelwatch: the last 7 days — 1 funnel still broken"
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Webinar signup [desktop]" in html and "42.9%" in html and "Broke and recovered" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html, re.I), "a remote URL in the digest email"


def test_digest_command_prints_when_no_channel_is_configured(project):
    project.config("database: reports/history.db\nreports_dir: reports\n")
    week_of_history(project)
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "digest", "--since", "30d"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Webinar signup [desktop]" in done.stdout and "no alerts: channels" in done.stderr


def test_digest_refuses_a_bad_window_with_exit_2(project):
    project.config("database: reports/history.db\nreports_dir: reports\n")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "digest", "--since", "a week"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "--since" in done.stderr
