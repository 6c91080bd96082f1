"""The `form` step: find, fill and submit real lead forms, and judge whether they really worked.

Each page type (classic POST, HubSpot-style embed, Marketo-style cross-origin
iframe, React-style fetch app, two-step form) has a healthy twin that must
pass and broken twins that must fail at step `form` with the right category
and a reason naming the culprit.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from funnelwatch import Status
from funnelwatch.demo.server import Response
from funnelwatch.demo.site import DemoSite
from tests.sites import forms

CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 5s
  concurrency: 1
inbox:
  maildir:
    path: mail
  address: qa+{token}@funnelwatch.test
defaults:
  retries: 0
"""

LEAD = {"email": "{inbox}", "first_name": "Funnel", "country": "Germany", "size": "11-50", "consent": "true"}


@pytest.fixture
def fw(project):
    return project.config(CONFIG)


def run_form(fw, site, path, fill=None, success=None, extra=""):
    success = success or {"url_contains": "/thank-you", "text": "Check your inbox"}
    fw.check("lead", f"""
        name: Lead form
        landing:
          url: {site.url(path)}
        form:
          fill: {json.dumps(fill or LEAD)}
          success: {json.dumps(success)}
        {extra}
    """)
    return fw.run_one()


def assert_fails(result, category, *culprits, step="form"):
    assert result.status is Status.FAIL, (result.status, result.reason)
    assert (result.step, result.category.value) == (step, category), result.reason
    for culprit in culprits:
        assert culprit in result.reason, result.reason


# --- classic landing page ---------------------------------------------------------------------

def test_healthy_classic_form_passes_and_posts_the_lead(fw, site):
    path = forms.install_classic(site, "classic")
    result = run_form(fw, site, path)
    assert result.status is Status.PASS, result.reason
    posted = parse_qs(site.hits("/lead/classic")[-1].body.decode())
    assert posted["email"] == [f"qa+{result.token}@funnelwatch.test"]
    assert (posted["country"], posted["size"], posted["consent"]) == (["DE"], ["11-50"], ["yes"])
    facts = result.evidence["form"]
    assert facts["form"]["selector"] == "form#download"
    assert facts["submission"]["status"] == 303 and facts["submission"]["url"].endswith("/lead/classic")
    assert facts["final_url"].endswith("/thank-you") and facts["submitted_at"] > 0
    assert {f["key"]: f["matched_by"] for f in facts["fields"]}["email"] == "name"


def test_endpoint_500_is_reported_as_form_http_error(fw, site):
    path = forms.install_classic(site, "c500", "endpoint_500")
    result = run_form(fw, site, path)
    assert_fails(result, "form_http_error", "/lead/c500", "500")
    assert result.evidence["form"]["waited_s"] < 4


def test_a_lead_endpoint_slower_than_the_click_cap_is_judged_not_called_unclickable(project, site):
    """The short cap on the click is for the click alone (a covered button): the answer gets the step's timeout."""
    import time

    from funnelwatch.steps.form import CLICK_TIMEOUT_S

    fw = project.config(CONFIG.replace("timeout: 5s", f"timeout: {CLICK_TIMEOUT_S + 10:g}s"))
    path = forms.install_classic(site, "slow-answer")
    answer = site.routes["/lead/slow-answer"]

    def slow(request):
        time.sleep(CLICK_TIMEOUT_S + 1.5)
        return answer(request)

    site.route("/lead/slow-answer", slow)
    result = run_form(fw, site, path)
    assert result.status is Status.PASS, result.reason
    assert result.evidence["form"]["waited_s"] > CLICK_TIMEOUT_S


def test_new_required_field_shows_the_html5_bubble_as_validation(fw, site):
    path = forms.install_classic(site, "html5", "html5_required")
    result = run_form(fw, site, path)
    assert_fails(result, "form_validation", "phone", "Please fill")
    assert not site.hits("/lead/html5")


def test_html5_refusal_lists_each_refused_field_in_the_evidence(fw, site):
    path = forms.install_classic(site, "html5b", "html5_required")
    result = run_form(fw, site, path)
    assert result.category.value == "form_validation"
    validation = result.evidence["form"]["validation"]
    assert validation and any(v.startswith("phone: ") and "Please fill" in v for v in validation), validation


def test_captcha_challenge_instead_of_success_is_reported(fw, site):
    path = forms.install_classic(site, "captcha", "captcha")
    result = run_form(fw, site, path)
    assert_fails(result, "captcha", "reCAPTCHA image challenge")


def test_error_text_on_the_thank_you_url_is_text_missing(fw, site):
    path = forms.install_classic(site, "oops", "oops_thanks")
    result = run_form(fw, site, path)
    assert_fails(result, "text_missing", "/thank-you-oops", "Check your inbox", "Something went wrong")


def test_thank_you_text_the_page_fetches_from_its_own_site_after_the_url_is_reached_counts(fw, site):
    path = forms.install_classic(site, "late-thanks")
    site.page("/thank-you", """<title>Thank you</title><div id="msg">One moment…</div><script>
        fetch('/api/thanks-copy').then(r => r.text()).then(t => { document.getElementById('msg').textContent = t; });
        </script>""")

    def copy(_):
        import time

        time.sleep(1.0)  # the page is still meanwhile: the open request to its own site is what says "not yet"
        return Response(200, "Check your inbox for the checklist.", content_type="text/plain")

    site.route("/api/thanks-copy", copy)
    result = run_form(fw, site, path)
    assert result.status is Status.PASS, result.reason


def test_healthy_form_with_broken_analytics_passes(fw, site):
    path = forms.install_classic(site, "tags", "broken_analytics")
    result = run_form(fw, site, path)
    assert result.status is Status.PASS, result.reason
    tag_errors = result.evidence["form"]["errors_after_submit"]
    assert [(e["message"], e["third_party"]) for e in tag_errors] == [("TypeError: Cannot read properties of undefined (reading 'push')", True)]
    assert "/gtm.js" in tag_errors[0]["script"]


def test_unmatched_fill_key_names_the_key_and_lists_the_fields(fw, site):
    path = forms.install_classic(site, "keys")
    result = run_form(fw, site, path, fill={**LEAD, "job_title": "QA"})
    assert_fails(result, "form_field_missing", "'job_title'", "email", "first_name", "country")


def test_select_option_that_does_not_exist_lists_the_options(fw, site):
    path = forms.install_classic(site, "opts")
    result = run_form(fw, site, path, fill={**LEAD, "country": "Narnia"})
    assert_fails(result, "form_field_missing", "'Narnia'", "Germany")


def test_page_without_a_form_is_form_missing(fw, site):
    site.page("/lp/noform", "<title>Offer</title><h1>Offer</h1><p>Call us.</p>")
    result = run_form(fw, site, "/lp/noform", fill={"email": "{inbox}"})
    assert_fails(result, "form_missing", "/lp/noform")


def test_form_without_a_button_is_submitted_with_enter(fw, site):
    site.page("/lp/enter", '<form action="/sub" method="get"><input type="email" name="email"></form>')
    forms._thanks(site)
    site.redirect("/sub", "/thank-you")
    result = run_form(fw, site, "/lp/enter", fill={"email": "{inbox}"})
    assert result.status is Status.PASS, result.reason
    assert result.evidence["form"]["submitted_with"] == "Enter"


def test_button_that_does_nothing_is_form_no_success(fw, site):
    site.page("/lp/dead", """<h1>Get the guide</h1><form id="guide"><input type="email" name="email">
        <button type="button" class="cta">Get it</button></form>""")
    fw.check("lead", f"""
        name: Guide
        landing:
          url: {site.url('/lp/dead')}
        form:
          fill: {{email: "{{inbox}}"}}
          submit: button.cta
          success: {{text: Thanks}}
    """)
    result = fw.run_one()
    assert_fails(result, "form_no_success", "clicking 'button.cta' sent nothing", "Get the guide")


def test_configured_selector_and_submit_pick_the_second_form(fw, site):
    site.page("/lp/two", """<form id="search" action="/search"><input type="email" name="email"><button>Go</button></form>
        <form id="contact" action="/contact" method="post"><input type="email" name="email">
        <button type="button" onclick="this.form.submit()" class="send">Send</button></form>""")
    site.redirect("/contact", "/thank-you")
    forms._thanks(site)
    fw.check("lead", f"""
        name: Contact form
        landing:
          url: {site.url('/lp/two')}
        form:
          selector: form#contact
          fill: {{email: "{{inbox}}"}}
          submit: button.send
          success: {{url_contains: /thank-you}}
    """)
    result = fw.run_one()
    assert result.status is Status.PASS, result.reason
    assert site.hits("/contact") and not site.hits("/search")


def test_demo_webinar_form_with_failing_endpoint_is_form_http_error(fw, tmp_path):
    demo = DemoSite(tmp_path / "demo-mail").start()
    try:
        fw.check("webinar", f"""
            name: Webinar registration
            landing:
              url: {demo.base}/lp/webinar
            form:
              fill: {{email: "{{inbox}}", first_name: Funnel, company: funnelwatch test - please ignore}}
              success: {{url_contains: /thank-you}}
        """)
        result = fw.run_one()
    finally:
        demo.stop()
    assert_fails(result, "form_http_error", "/lead/webinar", "500")


# --- HubSpot-style embed ----------------------------------------------------------------------

HUBSPOT_FILL = {"email": "{inbox}", "firstname": "Funnel", "company": "funnelwatch test - please ignore"}
HUBSPOT_OK = {"text": "Thanks for submitting the form"}


def test_healthy_hubspot_embed_beats_the_footer_newsletter(fw, site):
    path = forms.install_hubspot(site, "hs")
    result = run_form(fw, site, path, HUBSPOT_FILL, HUBSPOT_OK)
    assert result.status is Status.PASS, result.reason
    assert result.evidence["form"]["form"]["selector"] == "form#hsForm_hs"
    assert "hs_context" in result.evidence["form"]["hidden_fields"]
    assert not site.hits("/newsletter")
    sent = json.loads(site.hits("/submissions/v3/integration/submit/4242/hs")[-1].body)
    assert {"name": "company", "value": "funnelwatch test - please ignore"} in sent["fields"]


def test_hubspot_endpoint_500_is_form_http_error(fw, site):
    path = forms.install_hubspot(site, "hs500", "endpoint_500")
    result = run_form(fw, site, path, HUBSPOT_FILL, HUBSPOT_OK)
    assert_fails(result, "form_http_error", "/submissions/v3/integration/submit/4242/hs500", "500")


def test_new_required_field_server_message_is_form_validation(fw, site):
    path = forms.install_hubspot(site, "hsreq", "server_validation")
    result = run_form(fw, site, path, HUBSPOT_FILL, HUBSPOT_OK)
    assert_fails(result, "form_validation", "Phone number is required")
    assert result.evidence["form"]["validation"] == ["Phone number is required."]


def test_renamed_field_is_form_field_missing_naming_the_key(fw, site):
    path = forms.install_hubspot(site, "hsren", "renamed_field")
    result = run_form(fw, site, path, HUBSPOT_FILL, HUBSPOT_OK)
    assert_fails(result, "form_field_missing", "'firstname'", "given_name (given name)")


# --- Marketo-style cross-origin iframe -------------------------------------------------------------

MARKETO_FILL = {"email": "{inbox}", "First Name": "Funnel", "Company": "funnelwatch test"}


def test_healthy_marketo_iframe_on_another_origin_passes(fw, site):
    path = forms.install_marketo(site, "mk")
    result = run_form(fw, site, path, MARKETO_FILL)
    assert result.status is Status.PASS, result.reason
    facts = result.evidence["form"]
    assert facts["form"]["frame_url"].startswith(forms.other_origin(site))
    assert [f["matched_by"] for f in facts["fields"]] == ["name", "label", "name"]
    assert f"qa%2B{result.token}%40" in site.hits("/mkto/mk/save2")[-1].body.decode()


def test_marketo_iframe_404_is_http_status_naming_the_iframe(fw, site):
    path = forms.install_marketo(site, "mk404", "iframe_404")
    result = run_form(fw, site, path, MARKETO_FILL)
    assert_fails(result, "http_status", "/mkto/mk404/form", "404")


def test_marketo_endpoint_500_inside_the_iframe_is_form_http_error(fw, site):
    path = forms.install_marketo(site, "mk500", "endpoint_500")
    result = run_form(fw, site, path, MARKETO_FILL)
    assert_fails(result, "form_http_error", "/mkto/mk500/save2", "500")


# --- React-style app ----------------------------------------------------------------------

REACT_FILL = {"Work email": "{inbox}", "company": "funnelwatch test"}
REACT_OK = {"text": "Thanks! Check your inbox"}


def test_healthy_react_app_with_in_page_message_passes(fw, site):
    path = forms.install_react(site, "spa")
    result = run_form(fw, site, path, REACT_FILL, REACT_OK)
    assert result.status is Status.PASS, result.reason
    assert json.loads(site.hits("/api/spa/leads")[-1].body)["workEmail"] == f"qa+{result.token}@funnelwatch.test"


def test_type_error_in_the_submit_handler_is_form_js_error(fw, site):
    path = forms.install_react(site, "spaerr", "type_error")
    result = run_form(fw, site, path, REACT_FILL, REACT_OK)
    assert_fails(result, "form_js_error", "TypeError", "hubspotFormId", "/app/spaerr")
    assert not site.hits("/api/spaerr/leads")


def test_react_app_whose_api_answers_500_is_form_http_error(fw, site):
    path = forms.install_react(site, "spa500", "endpoint_500")
    result = run_form(fw, site, path, REACT_FILL, REACT_OK)
    assert_fails(result, "form_http_error", "/api/spa500/leads", "500")


# --- two-step form driven by custom steps ----------------------------------------------------------

TWO_STEP = """steps:
          - fill: {"#company": "funnelwatch test", "#role": "QA"}
          - submit: form#details
          - expect_text: Your trial is ready"""


def test_healthy_two_step_form_passes(fw, site):
    path = forms.install_two_step(site, "trial")
    result = run_form(fw, site, path, {"email": "{inbox}"}, {"url_contains": "/details", "text": "Step 2 of 2"}, TWO_STEP)
    assert result.status is Status.PASS, result.reason
    assert parse_qs(site.hits("/trial/trial/finish")[-1].body.decode())["company"] == ["funnelwatch test"]


def test_two_step_form_rejecting_step_one_is_form_validation(fw, site):
    path = forms.install_two_step(site, "trialbad", "free_email_rejected")
    result = run_form(fw, site, path, {"email": "{inbox}"}, {"url_contains": "/details", "text": "Step 2 of 2"}, TWO_STEP)
    assert_fails(result, "form_validation", "Please use your work email address")


# --- values are typed as written -------------------------------------------------------------------

ECHO_FORM = """<title>Quote</title>
<form id="quote" method="post" action="/lead/echo">
  <input type="email" name="email"> <input name="zip"> <input name="phone"> <input name="seats"> <input name="slot">
  <input name="ratio"> <button type="submit">Send</button>
</form>"""


def test_fill_values_are_typed_exactly_as_written_in_the_yaml(fw, site):
    from html import escape

    from funnelwatch.demo.server import Response

    def echo(request):
        shown = "".join(f"<li>{escape(k)}={escape(v)}</li>" for k, v in request.form().items())
        return Response(200, f"<title>Thanks</title><p>Check your inbox</p><ul>{shown}</ul>", {}, "text/html; charset=utf-8")

    site.page("/lp/echo", ECHO_FORM)
    site.route("/lead/echo", echo)
    fw.check("echo", f"""
        name: Echo form
        landing:
          url: {site.url('/lp/echo')}
        form:
          fill:
            email: "{{inbox}}"
            zip: 02134
            phone: +4930123456
            seats: 1_000
            slot: 10:30
            ratio: 1e3
          success:
            text: Check your inbox
        steps:
          - expect_text: zip=02134
          - expect_text: phone=+4930123456
          - expect_text: seats=1_000
          - expect_text: slot=10:30
          - expect_text: ratio=1e3
    """)
    result = fw.run_one()
    assert result.status is Status.PASS, result.reason
    posted = parse_qs(site.hits("/lead/echo")[-1].body.decode())
    assert (posted["zip"], posted["phone"], posted["seats"], posted["slot"], posted["ratio"]) == (
        ["02134"], ["+4930123456"], ["1_000"], ["10:30"], ["1e3"])


def test_custom_fill_step_types_numbers_exactly_as_written(fw, site):
    site.page("/lp/echo-steps", ECHO_FORM.replace("/lead/echo", "/lead/echo-steps"))
    site.page("/lead/echo-steps", "<title>Thanks</title><p>Check your inbox</p>")
    fw.check("echo", f"""
        name: Echo steps
        steps:
          - goto: {site.url('/lp/echo-steps')}
          - fill: {{"input[name=zip]": 02134, "input[name=phone]": +4930123456, "input[name=slot]": 10:30}}
          - submit: form#quote
          - expect_text: Check your inbox
    """)
    result = fw.run_one()
    assert result.status is Status.PASS, result.reason
    posted = parse_qs(site.hits("/lead/echo-steps")[-1].body.decode())
    assert (posted["zip"], posted["phone"], posted["slot"]) == (["02134"], ["+4930123456"], ["10:30"])
