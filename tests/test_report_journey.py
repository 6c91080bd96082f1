"""The funnel page a marketer understands in ten seconds: the journey strip, what to do, evidence collapsed.

Read in real Chromium from file://, after real runs against a local site.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import funnelwatch
from funnelwatch.report.journey import journey
from funnelwatch.results import CATEGORY_ADVICE, Category, CheckResult, Status, StepRecord
from funnelwatch.store import Store

from .test_report import Reader, browser, built  # noqa: F401 - the module-scoped Chromium and history those tests share

LANDING = "<title>Webinar</title><h1>Join the webinar</h1>"
FORM = """<title>Webinar</title><h1>Join the webinar</h1>
<form method=post action=/submit><label>Email <input name=email type=email required></label>
<button type=submit>Register</button></form>"""


@pytest.fixture
def reader(browser: Any) -> Any:  # noqa: F811 - the shared browser
    opened = Reader(browser)
    yield opened
    opened.close()


def test_every_category_says_what_to_do_and_who_owns_it():
    assert set(CATEGORY_ADVICE) == set(Category)
    for category, (advice, owner) in CATEGORY_ADVICE.items():
        assert len(advice) > 40 and advice.endswith((".", ")")), category
        assert owner, category


def _run(project: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:  # the sync Playwright reader owns this thread's event loop
        return pool.submit(project.run).result()


def test_broken_form_shows_every_stage_in_order_with_the_failing_one_red(project, site, reader):
    site.page("/lp/webinar", FORM)
    site.page("/submit", "<title>Server error</title><h1>Internal error</h1>", status=500)
    project.check("webinar", f"name: Webinar signup\nlanding: {{url: '{site.url('/lp/webinar')}', must_show: [Join the webinar]}}\n"
                  "form:\n  fill: {email: qa@example.com}\n  success: {text: Thanks}\n")
    outcome = _run(project)
    (result,) = outcome.results
    assert (result.status, result.step, result.category) == (Status.FAIL, "form", Category.FORM_HTTP_ERROR)
    page = reader.open(project.root / "reports" / "funnels" / "webinar.html")
    stages = page.locator("section.now ol.journey li.stage")
    assert [stages.nth(i).get_attribute("data-stage") for i in range(stages.count())] == ["landing", "form"]
    assert [stages.nth(i).get_attribute("data-status") for i in range(stages.count())] == ["pass", "fail"]
    landing, form = stages.nth(0), stages.nth(1)
    assert "✓" in landing.inner_text() and "Landing page" in landing.inner_text()
    assert "s" in landing.locator(".time").inner_text()  # its time, e.g. 0.4s
    assert "✗" in form.inner_text() and "broken" in form.inner_text()  # text, not colour alone
    assert result.reason and result.reason[:40] in form.locator(".why").inner_text()
    advice = page.locator("section.now .advice").first
    assert "What to do:" in advice.inner_text() and "marketing-automation admin" in advice.inner_text()
    reader.assert_inert()


def test_evidence_for_developers_is_collapsed_and_opens(project, site, reader):
    site.page("/lp/gone", "<title>Offer expired</title><h1>Offer expired</h1>")
    project.check("gone", f"name: Expired offer\nlanding: {{url: '{site.url('/lp/gone')}', must_show: [Free checklist]}}\n")
    _run(project)
    page = reader.open(project.root / "reports" / "funnels" / "gone.html")
    details = page.locator("section.now details.dev-evidence").first
    assert details.get_attribute("open") is None
    section = details.locator("section.evidence").first
    assert not section.is_visible()
    details.locator("summary").click()
    assert section.is_visible()
    index = reader.open(project.root / "reports" / "index.html")
    small = index.locator("li.funnel ol.journey.small li.stage")
    assert small.count() == 1 and small.first.get_attribute("data-status") == "fail"
    assert small.first.locator(".why").count() == 0  # the card stays small: the reason is on the line below


def test_a_stage_a_later_run_settles_shows_waiting_then_its_latency(project):
    planned = ["landing", "form", "followup"]
    records = [StepRecord("landing", True, 0.42), StepRecord("form", True, 2.5), StepRecord("followup", True, 0.01)]
    waiting = CheckResult("Demo", "checks/demo.yaml", Status.PENDING, step="followup", reason="waiting for the sales reply",
                          steps=records)
    assert [(s.kind, s.status) for s in journey(waiting, planned)] == [("landing", "pass"), ("form", "pass"), ("followup", "pending")]
    assert journey(waiting, planned)[0].time == "420ms"
    settled = CheckResult("Demo", "checks/demo.yaml", Status.FAIL, step="followup", category=Category.LATE_FOLLOWUP,
                          reason="the reply came after 3h 5m", latency_s=11_100)
    stages = journey(settled, planned)
    assert [(s.kind, s.status) for s in stages] == [("landing", "pass"), ("form", "pass"), ("followup", "fail")]
    assert stages[2].time == "after 3h 5m" and stages[2].reason == "the reply came after 3h 5m"
    broken = CheckResult("Demo", "checks/demo.yaml", Status.FAIL, step="landing", category=Category.HTTP_STATUS, reason="404")
    assert [s.status for s in journey(broken, planned)] == ["fail", "skipped", "skipped"]


def test_the_steps_a_run_took_survive_the_history(tmp_path: Path):
    store = Store(tmp_path / "history.db")
    try:
        run_id, _ = store.begin_run("all")
        result = CheckResult("Webinar", "checks/w.yaml", Status.FAIL, step="form", category=Category.FORM_HTTP_ERROR,
                             reason="500", evidence={"form": {"outcome": "form_http_error"}},
                             steps=[StepRecord("landing", True, 0.4), StepRecord("form", False, 1.25)])
        stored = store.result(store.add_result(run_id, result))
    finally:
        store.close()
    assert stored is not None
    assert [(s.step, s.ok, s.duration_s) for s in stored.steps] == [("landing", True, 0.4), ("form", False, 1.25)]
    assert stored.evidence == {"form": {"outcome": "form_http_error"}}  # the steps never show up as evidence


def test_python_api_builds_the_same_strip(project, site):
    site.page("/lp/fine", LANDING)
    project.check("fine", f"name: Fine page\nlanding: {{url: '{site.url('/lp/fine')}', must_show: [Join the webinar]}}\n")
    _run(project)
    overview = funnelwatch.report.model.build_overview(project.load(), Store(project.root / "reports" / "history.db"))
    (row,) = overview.rows
    assert [(s.kind, s.status) for s in row.journey] == [("landing", "pass")] and row.advice is None


def test_no_raw_floats_or_timestamps_reach_the_page_text(built, reader):  # noqa: F811 - the shared history
    import re

    raw_float = re.compile(r"\d\.\d+e[+-]\d+", re.I)
    raw_iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
    pages = sorted((built.reports / "funnels").glob("*.html"))
    assert len(pages) >= 8
    for path in pages:
        page = reader.open(path)
        for summary in page.locator("details > summary").all():
            summary.click()
        text = page.locator("main").inner_text()
        assert not raw_float.search(text), (path.name, raw_float.search(text))
        assert not raw_iso.search(text), (path.name, text[max(0, raw_iso.search(text).start() - 80):][:160])
    reader.assert_inert()
