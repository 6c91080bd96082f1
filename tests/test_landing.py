"""The landing step: status, must_show, must_not_show, max_load, dismiss — each breakage its category."""

from __future__ import annotations

from funnelwatch import Category, Status

PAGE = "<title>Spring offer</title><h1>Free HIPAA Checklist</h1><p>Download the 2026 edition.</p>"


def landing_check(project, url, **keys):
    lines = "\n".join(f"  {k}: {v}" for k, v in keys.items())
    project.check("lp", f"name: Spring landing\nlanding:\n  url: {url}\n{lines}\n")


def test_healthy_landing_page_passes(project, site):
    site.page("/lp/ok", PAGE)
    landing_check(project, site.url("/lp/ok"), must_show="[Free HIPAA Checklist, 2026 edition]", must_not_show="[Page not found]", max_load="10s")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.PASS, None, None)
    assert result.evidence["landing"]["status"] == 200


def test_missing_page_is_reported_as_http_status(project, site):
    landing_check(project, site.url("/lp/gone"))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.HTTP_STATUS)
    assert result.reason == f"{site.url('/lp/gone')} answered HTTP 404"
    assert result.artifacts["screenshot"].endswith(".png")


def test_server_error_is_reported_as_http_status(project, site):
    site.page("/lp/broken", "<h1>Internal Server Error</h1>", status=500)
    landing_check(project, site.url("/lp/broken"))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.HTTP_STATUS)
    assert "HTTP 500" in result.reason


def test_missing_text_is_reported_as_text_missing(project, site):
    site.page("/lp/ok", PAGE)
    landing_check(project, site.url("/lp/ok"), must_show="[Free HIPAA Checklist, 30% off]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TEXT_MISSING)
    assert "'30% off'" in result.reason


def test_forbidden_text_is_reported_as_text_forbidden(project, site):
    site.page("/lp/expired", "<h1>Offer expired</h1><p>This campaign has ended.</p>")
    landing_check(project, site.url("/lp/expired"), must_not_show="[Offer expired]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TEXT_FORBIDDEN)
    assert "'Offer expired'" in result.reason


def test_slow_page_is_reported_as_slow_page(project, site):
    site.page("/lp/slow", PAGE, delay_s=1.2)
    landing_check(project, site.url("/lp/slow"), max_load="0.5s")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.SLOW_PAGE)
    assert "limit 0.5s" in result.reason


def test_page_that_never_answers_is_reported_as_timeout(project, site):
    project.config("database: reports/history.db\nbrowser:\n  timeout: 1s\ndefaults:\n  retries: 0\n")
    site.page("/lp/hang", PAGE, delay_s=4)
    landing_check(project, site.url("/lp/hang"))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TIMEOUT)
    assert site.url("/lp/hang") in result.reason


def test_unreachable_site_is_reported_as_connection(project):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    landing_check(project, f"http://127.0.0.1:{closed_port}/lp")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.CONNECTION)
    assert "ERR_CONNECTION_REFUSED" in result.reason


def test_consent_banner_is_dismissed(project, site):
    site.page("/lp/consent", PAGE + '<div id="cookie"><button id="cookie-accept" onclick="this.parentNode.remove()">OK</button></div>')
    landing_check(project, site.url("/lp/consent"), dismiss='"#cookie-accept"', must_show="[Free HIPAA Checklist]")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert result.evidence["landing"]["dismissed"] is True


def test_both_viewports_run_and_each_result_names_its_viewport(project, site):
    site.page("/lp/ok", PAGE)
    project.check("lp", f"name: Spring landing\nviewports: [desktop, mobile]\nlanding:\n  url: {site.url('/lp/ok')}\n")
    outcome = project.run()
    assert sorted((r.viewport, r.status) for r in outcome.results) == [("desktop", Status.PASS), ("mobile", Status.PASS)]


def test_a_page_broken_only_on_mobile_is_broken(project, site):
    site.page("/lp/responsive", "<meta name=viewport content='width=device-width'><title>x</title><div class='d'>Book a demo</div>"
              "<style>@media (max-width: 600px) { .d { display: none } }</style>")
    project.check("lp", f"name: Responsive\nviewports: [desktop, mobile]\nlanding:\n  url: {site.url('/lp/responsive')}\n  must_show: [Book a demo]\n")
    outcome = project.run()
    by_viewport = {r.viewport: r for r in outcome.results}
    assert by_viewport["desktop"].status is Status.PASS
    assert (by_viewport["mobile"].status, by_viewport["mobile"].category) == (Status.FAIL, Category.TEXT_MISSING)
    assert outcome.exit_code == 1
