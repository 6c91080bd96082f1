"""Conversion tags: after the form's success, the ad platforms heard about the lead — and no synthetic lead reached them.

A real Chromium submits a real form; the thank-you page's tag-manager
stand-in (tests/sites/tags.py) sends hits in the vendors' real formats by
every transport to a collector on another loopback origin, which counts what
reaches it. Each breakage has a broken twin asserting status, step and category.
"""

from __future__ import annotations

import json

import pytest

from funnelwatch import Status
from funnelwatch.config import validate_text
from funnelwatch.schema import CheckSpec
from funnelwatch.tag_hits import Hit, is_hit, recognise
from tests.fixtures.projects import Project
from tests.sites import tags
from tests.sites.tags import ADS, ADS_LABEL, GA4, LI_CONVERSION, OTHER_GA4, PARTNER, PIXEL, Collector

CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 5s
  concurrency: 1
  tag_quiet: 2s   # a loaded machine can take over a second to start a tag script after the success page
{extra}
defaults:
  retries: 0
"""

ALL_TAGS = [
    {"ga4": GA4, "value": "49.00", "currency": "EUR"},
    {"google_ads": f"AW-{ADS}/{ADS_LABEL}"},
    {"meta": PIXEL, "event": "Lead", "value": 49, "currency": "EUR"},
    {"linkedin": PARTNER, "conversion": LI_CONVERSION},
    {"url": f"/collect?*conversionId={LI_CONVERSION}*"},
]


#: One run for every answered funnel (one browser start): check name → (site variant, conversions, has a form).
FUNNELS = {
    "healthy": ("ok", ALL_TAGS, True),
    "landing only": ("landing_only", None, False),
    "server-side tagging": ("sst", ALL_TAGS[:1], True),
    "unload": ("unload", [{"ga4": GA4}], True),
    "no form": ("noform", [{"ga4": GA4}], False),
    "tag removed": ("no_conversion", ALL_TAGS, True),
    "wrong id": ("wrong_id", [{"ga4": GA4, "event": "generate_lead"}], True),
    "meta pageview": ("meta_pageview", [{"ga4": GA4}, {"meta": PIXEL}], True),
    "value mismatch": ("value_mismatch", [{"ga4": GA4, "value": "49.00", "currency": "EUR"}, {"meta": PIXEL, "value": 49}], True),
    "early": ("early", [{"ga4": GA4}], True),
    "unrelated collect": ("unrelated_collect", [{"ga4": GA4}], True),
    "own tag": ("own_tag", [{"url": "/hit?*ev=lead*"}], True),
}
SITE_VARIANTS = {"sst": "ok", "noform": "early"}


@pytest.fixture(scope="module")
def collector():
    with Collector() as running:
        yield running


def write_check(project, name, url, conversions, form=True):
    form_part = "form:\n  fill: {email: '{inbox}'}\n  success: {url_contains: /thank-you}\n" if form else ""
    landing = f"landing:\n  url: {url}\n" + ("" if conversions or form else "  must_show: [Free HIPAA checklist]\n")
    tags_part = f"conversions: {json.dumps(conversions)}\n" if conversions else ""
    project.check(name.replace(" ", "-"), f"name: {name}\n{landing}{form_part}{tags_part}")


@pytest.fixture(scope="module")
def answered(tmp_path_factory, site_session, collector):
    """Every funnel above, run once with the default `browser.analytics: answer`; what reached the collector and the site."""
    site = site_session
    collector.requests.clear()
    before = {p: len(site.hits(p)) for p in ("/g/collect", "/collect")}
    project = Project(tmp_path_factory.mktemp("conversions")).config(CONFIG.format(extra="").replace("concurrency: 1", "concurrency: 3"))
    for name, (variant, conversions, form) in FUNNELS.items():
        target = "" if variant == "sst" else collector.base
        path = tags.install(site, SITE_VARIANTS.get(variant, variant), target, slug=variant)
        write_check(project, name, site.url(path), conversions, form)
    results = {r.check: r for r in project.run().results}
    reached_site = {p: len(site.hits(p)) - n for p, n in before.items()}
    return {"results": results, "collector": list(collector.hits()), "site": reached_site, "project": project}


def assert_fails(result, category, *culprits):
    assert (result.status, result.step, result.category and result.category.value) == (Status.FAIL, "conversions", category), result.reason
    for culprit in culprits:
        assert culprit in result.reason, result.reason


# --- recognition (no browser) -----------------------------------------------------------------------

def test_a_batched_ga4_body_yields_one_hit_per_event_line():
    hits = recognise("POST", f"https://region1.google-analytics.com/g/collect?v=2&tid={GA4}&cu=EUR",
                     b"en=page_view&_et=1\nen=generate_lead&epn.value=49.00")
    assert hits == [Hit("ga4", GA4, "page_view", None, "EUR"), Hit("ga4", GA4, "generate_lead", "49.00", "EUR")]


def test_each_vendor_is_recognised_whatever_the_host():
    multipart = (b'--XyZ\r\nContent-Disposition: form-data; name="id"\r\n\r\n' + PIXEL.encode()
                 + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="ev"\r\n\r\nLead\r\n--XyZ--\r\n')
    assert recognise("POST", "https://metrics.example.com/tr/", multipart, "multipart/form-data; boundary=XyZ") == [Hit("meta", PIXEL, "Lead")]
    assert recognise("GET", f"https://www.facebook.com/tr/?id={PIXEL}&ev=PageView") == [Hit("meta", PIXEL, "PageView")]
    assert recognise("GET", f"https://googleads.g.doubleclick.net/pagead/viewthroughconversion/{ADS}/?label=x&value=5") == [
        Hit("google_ads", f"AW-{ADS}", "x", "5")]
    assert recognise("GET", f"https://www.googleadservices.com/pagead/conversion/{ADS}/?label=y&currency_code=EUR") == [
        Hit("google_ads", f"AW-{ADS}", "y", None, "EUR")]
    assert recognise("GET", f"https://px.ads.linkedin.com/collect?v=2&pid={PARTNER}&conversionId=7") == [Hit("linkedin", PARTNER, "7")]
    assert recognise("GET", f"https://example.com/sgtm/g/collect?v=2&tid={GA4}&en=generate_lead")[0].event == "generate_lead"


def test_an_unrelated_collect_endpoint_is_not_mistaken_for_an_analytics_hit():
    assert recognise("POST", "https://example.com/collect?event=signup", b"en=generate_lead&tid=G-ABC") == []
    assert recognise("GET", "https://example.com/api/collect") == []
    assert not is_hit("POST", "https://example.com/collect?event=signup", b"en=generate_lead")
    for library in ("https://www.googletagmanager.com/gtm.js?id=GTM-X", "https://www.googletagmanager.com/gtag/js?id=G-ABC",
                    "https://connect.facebook.net/en_US/fbevents.js", "https://snap.licdn.com/li.lms-analytics/insight.min.js"):
        assert not is_hit("GET", library), library


def test_the_spec_keys_validate_and_a_wrong_id_is_named_with_what_to_write():
    def problems(items):
        text = f"name: t\nlanding:\n  url: https://example.com/\nconversions: {json.dumps(items)}\n"
        return [str(d) for d in validate_text(text, CheckSpec, "checks/t.yaml")]

    assert problems(ALL_TAGS) == []
    assert any("G-ABC123XYZ" in p and "conversions" in p for p in problems([{"ga4": "UA-1234"}]))
    assert any("exactly one of" in p for p in problems([{"ga4": GA4, "meta": PIXEL}]))
    assert any("AW-<conversion id>/<label>" in p for p in problems([{"google_ads": "123/abc"}]))
    assert any("unknown key" in p for p in problems([{"ga4": GA4, "evnt": "x"}]))
    text = "name: t\nlanding:\n  url: https://example.com/\nconversions:\n  - ga4: G-ABC\n  - meta: '1'\n    evnt: Lead\n"
    assert [str(d) for d in validate_text(text, CheckSpec, "checks/t.yaml")] == [
        "checks/t.yaml:7: conversions[1].evnt: unknown key — did you mean 'event'?"]


# --- healthy: every tag fires, nothing reaches the platforms --------------------------------------------

def test_healthy_tags_pass_and_no_hit_reaches_the_collector(answered):
    result = answered["results"]["healthy"]
    assert result.status is Status.PASS, result.reason
    assert [r.url for r in answered["collector"]] == []
    expected = result.evidence["conversions"]["expected"]
    assert [row["seen"] for row in expected] == ["✓"] * 5, expected
    seen = {(t["vendor"], t["event"], t["sent_by"]) for t in result.evidence["tags"]}
    # The step stops as soon as every expected tag fired, so a duplicate sent later by another transport (the
    # page's image pixels) may or may not be in the evidence yet: require each tag once, and the transports that carry them.
    assert {("GA4", "page_view"), ("GA4", "generate_lead"), ("Meta pixel", "Lead"), ("Google Ads", ADS_LABEL),
            ("LinkedIn Insight", LI_CONVERSION)} <= {(vendor, event) for vendor, event, _ in seen}, seen
    assert {"sendBeacon", "fetch/XHR"} <= {sent_by for _, _, sent_by in seen}, seen
    assert all(t["handling"] == "answered" for t in result.evidence["tags"]), result.evidence["tags"]
    assert all(t["when"].endswith("after submit") for t in result.evidence["tags"]), result.evidence["tags"]
    assert result.evidence["conversions"]["waited_s"] < 4, result.evidence["conversions"]  # it stops once every tag fired, before the cap
    page = (answered["project"].root / result.report).read_text(encoding="utf-8")
    assert "Tags: every analytics and ad hit the browser attempted" in page and "Tags: the conversions this funnel must send" in page


def test_with_analytics_send_the_hits_reach_the_collector(project, site, collector):
    collector.requests.clear()
    fw = project.config(CONFIG.format(extra="  analytics: send"))
    path = tags.install(site, "ok", collector.base, slug="send")
    write_check(fw, "sent", site.url(path), ALL_TAGS[:2])
    result = fw.run_one()
    assert result.status is Status.PASS, result.reason
    reached = {r.path for r in collector.hits()}
    assert {"/g/collect", "/tr/", f"/pagead/conversion/{ADS}/", f"/pagead/viewthroughconversion/{ADS}/", "/collect"} <= reached
    assert any("generate_lead" in r.body.decode() for r in collector.hits("/g/collect"))
    assert all(t["handling"] == "sent" for t in result.evidence["tags"])


def test_a_check_without_conversions_still_answers_every_hit(answered):
    result = answered["results"]["landing only"]
    assert result.status is Status.PASS, result.reason
    assert answered["collector"] == []
    assert [(t["vendor"], t["event"], t["handling"]) for t in result.evidence["tags"]] == [("GA4", "page_view", "answered")]


def test_a_url_glob_tag_is_seen_and_answered_too(answered):
    result = answered["results"]["own tag"]
    assert result.status is Status.PASS, result.reason
    assert answered["collector"] == []
    assert [(t["vendor"], t["expected"], t["handling"]) for t in result.evidence["tags"]] == [("url: glob", "✓", "answered")]


def test_a_server_side_tagging_host_on_the_sites_own_origin_is_recognised_and_answered(answered):
    result = answered["results"]["server-side tagging"]
    assert result.status is Status.PASS, result.reason
    assert answered["site"]["/g/collect"] == 0, result.evidence["tags"]


def test_a_conversion_sent_while_the_form_page_unloads_is_seen(answered):
    result = answered["results"]["unload"]
    assert result.status is Status.PASS, result.reason
    [lead] = [t for t in result.evidence["tags"] if t["event"] == "generate_lead"]
    assert lead["expected"] == "✓" and lead["when"].endswith("after submit") and lead["handling"] == "answered"


def test_a_conversion_on_a_check_without_a_form_is_looked_for_on_the_landing_page(answered):
    result = answered["results"]["no form"]
    assert result.status is Status.PASS, result.reason


# --- broken twins ----------------------------------------------------------------------------------------

def test_conversion_tag_removed_while_page_view_still_fires_is_conversion_missing(answered):
    result = answered["results"]["tag removed"]
    assert_fails(result, "conversion_missing", f"GA4 {GA4} sent page_view but no generate_lead")
    assert result.evidence["conversions"]["waited_s"] < 4.5  # a quiet period (2s here) ended it, not the 5s step timeout
    assert [row["seen"] for row in result.evidence["conversions"]["expected"]] == ["✗", "✓", "✓", "✓", "✓"]


def test_the_right_event_to_the_wrong_ga4_id_is_conversion_missing_naming_where_it_went(answered):
    assert_fails(answered["results"]["wrong id"], "conversion_missing",
                 f"GA4 {GA4} sent page_view but no generate_lead; a generate_lead went to {OTHER_GA4}")


def test_meta_pageview_only_is_conversion_missing(answered):
    assert_fails(answered["results"]["meta pageview"], "conversion_missing", f"Meta pixel {PIXEL} sent PageView but no Lead")


def test_a_value_mismatch_is_conversion_missing_with_both_values(answered):
    assert_fails(answered["results"]["value mismatch"], "conversion_missing",
                 f"GA4 {GA4} sent generate_lead with 10.00 EUR, not 49.00 EUR")


def test_a_conversion_fired_on_landing_before_the_submit_is_conversion_early(answered):
    assert_fails(answered["results"]["early"], "conversion_early", f"GA4 {GA4} generate_lead fired",
                 "before the form was submitted", "/lp/tags-early", "every visitor counts as a lead")
    assert any(t["expected"] == "✗ before submit" and t["when"].endswith("before submit") for t in answered["results"]["early"].evidence["tags"])


def test_an_unrelated_collect_is_neither_ga4_nor_answered(answered):
    assert_fails(answered["results"]["unrelated collect"], "conversion_missing",
                 f"GA4 {GA4} sent no generate_lead after the form's success", "no analytics or ad hit fired at all")
    assert answered["site"]["/collect"] == 1


def test_inits_example_check_shows_a_commented_conversions_block_that_validates_uncommented():
    from funnelwatch.scaffold import EXAMPLE_CHECK

    assert "# conversions:" in EXAMPLE_CHECK
    uncommented = "\n".join(line[2:] if line.startswith("# ") and not line.startswith(("# One", "# yaml-language-server")) else line
                            for line in EXAMPLE_CHECK.splitlines())
    assert [str(d) for d in validate_text(uncommented, CheckSpec, "checks/example.yaml")] == []


def test_json_output_carries_the_usual_step_category_and_reason_and_nothing_new(answered):
    doc = answered["results"]["tag removed"].to_json()
    assert set(doc) == {"check", "file", "status", "step", "category", "reason", "duration_s", "attempts", "report", "viewport",
                        "latency_s", "tags", "started_at", "artifacts", "maintenance"}  # the keys every result carries, nothing of the tags
    assert (doc["status"], doc["step"], doc["category"]) == ("fail", "conversions", "conversion_missing")
