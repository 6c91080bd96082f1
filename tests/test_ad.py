"""The `ad` step against a real Chromium and a local site: healthy twins and broken twins."""

from __future__ import annotations

from urllib.parse import urlsplit

from funnelwatch import Status
from funnelwatch.demo.server import Request, Response
from funnelwatch.results import Category

UTM = "utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=FW-TEST"
KEEP = "[utm_source, utm_medium, utm_campaign, gclid]"
LP = "<title>Free HIPAA Compliance Checklist</title><h1>Free HIPAA Compliance Checklist</h1><p>40 pages, 2026 edition.</p>"


def meta_refresh(site, path: str, to: str) -> None:
    """A tracker page that moves on with <meta http-equiv=refresh>, carrying the query."""

    def serve(request: Request) -> Response:
        query = urlsplit(request.url).query
        return Response(200, f'<meta http-equiv="refresh" content="0;url={to}?{query}"><p>Redirecting…</p>')

    site.route(path, serve)


def js_hop(site, path: str, to: str, how: str = "replace") -> None:
    """An attribution interstitial that moves on with JavaScript."""
    code = f"location.replace('{to}' + location.search)" if how == "replace" else f"location.href = '{to}' + location.search"
    site.page(path, f"<p>One moment…</p><script>{code}</script>")


def ad_check(project, site, path: str, landing: str = "/lp/hipaa", extra: str = "", **fields: str) -> None:
    headline = fields.get("headline", "Free HIPAA Compliance Checklist")
    promise = fields.get("promise", "[HIPAA compliance checklist, 40 pages]")
    project.check("ad", f"""
        name: HIPAA ad
        ad:
          url: {site.url(path)}?{UTM}
          headline: {headline}
          promise: {promise}
          landing_url: {site.url(landing)}
          keep_params: {KEEP}
    """ + extra)


def test_chain_of_302_301_meta_refresh_and_js_keeping_every_param_passes(project, site):
    site.redirect("/go/hipaa", "/t/one", 302)
    site.redirect("/t/one", "/t/two", 301)
    meta_refresh(site, "/t/two", "/t/three")
    js_hop(site, "/t/three", "/lp/hipaa")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/hipaa")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    chain = result.evidence["ad"]["chain"]
    assert [(h["status"], h["kind"]) for h in chain] == [(302, "http"), (301, "http"), (200, "meta_refresh"), (200, "js"), (200, "final")]
    assert result.evidence["ad"]["params"]["lost"] == []
    assert result.evidence["ad"]["match"]["score"] == 1.0
    found = {m["promise"]: m for m in result.evidence["ad"]["match"]["items"]}
    assert found["40 pages"]["found"] and "40 pages" in found["40 pages"]["found_in"]


def test_a_tracker_that_hops_on_just_after_its_load_event_is_followed_to_the_landing_page(project, site):
    site.page("/go/after-load", "<p>One moment…</p><script>addEventListener('load', () => "
                                "setTimeout(() => location.replace('/lp/hipaa' + location.search), 100))</script>")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/after-load")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [h["kind"] for h in result.evidence["ad"]["chain"]] == ["js", "final"]


def test_303_307_and_308_redirects_are_hops_of_the_chain(project, site):
    site.redirect("/go/codes", "/t/303", 303)
    site.redirect("/t/303", "/t/307", 307)
    site.redirect("/t/307", "/lp/hipaa", 308)
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/codes")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [h["status"] for h in result.evidence["ad"]["chain"]] == [303, 307, 308, 200]


def test_added_params_such_as_gl_are_fine(project, site):
    site.redirect("/go/gl", "/lp/hipaa?_gl=1*abc", 302)
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/gl")
    assert project.run_one().status is Status.PASS


def test_http_redirect_loop_is_redirect_loop_naming_the_repeating_urls(project, site):
    site.redirect("/go/loop", "/t/ping", 302)
    site.redirect("/t/ping", "/t/pong", 302)
    site.redirect("/t/pong", "/t/ping", 302)
    ad_check(project, site, "/go/loop")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.REDIRECT_LOOP)
    assert "/t/ping" in result.reason and "/t/pong" in result.reason


def test_javascript_loop_of_more_than_15_hops_is_redirect_loop(project, site):
    js_hop(site, "/go/jsloop", "/t/js-a")
    js_hop(site, "/t/js-a", "/t/js-b", how="href")
    js_hop(site, "/t/js-b", "/t/js-a")
    ad_check(project, site, "/go/jsloop")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.REDIRECT_LOOP)
    assert "/t/js-a" in result.reason and "/t/js-b" in result.reason


def test_param_stripping_redirect_is_lost_param_naming_param_and_hop(project, site):
    site.redirect("/go/strip", "/t/keeps", 302)
    site.redirect("/t/keeps", "/lp/hipaa", 301, keep_query=False)
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/strip")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.LOST_PARAM)
    assert "'utm_source' vanished at hop 2" in result.reason
    assert "/t/keeps" in result.reason and "HTTP 301" in result.reason
    lost = result.evidence["ad"]["params"]["lost"]
    assert [p["param"] for p in lost] == ["utm_source", "utm_medium", "utm_campaign", "gclid"]


def test_a_param_rewritten_by_a_javascript_hop_is_lost_param(project, site):
    site.page("/go/rewrite", "<script>location.replace('/lp/hipaa' + location.search.replace('utm_source=google', 'utm_source=direct'))</script>")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/rewrite")
    result = project.run_one()
    assert result.category is Category.LOST_PARAM
    assert "'utm_source' changed to 'direct' at hop 1" in result.reason and "JavaScript redirect" in result.reason


def test_a_page_that_rewrites_its_url_without_params_is_lost_param(project, site):
    site.page("/lp/hipaa", LP + "<script>history.replaceState(null, '', location.pathname)</script>")
    ad_check(project, site, "/lp/hipaa")
    result = project.run_one()
    assert result.category is Category.LOST_PARAM
    assert "URL rewrite by the page" in result.reason


def test_dead_landing_page_is_http_status_naming_status_and_url(project, site):
    site.redirect("/go/summer", "/lp/summer-2025", 302)
    ad_check(project, site, "/go/summer", landing="/lp/summer-2025")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.HTTP_STATUS)
    assert "HTTP 404" in result.reason and "/lp/summer-2025" in result.reason


def test_ad_landing_on_another_page_is_wrong_landing(project, site):
    site.redirect("/go/home", "/", 302)
    site.page("/", LP)
    ad_check(project, site, "/go/home")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.WRONG_LANDING)
    assert site.url("/lp/hipaa") in result.reason


def test_landing_url_is_a_path_prefix_and_query_is_ignored(project, site):
    site.redirect("/go/deep", "/lp/hipaa/v2?variant=b", 302)
    site.page("/lp/hipaa/v2", LP)
    ad_check(project, site, "/go/deep")
    assert project.run_one().status is Status.PASS


def test_cloned_page_carrying_another_campaigns_offer_is_message_mismatch(project, site):
    site.page("/lp/training", "<title>GDPR Training</title><h1>GDPR Staff Training</h1><p>Get 20% off GDPR training for your team.</p>")
    ad_check(project, site, "/lp/training", landing="/lp/training", headline="HIPAA Staff Training", promise="[30% off HIPAA training]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.MESSAGE_MISMATCH)
    assert "'30%'" in result.reason and "'20%'" in result.reason


def test_changed_price_is_message_mismatch_naming_both_prices(project, site):
    site.page("/lp/pricing", "<title>Acme Suite</title><h1>Acme Compliance Suite</h1><p>Only $59/month. 14-day free trial.</p>")
    ad_check(project, site, "/lp/pricing", landing="/lp/pricing", headline="Acme Compliance Suite from $49/month", promise="[14 day free trial]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.MESSAGE_MISMATCH)
    assert "$49/month" in result.reason and "$59/month" in result.reason
    assert result.evidence["ad"]["match"]["conflicts"][0]["page_says"] == "$59/month"


def test_same_price_written_differently_passes(project, site):
    site.page("/lp/pricing", "<title>Acme Suite</title><h1>Acme Compliance&nbsp;Suite</h1><p>Just $49 per month &amp; a 14 day free trial.</p>")
    ad_check(project, site, "/lp/pricing", landing="/lp/pricing", headline="Acme Compliance Suite from $49/mo", promise="[14-day free trials]")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason


def test_german_page_showing_the_price_with_a_decimal_comma_matches_the_english_ad(project, site):
    site.page("/lp/de/preise", '<!doctype html><html lang="de"><title>Acme Compliance Suite</title>'
                               "<h1>Acme Compliance Suite</h1><p>Nur 49,99&nbsp;€ pro Monat. Jahrespaket 1.299,00 €. "
                               "Jetzt 30 % sparen.</p></html>")
    ad_check(project, site, "/lp/de/preise", landing="/lp/de/preise", headline="Acme Compliance Suite for €49.99/month",
             promise="['€1,299 a year', 30% off]")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    prices = {row["promise"]: row["found_in"] for row in result.evidence["ad"]["match"]["items"] if row["kind"] == "price"}
    assert prices["€49.99/month"].replace("\xa0", " ") == "Nur 49,99 € pro Monat."


def test_german_page_with_another_price_is_message_mismatch_naming_both(project, site):
    site.page("/lp/de/teurer", '<!doctype html><html lang="de"><title>Acme Compliance Suite</title>'
                               "<h1>Acme Compliance Suite</h1><p>Nur 59,99 € pro Monat.</p></html>")
    ad_check(project, site, "/lp/de/teurer", landing="/lp/de/teurer", headline="Acme Compliance Suite for €49.99/month",
             promise="[]")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "ad", Category.MESSAGE_MISMATCH)
    assert "'€49.99/month'" in result.reason and "'59,99 € pro monat'" in result.reason

def test_missing_promises_are_message_mismatch_naming_them(project, site):
    site.page("/lp/hipaa", "<title>Acme</title><h1>Welcome to Acme</h1><p>We do compliance.</p>")
    ad_check(project, site, "/lp/hipaa", promise="[HIPAA compliance checklist, 2026 edition]")
    result = project.run_one()
    assert result.category is Category.MESSAGE_MISMATCH
    assert "'HIPAA compliance checklist'" in result.reason and "'2026 edition'" in result.reason


def test_promise_text_rendered_by_javascript_after_a_fetch_counts(project, site):
    def copy(_: Request) -> Response:
        import time

        time.sleep(0.8)
        return Response(200, '{"h1": "Free HIPAA Compliance Checklist", "p": "40 pages, 2026 edition."}', content_type="application/json")

    site.route("/api/copy", copy)
    site.page("/lp/spa", """<title>Acme</title><div id="app">Loading…</div><script>
        fetch('/api/copy').then(r => r.json()).then(c => {
          document.getElementById('app').innerHTML = '<h1>' + c.h1 + '</h1><p>' + c.p + '</p>'; });
        </script>""")
    ad_check(project, site, "/lp/spa", landing="/lp/spa")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason


def test_page_with_a_never_ending_poll_is_ready_and_passes(project, site):
    site.page("/api/poll", "{}", content_type="application/json")
    site.page("/lp/chat", LP + "<script>setInterval(() => fetch('/api/poll?' + Date.now()), 100)</script>")
    ad_check(project, site, "/lp/chat", landing="/lp/chat", extra="""
        landing:
          max_load: 4s
    """)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason


def test_max_load_is_measured_on_the_final_page_not_the_tracker_hops(project, site):
    def slow_tracker(request: Request) -> Response:
        import time

        time.sleep(1.5)
        return Response(302, "", {"Location": "/lp/hipaa?" + urlsplit(request.url).query})

    site.route("/go/slowtracker", slow_tracker)
    meta_refresh(site, "/go/slowmeta", "/go/slowtracker")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/slowmeta", extra="""
        landing:
          max_load: 1s
    """)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert result.evidence["ad"]["total_s"] > 1.5


def test_slow_final_page_is_slow_page(project, site):
    site.page("/lp/slow", LP, delay_s=1.5)
    ad_check(project, site, "/lp/slow", landing="/lp/slow", extra="""
        landing:
          max_load: 0.5s
    """)
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "landing", Category.SLOW_PAGE)
    assert "limit 0.5s" in result.reason


def test_consent_banner_appearing_late_with_an_overlay_is_dismissed(project, site):
    site.page("/lp/consent", LP + """
        <button id="cta" onclick="document.body.insertAdjacentHTML('beforeend', '<p>CTA clicked</p>')">Get it</button>
        <script>setTimeout(() => document.body.insertAdjacentHTML('beforeend',
          '<div id="overlay" style="position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:10"></div>' +
          '<div id="consent" style="position:fixed;bottom:0;left:0;right:0;z-index:11;background:#fff">We use cookies ' +
          '<button id="cookie-accept" onclick="overlay.remove();consent.remove()">Accept</button></div>'), 1000)</script>""")
    ad_check(project, site, "/lp/consent", landing="/lp/consent", extra="""
        landing:
          dismiss: "#cookie-accept"
          must_show: [HIPAA Compliance Checklist]
        steps:
          - click: "#cta"
          - expect_text: CTA clicked
    """)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert result.evidence["landing"]["dismissed"] is True


def test_transient_5xx_on_the_first_request_that_passes_on_retry_is_flaky(project, site):
    calls = []

    def cold_start(_: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return Response(503, "<h1>Service Unavailable</h1>", {"Retry-After": "1"})
        return Response(200, LP)

    site.route("/lp/cold", cold_start)
    project.config("""
        database: reports/history.db
        reports_dir: reports
        browser:
          timeout: 10s
        defaults:
          retries: 1
          retry_delay: 0s
    """)
    ad_check(project, site, "/lp/cold", landing="/lp/cold")
    result = project.run_one()
    assert (result.status, result.attempts) == (Status.FLAKY, 2)
    assert result.category is Category.HTTP_STATUS and "HTTP 503" in result.reason


def test_a_page_that_only_a_same_origin_frame_moves_on_after_load_is_followed(project, site):
    site.page("/go/framed", "<p>One moment…</p><iframe src='/go/frame-hop'></iframe>")
    site.page("/go/frame-hop", "<script>addEventListener('load', () => "
                               "setTimeout(() => top.location.replace('/lp/hipaa' + top.location.search), 100))</script>")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/framed")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [h["kind"] for h in result.evidence["ad"]["chain"]] == ["js", "final"]


def test_a_page_moved_on_by_an_inline_handler_after_load_is_followed(project, site):
    site.page("/go/handler", "<body onload=\"setTimeout(() => location.replace('/lp/hipaa' + location.search), 100)\">"
                             "<p>One moment…</p></body>")
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/handler")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [h["kind"] for h in result.evidence["ad"]["chain"]] == ["js", "final"]


def test_a_page_moved_on_by_a_refresh_header_is_followed(project, site):
    site.route("/go/refresh", lambda r: Response(200, "<p>One moment…</p>",
                                                 {"Refresh": f"0;url=/lp/hipaa?{urlsplit(r.url).query}"}))
    site.page("/lp/hipaa", LP)
    ad_check(project, site, "/go/refresh")
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [h["kind"] for h in result.evidence["ad"]["chain"]][-1] == "final"
    assert len(result.evidence["ad"]["chain"]) == 2

