"""Alerts say it once: broken, still broken (remind), recovered, monitor problem — through real Apprise to a local receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import time_machine

import funnelwatch
from funnelwatch.alerts import channel_id, dispatch
from funnelwatch.results import Category, CheckResult, RunResult, Status
from funnelwatch.store import Store, iso

START = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


def alert_config(receiver, extra: str = "", channel: str = "") -> str:
    return f"""\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 5s
  concurrency: 2
defaults:
  retries: 0
alerts:
  - url: {receiver.apprise_url('/hook/T0KEN-abc123')}
    remind: 1d
{channel}{extra}"""


def failed(check: str, step: str = "landing", category: Category = Category.HTTP_STATUS,
           reason: str = "the landing page answered HTTP 500", viewport: str = "desktop") -> CheckResult:
    return CheckResult(check=check, file=f"checks/{check}.yaml", status=Status.FAIL, step=step,
                       category=category, reason=reason, viewport=viewport, report=f"reports/funnels/{check}.html")


def result(check: str, status: Status, **extra) -> CheckResult:
    return CheckResult(check=check, file=f"checks/{check}.yaml", status=status, report=f"reports/funnels/{check}.html", **extra)


def stored_run(project, results: list[CheckResult]) -> list[str]:
    """Store results as a run through the real Store, then dispatch as `funnelwatch run` does."""
    config = project.load()
    store = Store(config.database_path)
    try:
        run_id, started = store.begin_run("test")
        for item in results:
            store.add_result(run_id, item)
        outcome = RunResult(run_id, iso(started) or "", None, results)
        store.finish_run(run_id, outcome.exit_code)
        return dispatch(config, store, outcome)
    finally:
        store.close()


def test_broken_funnel_alerts_once(project, receiver):
    project.config(alert_config(receiver))
    assert stored_run(project, [failed("hipaa")]) == []
    assert stored_run(project, [failed("hipaa")]) == []
    messages = receiver.wait_for(1)
    assert len(messages) == 1
    assert messages[0]["title"] == "funnelwatch: 1 funnel broken"
    assert "hipaa — Landing page: page answered with an error: the landing page answered HTTP 500" in messages[0]["message"]
    assert messages[0]["type"] == "failure"


def test_still_broken_funnel_is_not_repeated_until_remind(project, receiver):
    project.config(alert_config(receiver))
    with time_machine.travel(START, tick=False) as clock:
        stored_run(project, [failed("hipaa")])
        clock.shift(timedelta(hours=23))
        stored_run(project, [failed("hipaa")])
        assert len(receiver.wait_for(2, timeout_s=0.5)) == 1
        clock.shift(timedelta(hours=1, minutes=1))
        stored_run(project, [failed("hipaa")])
    messages = receiver.wait_for(2)
    assert len(messages) == 2
    assert messages[1]["title"] == "funnelwatch: 1 funnel still broken"
    assert "Still broken:" in messages[1]["message"]
    assert "(since " in messages[1]["message"]


def test_recovered_funnel_gets_one_recovery_alert(project, receiver):
    project.config(alert_config(receiver))
    stored_run(project, [failed("hipaa")])
    stored_run(project, [result("hipaa", Status.PASS)])
    stored_run(project, [result("hipaa", Status.PASS)])
    messages = receiver.wait_for(3, timeout_s=1)
    assert [m["title"] for m in messages] == ["funnelwatch: 1 funnel broken", "funnelwatch: 1 funnel recovered"]
    assert "Recovered — works again:" in messages[1]["message"]
    assert messages[1]["type"] == "success"


def test_flaky_and_pending_send_nothing(project, receiver):
    project.config(alert_config(receiver))
    flaky = result("webinar", Status.FLAKY, step="form", category=Category.FORM_HTTP_ERROR, reason="POST answered 502", attempts=2)
    stored_run(project, [flaky, result("demo", Status.PENDING), result("ok", Status.PASS)])
    assert receiver.wait_for(1, timeout_s=0.5) == []


def test_error_alerts_as_monitor_problem_not_as_broken(project, receiver):
    project.config(alert_config(receiver))
    problem = result("gdpr", Status.ERROR, step="asset", category=Category.INBOX,
                     reason="the inbox could not be opened: connection refused")
    stored_run(project, [problem])
    stored_run(project, [problem])
    messages = receiver.wait_for(2, timeout_s=0.5)
    assert len(messages) == 1
    assert messages[0]["title"] == "funnelwatch: could not check 1 funnel"
    body = messages[0]["message"]
    assert "funnelwatch could not check these (this says nothing about whether the funnel works)" in body
    assert "gdpr — Delivery email and asset: inbox problem: the inbox could not be opened" in body
    assert "Broken" not in body and "broken" not in messages[0]["title"]
    stored_run(project, [result("gdpr", Status.PASS)])
    resolved = receiver.wait_for(2)
    assert resolved[1]["title"] == "funnelwatch: checking again works for 1 funnel"


def test_several_broken_funnels_arrive_as_one_digest(project, receiver):
    project.config(alert_config(receiver, "report:\n  url: https://reports.example.com/fw\n"))
    stored_run(project, [
        failed("hipaa", "asset", Category.WRONG_ASSET, "the PDF behind 'Download' is titled 'GDPR Readiness Guide'"),
        failed("summer", "ad", Category.LOST_PARAM, "gclid was dropped by the redirect to /lp/summer", viewport="mobile"),
        failed("webinar", "form", Category.FORM_VALIDATION, "the form says 'Please enter a business email'"),
        result("ok", Status.PASS),
    ])
    messages = receiver.wait_for(2, timeout_s=0.5)
    assert len(messages) == 1
    body = messages[0]["message"]
    assert messages[0]["title"] == "funnelwatch: 3 funnels broken"
    assert "hipaa — Delivery email and asset: wrong asset delivered: the PDF behind 'Download' is titled 'GDPR Readiness Guide'" in body
    assert "summer [mobile] — Ad click-through: tracking parameter lost: gclid was dropped" in body
    assert "webinar — Lead form: form rejected the entry: the form says 'Please enter a business email'" in body
    assert "https://reports.example.com/fw/funnels/hipaa.html" in body
    assert "Report: https://reports.example.com/fw/index.html" in body
    assert "ok" not in [line.strip(" •").split(" ")[0] for line in body.splitlines()]


def test_failure_and_success_thresholds_wait_for_consecutive_runs(project, receiver):
    channel = "    failure_threshold: 2\n    success_threshold: 2\n"
    project.config(alert_config(receiver, channel=channel))
    stored_run(project, [failed("hipaa")])
    stored_run(project, [result("hipaa", Status.PASS)])
    stored_run(project, [failed("hipaa")])
    assert receiver.wait_for(1, timeout_s=0.5) == []
    stored_run(project, [failed("hipaa")])
    assert [m["title"] for m in receiver.wait_for(1)] == ["funnelwatch: 1 funnel broken"]
    stored_run(project, [result("hipaa", Status.PASS)])
    assert len(receiver.wait_for(2, timeout_s=0.5)) == 1
    stored_run(project, [result("hipaa", Status.PASS)])
    assert [m["title"] for m in receiver.wait_for(2)][1] == "funnelwatch: 1 funnel recovered"


def test_restart_between_runs_keeps_alert_state(project, receiver, tmp_path):
    project.config(alert_config(receiver))
    stored_run(project, [failed("hipaa")])
    db = tmp_path / "reports" / "history.db"
    assert db.exists()
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.test_alerts import *; from tests.fixtures.projects import Project;"
        "print(stored_run(Project(__import__('pathlib').Path(sys.argv[2])), [failed('hipaa')]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent.parent), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(receiver.wait_for(2, timeout_s=0.5)) == 1


def test_channel_on_filter_and_per_channel_state(project, receiver):
    second = f"  - url: {receiver.apprise_url('/errors-only')}\n    on: [error]\n"
    project.config(alert_config(receiver, extra=second))
    stored_run(project, [failed("hipaa"), result("gdpr", Status.ERROR, category=Category.INBOX, reason="inbox down")])
    messages = receiver.wait_for(2)
    by_path = {m["path"]: m for m in messages}
    assert by_path["/errors-only"]["title"] == "funnelwatch: could not check 1 funnel"
    assert by_path["/hook/T0KEN-abc123"]["title"] == "funnelwatch: 1 funnel broken, could not check 1 funnel"
    config = project.load()
    store = Store(config.database_path)
    try:
        assert set(store.alert_state.load(channel_id(config.settings.alerts[0].url))) == {("hipaa", "desktop"), ("gdpr", "desktop")}
    finally:
        store.close()


def test_channel_down_run_still_succeeds_stores_results_and_retries_next_run(project, receiver, site):
    site.page("/lp/broken", "<h1>Oops</h1>", status=500)
    project.config(alert_config(receiver, f"heartbeat: {receiver.http_url('/beat')}\n"))
    project.check("spring", f"""
        name: Spring offer
        landing:
          url: {site.url('/lp/broken')}
          must_show: [Free checklist]
    """)
    receiver.failing = True
    outcome = project.run(alerts=True)
    assert [r.status for r in outcome.results] == [Status.FAIL]
    assert outcome.finished_at is not None
    assert outcome.exit_code == 1  # the funnel is broken; a down channel never fails the run
    assert any(p.startswith("alert channel json://***: the service did not accept the message; will retry next run") for p in outcome.problems)
    assert any(p == "heartbeat http://*** answered HTTP 500 (tried twice)" for p in outcome.problems)
    assert all("T0KEN" not in p for p in outcome.problems)
    store = Store(project.load().database_path)
    try:
        assert store.run(outcome.run_id)["state"] == "complete"
        assert [r.status for r in store.results_for_run(outcome.run_id)] == [Status.FAIL]
    finally:
        store.close()
    receiver.failing = False
    again = project.run(alerts=True)
    assert again.problems == []
    messages = receiver.wait_for(1)
    assert len(messages) == 1
    assert messages[0]["title"] == "funnelwatch: 1 funnel broken"
    assert "Spring offer — Landing page:" in messages[0]["message"]
    assert receiver.pings == ["/beat"]


def test_invalid_alert_url_is_a_problem_not_a_crash(project, receiver):
    project.config(alert_config(receiver, "  - url: nosuchservice://S3CRET-hook\n"))
    problems = stored_run(project, [failed("hipaa")])
    assert problems == ["alert channel nosuchservice://***: not a valid Apprise URL (see the Apprise wiki for the URL of your service); will retry next run"]
    assert len(receiver.wait_for(1)) == 1


def test_secrets_are_redacted_in_every_output(project, receiver, site, tmp_path):
    site.page("/lp/gone", "<h1>Gone</h1>", status=404)
    project.config("""\
        database: reports/history.db
        reports_dir: reports
        browser:
          timeout: 5s
        defaults:
          retries: 0
        alerts:
          - url: ${FW_TEST_ALERT_URL}
          - url: ${FW_TEST_DOWN_URL}
        heartbeat: ${FW_TEST_BEAT_URL}
    """)
    project.check("gone", f"""
        name: Gone offer
        landing:
          url: {site.url('/lp/gone')}
    """)
    secret = "xoxb-S3CRETTOKEN"
    env = dict(os.environ,
               FW_TEST_ALERT_URL=receiver.apprise_url(f"/services/{secret}"),
               FW_TEST_DOWN_URL=f"json://127.0.0.1:9/{secret}-down",
               FW_TEST_BEAT_URL=f"http://127.0.0.1:9/ping/{secret}")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(tmp_path), "run", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr  # broken funnel; the down channel is reported, not a failed run
    assert json.loads(done.stdout)["results"][0]["status"] == "fail"
    assert "alert channel json://***: the service did not accept the message; will retry next run" in done.stderr
    assert "heartbeat http://*** unreachable (ConnectionError)" in done.stderr
    delivered = receiver.wait_for(1)
    assert delivered[0]["title"] == "funnelwatch: 1 funnel broken"
    written = [done.stdout, done.stderr, delivered[0]["title"], delivered[0]["message"]]
    written += [p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert len(written) > 4
    assert all(secret not in text for text in written)


def test_demo_project_can_point_its_alerts_at_a_local_receiver(tmp_path, receiver, monkeypatch):
    from funnelwatch.demo import prepare_project

    project = prepare_project(tmp_path, receiver.apprise_url("/demo-alerts"))
    monkeypatch.setenv("FUNNELWATCH_DEMO_URL", "http://127.0.0.1:9")
    config = funnelwatch.load_config(project)
    assert [c.url for c in config.settings.alerts] == [receiver.apprise_url("/demo-alerts")]


def test_broken_alert_carries_the_screenshot_and_the_funnel_page(project, receiver, site):
    import base64

    site.page("/lp/shot", "<h1>Offer expired</h1>")
    project.config(alert_config(receiver, "report:\n  url: https://reports.example.com/fw\n"))
    project.check("expired", f"""
        name: Expired offer
        landing:
          url: {site.url('/lp/shot')}
          must_not_show: [Offer expired]
    """)
    outcome = project.run(alerts=True)
    assert [(r.status, r.step, r.category) for r in outcome.results] == [(Status.FAIL, "landing", Category.TEXT_FORBIDDEN)]
    message = receiver.wait_for(1)[0]
    lines = message["message"].splitlines()
    assert lines[1].startswith("  • Expired offer — Landing page: ")
    assert lines[2] == "    step landing · category text_forbidden · screenshot expired-desktop-attempt1.png"
    assert lines[3] == "    https://reports.example.com/fw/funnels/expired.html"
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "expired-desktop-attempt1.png" and attachment["mimetype"] == "image/png"
    assert base64.b64decode(attachment["base64"]).startswith(b"\x89PNG")


def test_without_a_published_report_the_digest_links_the_local_funnel_page(project, receiver):
    project.config(alert_config(receiver))
    stored_run(project, [failed("hipaa", "asset", Category.WRONG_ASSET, "the PDF is titled 'GDPR Readiness Guide'")])
    lines = receiver.wait_for(1)[0]["message"].splitlines()
    assert lines[2] == "    step asset · category wrong_asset"
    assert lines[3] == f"    {project.root / 'reports' / 'funnels' / 'hipaa.html'}"
    assert "attachments" not in receiver.wait_for(1)[0] or not receiver.wait_for(1)[0]["attachments"]
