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


# --- copy that arrives after load: waited for until the page settles, not by the clock ---------

SLOW_COPY_PAGE = """<title>Spring offer</title><div id="app">Loading…</div><script>
  fetch('/api/slow-copy').then(r => r.json()).then(c => {
    document.getElementById('app').innerHTML = '<h1>' + c.h1 + '</h1>'; });
</script>"""


def slow_copy(site, h1, delay_s):
    from funnelwatch.demo.server import Request, Response

    def answer(_: Request) -> Response:
        import time

        time.sleep(delay_s)
        return Response(200, '{"h1": "%s"}' % h1, content_type="application/json")

    site.route("/api/slow-copy", answer)


def test_copy_a_script_fetches_from_its_own_site_long_after_load_counts(project, site):
    slow_copy(site, "Free HIPAA Checklist", 1.5)  # the DOM stays still meanwhile: the open request is what says "not yet"
    site.page("/lp/spa", SLOW_COPY_PAGE)
    landing_check(project, site.url("/lp/spa"), must_show="[Free HIPAA Checklist]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.PASS, None, None), result.reason


def test_copy_a_page_renders_while_it_keeps_changing_counts(project, site):
    site.page("/lp/ticker", """<title>Spring offer</title><p id="clock">0</p><script>
      let n = 0; setInterval(() => { document.getElementById('clock').textContent = String(++n); }, 150);
      setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<h1>Free HIPAA Checklist</h1>'), 1600);
    </script>""")
    landing_check(project, site.url("/lp/ticker"), must_show="[Free HIPAA Checklist]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.PASS, None, None), result.reason


def test_a_phrase_still_missing_once_the_late_copy_arrived_is_text_missing_naming_only_it(project, site):
    slow_copy(site, "Free HIPAA Checklist", 1.2)
    site.page("/lp/spa", SLOW_COPY_PAGE)
    landing_check(project, site.url("/lp/spa"), must_show="[Free HIPAA Checklist, 30% off]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.TEXT_MISSING)
    assert "'30% off'" in result.reason and "Free HIPAA Checklist" not in result.reason
