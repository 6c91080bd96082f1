"""The HTML report, read in real Chromium from file:// like a marketer would.

Histories are written through the real Store (tests/fixtures/report_history.py):
every status, every step kind's evidence, hostile strings in every field.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import sync_playwright

import funnelwatch
from funnelwatch.browser import find_chromium, launch_options
from funnelwatch.cli import cli
from funnelwatch.report import _env
from funnelwatch.report.evidence import evidence_sections
from funnelwatch.results import CheckResult, Status
from funnelwatch.store import Store

from .fixtures.projects import Project
from .fixtures.report_history import HOSTILE_NAME, HOSTILE_TAG, write_history

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Any:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(**launch_options(find_chromium()))
        yield chromium
        chromium.close()


class Reader:
    """A browser tab that records every request and dialog."""

    def __init__(self, browser: Any, width: int = 1280):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.context.set_default_timeout(15_000)  # a missing element fails the test instead of stalling it
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", lambda request: self.blocked.append(request.url) if "csp" in (request.failure or "").lower() else None)
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def open(self, path: Path) -> Any:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def assert_inert(self) -> None:
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        for frame in self.page.frames:
            try:
                assert frame.evaluate("typeof window.__pwned") == "undefined"
            except AssertionError:
                raise
            except Exception:
                pass  # a sandboxed frame without scripts cannot even be evaluated: fine
        assert self.dialogs == []
        # Chromium announces a request it then refuses under the report's CSP; those never leave the browser.
        foreign = [u for u in self.requests if not u.startswith(("file://", "data:", "about:")) and u not in self.blocked]
        assert foreign == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def reader(browser: Any) -> Any:
    opened = Reader(browser)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: Any) -> Any:
    """One history and report shared by the read-only tests of this module."""
    history = write_history(Project(tmp_path_factory.mktemp("report")).config())
    funnelwatch.api.build_report(history.project.load())
    return history


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)


def _row(page: Any, name: str, viewport: str = "") -> Any:
    rows = page.locator("li.funnel").filter(has=page.get_by_role("link", name=name, exact=True))
    if viewport:
        rows = rows.filter(has_text=f"on {viewport}")
    return rows.first


# --- index.html -------------------------------------------------------------------


def test_index_headline_counts_broken_funnels_and_names_the_last_run(built, reader):
    page = reader.open(built.index)
    assert page.locator("h1").inner_text() == "4 of 9 funnels broken"
    summary = page.locator(".summary").inner_text()
    assert "Last run:" in summary and "UTC" in summary
    assert "Next scheduled run:" in summary and "02:00 UTC" in summary
    assert page.title().startswith("4 of 9 funnels broken")
    _shot(page, "index")
    reader.assert_inert()


def test_index_lists_broken_first_then_flaky_pending_errors_healthy(built, reader):
    page = reader.open(built.index)
    statuses = page.locator("li.funnel").evaluate_all("rows => rows.map(r => r.dataset.status)")
    order = ["fail", "flaky", "pending", "error", "pass"]
    assert statuses == sorted(statuses, key=order.index)
    assert statuses.count("fail") == 5 and statuses[-2:] == ["pass", "pass"]
    headings = page.locator("section.group h2").all_inner_texts()
    assert [h.split("(")[0].strip("✗~…!✓ ") for h in headings] == [
        "Broken", "Flaky", "Waiting for a follow-up", "Monitor problems", "Working",
    ]


def test_broken_funnel_shows_step_plain_reason_and_broken_since(built, reader):
    page = reader.open(built.index)
    row = _row(page, "Webinar signup")
    text = row.inner_text()
    assert "✗ Broken" in text
    assert "Lead form" in text and "form rejected the entry" in text
    assert "the form says 'Please enter a business email'" in text
    assert "form_validation" not in text
    since = row.locator("time").first.get_attribute("datetime")
    first_failure = _started(built, "Webinar signup", days_ago=4)
    assert since == first_failure


def test_strip_shows_last_30_results_with_letters_not_only_colour(built, reader):
    page = reader.open(built.index)
    cells = _row(page, "Webinar signup").locator("ol.strip li")
    assert cells.count() == 30
    marks = cells.evaluate_all("cells => cells.map(c => c.querySelector('[aria-hidden]').textContent)")
    assert marks == ["✓"] * 25 + ["✗"] * 5
    assert "Broken" in cells.last.inner_text()
    flaky = _row(page, "Homepage").locator("ol.strip li").evaluate_all("cells => cells.map(c => c.textContent)")
    assert any(c.startswith("~") for c in flaky)


def test_uptime_over_7_and_30_days(built, reader):
    page = reader.open(built.index)
    numbers = _row(page, "Partner demo").locator("dl.nums").inner_text()
    assert re.search(r"Uptime 7 days\s+85\.7%", numbers), numbers
    assert re.search(r"Uptime 30 days\s+96\.7%", numbers), numbers
    assert re.search(r"Last run took\s+\d", numbers)
    assert re.search(r"Uptime 7 days\s+100%", _row(page, "Pricing page").locator("dl.nums").inner_text())


def test_followup_row_shows_latency_median_p90_and_share_within_sla(built, reader):
    page = reader.open(built.index)
    numbers = _row(page, "Demo request").locator("dl.nums").inner_text()
    assert re.search(r"Last follow-up\s+21m 0s", numbers), numbers
    assert re.search(r"Median / p90\s+45m 30s / 1h 30m", numbers), numbers
    assert re.search(r"Within SLA \(1h 0m\)\s+83\.3% of 6", numbers), numbers


def test_filters_by_status_tag_and_name_without_a_server(built, reader):
    page = reader.open(built.index)

    def visible() -> list[str]:
        return page.locator("li.funnel:visible h3 a").all_inner_texts()

    page.select_option("#f-status", "flaky")
    assert visible() == ["Homepage"]
    assert not page.locator("section.group[data-group=fail]").is_visible()
    page.select_option("#f-status", "")
    page.select_option("#f-tag", "whitepaper")
    assert sorted(visible()) == ["Cloud ebook", "HIPAA checklist"]
    page.select_option("#f-tag", HOSTILE_TAG)
    assert visible() == [HOSTILE_NAME]
    page.click("#f-reset")
    page.fill("#f-q", "summer")
    assert visible() == ["Summer sale — Meta ads", "Summer sale — Meta ads"]
    assert "Showing 2 of 10" in page.locator("#f-shown").inner_text()
    page.click("#f-reset")
    assert len(visible()) == 10
    reader.assert_inert()


def test_filter_survives_a_reload_through_the_url(built, reader):
    page = reader.open(built.index)
    page.select_option("#f-status", "error")
    page.reload()
    assert page.locator("li.funnel:visible h3 a").all_inner_texts() == ["Cloud ebook"]


def test_hostile_page_and_email_content_cannot_run_script_anywhere(built, reader):
    pages = [built.index, *sorted((built.reports / "funnels").glob("*.html"))]
    assert len(pages) == 10
    for path in pages:
        page = reader.open(path)
        page.wait_for_timeout(50)
        reader.assert_inert()
        hrefs = page.locator("a[href], img[src], iframe[src]").evaluate_all(
            "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))")
        assert not [h for h in hrefs if h.lower().startswith("javascript:") or "passwd" in h], path
    page = reader.open(built.index)
    assert HOSTILE_NAME in page.get_by_role("link", name=HOSTILE_NAME).inner_text()


# --- one page per funnel ----------------------------------------------------------


def test_funnel_page_puts_the_reason_first_then_the_evidence(built, reader):
    page = reader.open(built.reports / "funnels" / "ad-mismatch.html")
    first = page.locator("main section.now").first
    assert "✗ Broken" in first.locator("h2").inner_text()
    assert "Ad click-through" in first.locator(".reason").inner_text()
    assert "page does not match the ad" in first.locator(".reason").inner_text()
    # What the prospect saw comes first; the evidence for developers waits, collapsed, below it.
    assert first.locator("section.evidence h3").first.inner_text() == "The email as received"
    _open_developer_evidence(first)
    titles = first.locator("section.evidence h3").all_inner_texts()
    assert titles[1:3] == ["Redirect chain (ad click to landing page)", "Does the page carry the ad's promise?"]
    for title in ("Lead form", "Console errors", "Uncaught page errors", "Failed requests",
                  "The email as received", "Delivery email and asset", "Follow-up probes", "Other evidence"):
        assert title in titles
    chain = first.locator("ol.chain li").all_inner_texts()
    assert len(chain) == 3 and chain[0].startswith("302") and "javascript:alert(3)" in chain[1]
    assert first.locator("ol.chain a").count() == 2
    missing = first.locator("table tr", has_text="30% off")
    assert "not found" in missing.inner_text()
    _shot(page, "funnel")
    reader.assert_inert()


def test_screenshot_loads_and_enlarges_on_click(built, reader):
    page = reader.open(built.reports / "funnels" / "ad-mismatch.html")
    thumb = page.locator(".shot img").first
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 320
    assert not page.locator(".lightbox").first.is_visible()
    thumb.click()
    assert page.locator(".lightbox").first.is_visible()
    assert page.locator("a", has_text="trace.zip").count() >= 1
    reader.assert_inert()


def test_delivery_email_renders_in_a_script_less_sandbox(built, reader):
    page = reader.open(built.reports / "funnels" / "ad-mismatch.html")
    frame = page.locator("iframe.email").first
    assert frame.get_attribute("sandbox") == ""
    assert "<script>" in frame.get_attribute("srcdoc")
    inner = page.frame_locator("iframe.email").first
    assert inner.locator("h1").inner_text() == "Hi Funnel"
    assert "Your HIPAA checklist <script>" in page.locator("section.evidence", has_text="The email as received").first.inner_text()
    reader.assert_inert()


def test_history_chart_and_every_run_in_a_table(built, reader):
    page = reader.open(built.reports / "funnels" / "broken-form.html")
    assert page.locator("svg.chart").count() == 1
    assert page.locator("svg.chart circle").count() == 35
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 40
    assert "Broken" in rows.first.inner_text() and "Lead form" in rows.first.inner_text()
    reader.assert_inert()


def test_followup_page_charts_latency_against_the_sla(built, reader):
    page = reader.open(built.reports / "funnels" / "demo.html")
    assert "Sales follow-ups" in page.locator("main").inner_text()
    assert page.locator("svg.chart").count() == 2
    assert "SLA 1h 0m" in page.locator("svg.chart").first.inner_html()
    assert "follow-up came late" in page.locator("table.history").first.inner_text()


def _open_developer_evidence(scope: Any) -> None:
    for summary in scope.locator("details.dev-evidence > summary").all():
        summary.click()


def test_odd_shaped_evidence_falls_back_to_escaped_key_values(built, reader):
    page = reader.open(built.reports / "funnels" / "asset.html")
    _open_developer_evidence(page)
    text = page.locator("main").inner_text()
    assert "not a list" in text and "Oddly" in text
    assert page.locator(".shot img").count() == 0
    reader.assert_inert()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
))
def test_any_evidence_shape_renders_without_crashing_or_raw_html(tmp_path_factory, value):
    evidence = {"ad": value, "form": value, "asset": {"email": value}, "followup": value, "x": value, "screenshots": value}
    result = CheckResult(check="c", file="checks/c.yaml", status=Status.FAIL, evidence=evidence)
    sections = evidence_sections(result, tmp_path_factory.getbasetemp())
    html = _env().from_string(
        '{% from "macros.html" import section %}{% for s in sections %}{{ section(s, loop.index) }}{% endfor %}'
    ).render(sections=sections)
    assert "<script" not in html


# --- keeping reports/ small, and rebuilding ----------------------------------------


def test_report_keep_prunes_old_screenshots_but_keeps_history(built):
    store = Store(built.reports / "history.db")
    try:
        runs = {r["id"]: r["started_at"] for r in store.runs(100)}
        results = store.db.execute("select count(*) from results").fetchone()[0]
    finally:
        store.close()
    folders = sorted(int(p.name) for p in (built.reports / "artifacts").iterdir() if p.name.isdigit())
    assert len(runs) == 40 and results > 400
    assert folders == list(range(11, 41))  # keep: 30d — runs 1..10 are older
    assert (built.reports / "artifacts" / "custom" / "after-demo.png").is_file()


def test_report_keep_spares_the_screenshot_the_report_still_shows(report_history):
    config = report_history.project.load()
    config.settings.report.keep = 3600.0
    funnelwatch.api.build_report(config)
    left = sorted(p.relative_to(report_history.reports).as_posix() for p in (report_history.reports / "artifacts").rglob("*.png"))
    assert "artifacts/40/ad-mismatch-desktop-attempt1.png" in left
    assert not any(p.startswith("artifacts/39/") for p in left)


def test_report_command_rebuilds_from_history(report_history):
    outcome = CliRunner().invoke(cli, ["-C", str(report_history.project.root), "report"])
    assert outcome.exit_code == 0, outcome.output
    assert report_history.index.is_file()
    assert "4 of 9 funnels broken" in report_history.index.read_text(encoding="utf-8")


def test_copied_and_zipped_report_still_works(built, reader, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "reports"), "zip", built.reports)
    shutil.unpack_archive(archive, tmp_path / "elsewhere")
    copy = tmp_path / "elsewhere"
    page = reader.open(copy / "funnels" / "ad-mismatch.html")
    assert page.locator(".shot img").first.evaluate("img => img.naturalWidth") == 320
    page.click("text=← All funnels")
    assert page.locator("h1").inner_text() == "4 of 9 funnels broken"
    reader.assert_inert()
    assert [u for u in reader.requests if not u.startswith(copy.as_uri()) and u not in reader.blocked] == []


def test_readable_on_a_phone(built, browser):
    phone = Reader(browser, width=390)
    try:
        for path, name in ((built.index, "index-phone"), (built.reports / "funnels" / "ad-mismatch.html", "funnel-phone")):
            page = phone.open(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 392, name
            _shot(page, name)
        phone.assert_inert()
    finally:
        phone.close()


def test_empty_project_says_nothing_has_run(project, reader):
    funnelwatch.api.build_report(project.load())
    page = reader.open(project.root / "reports" / "index.html")
    assert page.locator("h1").inner_text() == "No funnels checked yet"


def test_configured_check_without_history_is_listed_as_not_run(project, reader):
    project.check("new", "name: Brand new funnel\nlanding: {url: 'http://127.0.0.1:9/'}\n")
    funnelwatch.api.build_report(project.load())
    page = reader.open(project.root / "reports" / "index.html")
    assert "Not run yet" in _row(page, "Brand new funnel").inner_text()


def test_run_rebuilds_the_report_with_the_failure_screenshot(project, site, reader):
    site.page("/lp/fine", "<title>Fine</title><h1>Free checklist</h1>")
    site.page("/lp/gone", "<title><script>window.__pwned=1</script>Offer expired</title><h1>Offer expired</h1>")
    project.check("fine", f"name: Fine page\nlanding: {{url: '{site.url('/lp/fine')}', must_show: [Free checklist]}}\n")
    project.check("gone", f"name: Expired offer\nlanding: {{url: '{site.url('/lp/gone')}', must_show: [Free checklist]}}\n")
    with ThreadPoolExecutor(1) as pool:  # the sync Playwright reader owns this thread's event loop
        outcome = pool.submit(project.run).result()
    assert outcome.report_path and Path(outcome.report_path).is_file()
    page = reader.open(Path(outcome.report_path))
    assert page.locator("h1").inner_text() == "1 of 2 funnels broken"
    assert page.locator("li.funnel").first.get_attribute("data-status") == "fail"
    page.locator("li.funnel").first.locator("h3 a").click()
    assert page.locator(".shot img").first.evaluate("img => img.complete && img.naturalWidth") > 0
    reader.assert_inert()


def _started(history: Any, name: str, days_ago: int) -> str:
    store = Store(history.reports / "history.db")
    try:
        rows = store.recent(name, ("check",), days_ago + 1)
        return rows[days_ago]["started_at"]
    finally:
        store.close()


def test_a_settled_follow_up_shows_until_the_next_demo_request_is_submitted(tmp_path):
    from bs4 import BeautifulSoup

    project = Project(tmp_path).config()
    project.check("demo", "name: Demo request\nlanding: {url: 'http://127.0.0.1:9/demo'}\nform: {success: {text: Thanks}}\nfollowup: {within: 1h}\n")
    config = project.load()
    store = Store(config.database_path)
    try:
        submitted, _ = store.begin_run("all checks")
        store.add_result(submitted, CheckResult("Demo request", "checks/demo.yaml", Status.PENDING, step="followup", reason="demo request submitted"))
        store.finish_run(submitted, 0)
        settled, _ = store.begin_run("all checks")
        store.add_result(settled, CheckResult("Demo request", "checks/demo.yaml", Status.PASS, step="followup", latency_s=240.0), kind="followup")
        store.finish_run(settled, 0)
        waiting, _ = store.begin_run("all checks")  # `every` not elapsed: no new demo request
        store.add_result(waiting, CheckResult("Demo request", "checks/demo.yaml", Status.PENDING, step="followup",
                                              reason="no demo request this run"), kind="waiting")
        store.finish_run(waiting, 0)
        index = funnelwatch.build_report(config, store)
    finally:
        store.close()
    text = BeautifulSoup(index.read_text(), "html.parser").get_text(" ", strip=True)
    assert "The funnel is working" in text
    working = text.index("Working (1)")
    assert text.index("Demo request", working) > working


def test_a_follow_up_reported_missing_then_late_counts_once_like_history(tmp_path):
    from funnelwatch.report.model import build_overview
    from funnelwatch.results import Category

    project = Project(tmp_path).config()
    project.check("demo", "name: Demo request\nlanding: {url: 'http://127.0.0.1:9/demo'}\nform: {success: {text: Thanks}}\nfollowup: {within: 1h}\n")
    config = project.load()
    store = Store(config.database_path)
    try:
        run_id, _ = store.begin_run("all checks")
        probe = store.ledger.record("Demo request", "desktop", run_id, {"token": "t1", "submitted_at": "2026-01-01T02:00:00Z"})
        store.ledger.move(probe, "pending", {"state": "overdue"})
        store.add_result(run_id, CheckResult("Demo request", "checks/demo.yaml", Status.FAIL, step="followup",
                                             category=Category.MISSING_FOLLOWUP), kind="followup")
        store.ledger.move(probe, "overdue", {"state": "late", "latency_s": 5400.0})
        store.add_result(run_id, CheckResult("Demo request", "checks/demo.yaml", Status.FAIL, step="followup",
                                             category=Category.LATE_FOLLOWUP, latency_s=5400.0), kind="followup")
        store.finish_run(run_id, 1)
        stats = build_overview(config, store).rows[0].followup
        ledger = store.ledger.stats("Demo request")
    finally:
        store.close()
    assert stats is not None and stats.settled == ledger.probes == 1
    assert (stats.p90_s, stats.within_share) == (ledger.p90_latency_s, ledger.within_sla_share) == (5400.0, 0.0)


class ConnectionCounter:
    """A loopback port that counts every TCP connection made to it (and answers nothing)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.server.close()


def test_frames_embeds_and_objects_in_an_email_open_no_connection_when_the_report_is_read(tmp_path, reader):
    counter = ConnectionCounter()
    try:
        base = f"http://127.0.0.1:{counter.port}"
        html = (f'<h1>Hi Funnel</h1><iframe src="{base}/iframe"></iframe><frameset><frame src="{base}/frame"></frameset>'
                f'<embed src="{base}/embed"><object data="{base}/object"></object><portal src="{base}/portal"></portal>'
                f'<link rel="preconnect" href="{base}/"><meta http-equiv="refresh" content="0; url={base}/refresh">')
        project = Project(tmp_path).config()
        project.check("demo", "name: Demo\nlanding:\n  url: http://127.0.0.1:9/lp\n")
        store = Store(project.load().database_path)
        try:
            run_id, _ = store.begin_run("all checks")
            store.add_result(run_id, CheckResult(
                check="Demo", file="checks/demo.yaml", status=Status.FAIL, step="followup", reason="late",
                evidence={"followup": {"state": "late", "email": {"subject": "Your demo", "html": html}}}))
            store.finish_run(run_id, 1)
        finally:
            store.close()
        funnelwatch.api.build_report(project.load())
        page = reader.open(project.root / "reports" / "funnels" / "demo.html")
        inner = page.frame_locator("iframe.email").first
        assert inner.locator("h1").inner_text() == "Hi Funnel"
        page.wait_for_timeout(1500)
        assert counter.connections == 0, "the email's frames reached out from the reader's browser"
        srcdoc = page.locator("iframe.email").first.get_attribute("srcdoc") or ""
        for tag in ("<iframe", "<frame", "<embed", "<object", "<portal", "<link", "http-equiv"):
            assert tag not in srcdoc.lower()
        assert "<iframe" in (page.locator("section.evidence pre").first.text_content() or ""), "the HTML source still shows them"
    finally:
        counter.close()
