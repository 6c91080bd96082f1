"""The funnel page in the report's time zone, what the prospect saw, and where each run's time went.

History written through the real Store, the report built by the real builder,
read in real Chromium from file://.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import funnelwatch
from funnelwatch.clock import FixedClock, iso
from funnelwatch.results import Category, CheckResult, Status, StepRecord
from funnelwatch.store import Store

from .fixtures.report_history import png
from .test_report import Reader, browser  # noqa: F401 - the module-scoped Chromium

NOW = datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc)  # 08:30 in Berlin (CET, UTC+1)
CONFIG = ("database: reports/history.db\nreports_dir: reports\nreport:\n  timezone: Europe/Berlin\n"
          "inbox:\n  maildir:\n    path: inbox\n  address: qa+{token}@example.com\n"
          "outbox:\n  smtp: {host: 127.0.0.1, port: 2525, plain: true}\n  from: qa+{token}@example.com\n")
EBOOK = ("name: Cloud ebook\nlanding: {url: 'http://127.0.0.1:9/lp'}\nform:\n  fill: {email: '{inbox}'}\n"
         "asset:\n  email: {subject: Your e-book}\n  expect: {title: Cloud Security E-book}\n")
SALES = "name: sales@ answers\ncontact:\n  email: sales@acme.test\n  subject: 'Pricing? ({token})'\n  body: SSO?\n  within: 4h\n"
EMAIL = {"subject": "Your Cloud Security E-book", "from": "Acme <content@acme.test>", "to": "qa+fw1@example.com",
         "date": "2026-11-30T07:30:05+00:00", "html": "<p>Hi Funnel, your copy: <a href='http://127.0.0.1:9/dl'>Download</a></p>"}


@pytest.fixture
def reader(browser: Any) -> Any:  # noqa: F811 - the shared browser
    opened = Reader(browser)
    yield opened
    opened.close()


@pytest.fixture
def history(project) -> Any:
    """Five nightly runs of the e-book funnel (the last delivered the wrong PDF) and three replies of sales@."""
    project.config(CONFIG)
    project.check("ebook", EBOOK)
    project.check("sales", SALES)
    reports = project.root / "reports"
    (reports / "artifacts" / "5").mkdir(parents=True)
    (reports / "artifacts" / "5" / "ebook.png").write_bytes(png(320, 200))
    store = Store(project.load().database_path)
    try:
        for day in range(5):
            moment = NOW - timedelta(days=4 - day)
            store.clock = FixedClock(moment.timestamp())
            run_id, _ = store.begin_run("all")
            last = day == 4
            steps = [StepRecord("landing", True, 0.5 + day * 0.1), StepRecord("form", True, 2.0), StepRecord("asset", not last, 12.0)]
            store.add_result(run_id, CheckResult(
                "Cloud ebook", "checks/ebook.yaml", Status.FAIL if last else Status.PASS, step="asset" if last else None,
                category=Category.WRONG_ASSET if last else None, reason="the PDF is titled 'GDPR Readiness Guide'" if last else None,
                duration_s=15.0 + day * 0.1, started_at=iso(moment), steps=steps,
                evidence={"asset": {"email": EMAIL, "title": "GDPR Readiness Guide"}} if last else {},
                artifacts={"screenshot": "artifacts/5/ebook.png"} if last else {}))
            if day >= 2:
                latency = (3.0 if day == 4 else 1.5) * 3600
                store.add_result(run_id, CheckResult(
                    "sales@ answers", "checks/sales.yaml", Status.FAIL if day == 4 else Status.PASS, step="contact",
                    category=Category.LATE_FOLLOWUP if day == 4 else None, latency_s=latency, started_at=iso(moment),
                    reason="sales@acme.test took 5h to answer; the SLA is 4h" if day == 4 else None), kind="contact")
            store.finish_run(run_id, 0)
    finally:
        store.close()
    funnelwatch.api.build_report(project.load())
    return reports


def test_dates_on_the_funnel_page_are_in_the_report_time_zone(history, reader):
    page = reader.open(history / "funnels" / "ebook.html")
    first_row = page.locator("table.history tbody tr").first.locator("td").first.inner_text()
    assert first_row == "Mon 30 Nov 2026, 08:30 CET"
    assert "Checked Mon 30 Nov 2026, 08:30 CET" in page.locator("section.now").inner_text()
    axis = page.locator("svg.chart text.axis").all_text_contents()
    assert "Thu 26 Nov 2026" in axis and "Mon 30 Nov 2026" in axis
    assert "UTC" not in page.locator("main").inner_text()


def test_what_the_prospect_saw_sits_under_the_strip_before_the_developer_evidence(history, reader):
    page = reader.open(history / "funnels" / "ebook.html")
    card = page.locator("section.now").first
    saw = card.locator("section.prospect")
    assert saw.locator("h3").first.inner_text() == "What the prospect saw"
    assert "The page where it broke" in saw.inner_text()
    assert saw.locator("img").first.evaluate("img => img.complete && img.naturalWidth") == 320
    assert saw.locator("iframe.email").count() == 1 and "Your Cloud Security E-book" in saw.inner_text()
    assert "Mon 30 Nov 2026, 08:30 CET" in saw.inner_text()  # the email's Date, humanised in the report's zone
    order = card.evaluate("""card => [...card.querySelectorAll('ol.journey, section.prospect, details.dev-evidence')]
                             .map(e => e.matches('ol.journey') ? 'strip' : e.matches('section.prospect') ? 'saw' : 'dev')""")
    assert order == ["strip", "saw", "dev"]
    assert saw.is_visible() and card.locator("details.dev-evidence").get_attribute("open") is None
    reader.assert_inert()


def test_history_chart_stacks_each_runs_time_by_stage(history, reader):
    page = reader.open(history / "funnels" / "ebook.html")
    chart = page.locator("svg.chart.stages")
    runs = chart.locator("g.run")
    assert runs.count() == 5
    first = runs.first.locator("rect")
    assert [first.nth(i).get_attribute("data-stage") for i in range(first.count())] == ["landing", "form", "asset"]
    assert [float(first.nth(i).get_attribute("data-seconds") or 0) for i in range(3)] == [0.5, 2.0, 12.0]
    assert "Thu 26 Nov 2026, 08:30 CET desktop: Delivery email and asset 12.0s" in first.nth(2).locator("title").text_content()
    assert runs.last.get_attribute("data-status") == "fail" and "✗" in (runs.last.text_content() or "")
    assert page.locator("ul.legend").inner_text().split("\n") == ["Landing page", "Lead form", "Delivery email and asset"]
    heights = [float(first.nth(i).get_attribute("height") or 0) for i in range(3)]
    assert heights[2] > heights[1] > heights[0]  # the wait for the email is where the time went


def test_replies_of_a_published_inbox_are_charted_against_their_sla(history, reader):
    page = reader.open(history / "funnels" / "sales.html")
    latency = page.locator("svg.chart[aria-label*='latency']")
    assert latency.count() == 1
    assert "SLA 4h 0m" in latency.locator("text").all_text_contents()
    assert latency.locator("line[stroke-dasharray='6 4']").count() == 1  # the SLA line


def test_a_time_zone_that_does_not_exist_is_refused_with_file_and_line(project):
    project.config("database: reports/history.db\nreports_dir: reports\nreport:\n  timezone: Europe/Atlantis\n")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "config/funnelwatch.yaml:4" in done.stderr + done.stdout
    assert "'Europe/Atlantis' is not a time zone" in done.stderr + done.stdout
