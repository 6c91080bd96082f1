"""Custom `steps:` flows; a failure names the step by its index."""

from __future__ import annotations

from funnelwatch import Category, Status

PRICING = """<title>Pricing</title><h1>Pricing</h1><a href="/demo">Book a demo</a>"""
DEMO = """<title>Demo</title><form id="demo" action="/thanks" method="get">
<input id="email" name="email"><input id="company" name="company"><button type="submit">Send</button></form>"""
THANKS = "<title>Thanks</title><h1>Thanks, we will be in touch</h1>"


def flow(project, site, *extra: str) -> None:
    steps = [
        f"  - goto: {site.url('/pricing')}",
        "  - click: text=Book a demo",
        '  - fill: {"#email": "{inbox}", "#company": "funnelwatch test"}',
        "  - submit: form#demo",
        "  - expect_text: Thanks",
        "  - expect_url: /thanks",
        "  - screenshot: after-demo",
        *extra,
    ]
    project.check("flow", "name: Demo flow\nsteps:\n" + "\n".join(steps) + "\n")


def serve(site) -> None:
    site.page("/pricing", PRICING)
    site.page("/demo", DEMO)
    site.page("/thanks", THANKS)


def test_custom_flow_passes_and_keeps_its_screenshot(project, site):
    serve(site)
    flow(project, site)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert [s.step for s in result.steps] == [f"steps[{i}]" for i in range(7)]
    email = site.hits("/thanks")[-1].query["email"][0]
    assert email.startswith("qa+fw") and result.token in email


def test_missing_button_fails_at_its_step_index(project, site):
    serve(site)
    site.page("/pricing", "<title>Pricing</title><h1>Pricing</h1>")
    project.config("database: reports/history.db\nbrowser:\n  timeout: 2s\ndefaults:\n  retries: 0\n")
    flow(project, site)
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[1]", Category.ELEMENT_MISSING)
    assert "'text=Book a demo'" in result.reason


def test_wrong_thank_you_text_fails_expect_text(project, site):
    serve(site)
    site.page("/thanks", "<title>Oops</title><h1>Something went wrong</h1>")
    project.config("database: reports/history.db\nbrowser:\n  timeout: 2s\ndefaults:\n  retries: 0\n")
    flow(project, site)
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[4]", Category.TEXT_MISSING)
    assert "'Thanks'" in result.reason


def test_wrong_url_fails_expect_url(project, site):
    serve(site)
    project.config("database: reports/history.db\nbrowser:\n  timeout: 2s\ndefaults:\n  retries: 0\n")
    flow(project, site, "  - expect_url: /welcome")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[7]", Category.WRONG_LANDING)
    assert "/welcome" in result.reason


# --- a custom submit is judged like the form step --------------------------------------

POST_DEMO = """<title>Demo</title><h1>Book a demo</h1>{extra}<form id="demo" action="/demo/lead" method="post" {attrs}>
<input id="email" name="email"><input id="company" name="company"><button type="submit">Send</button></form>"""
SLOW_CONFIG = "database: reports/history.db\nbrowser:\n  timeout: 20s\ndefaults:\n  retries: 0\n"


def post_flow(project, site, lead, page: str = POST_DEMO.format(extra="", attrs="")) -> None:  # type: ignore[no-untyped-def]
    """Pricing → demo form (POST /demo/lead answered by `lead`) → thank-you, with a 20 s timeout."""
    from funnelwatch.demo.server import Response

    serve(site)
    site.page("/demo", page)
    site.route("/demo/lead", lead if callable(lead) else (lambda _: Response(*lead)))
    project.config(SLOW_CONFIG)
    flow(project, site)


def submit_step(result):  # type: ignore[no-untyped-def]
    return next(s for s in result.steps if s.step == "steps[3]")


def test_custom_submit_whose_post_answers_500_is_form_http_error_at_that_step_at_once(project, site):
    post_flow(project, site, (500, "<h1>Internal Server Error</h1>"))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[3]", Category.FORM_HTTP_ERROR)
    assert result.reason == f"the form submission POST {site.url('/demo/lead')} answered HTTP 500"
    submission = result.evidence["form"]["submission"]
    assert (submission["method"], submission["url"], submission["status"]) == ("POST", site.url("/demo/lead"), 500)
    assert result.evidence["form"]["step"] == "steps[3]"
    assert submit_step(result).duration_s < 5, "judged when the answer came, not at the timeout"


def test_custom_submit_whose_post_answers_4xx_is_form_http_error(project, site):
    post_flow(project, site, (403, "<h1>Forbidden</h1>"))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[3]", Category.FORM_HTTP_ERROR)
    assert "answered HTTP 403" in result.reason
    assert submit_step(result).duration_s < 5


def test_validation_message_after_a_custom_submit_is_form_validation_at_that_step(project, site):
    rejected = POST_DEMO.format(extra='<p class="error">Please use your work email address.</p>', attrs="")
    post_flow(project, site, (200, rejected))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[3]", Category.FORM_VALIDATION)
    assert "'Please use your work email address.'" in result.reason
    assert submit_step(result).duration_s < 5


def test_script_error_on_a_custom_submit_is_form_js_error_at_that_step(project, site):
    broken = POST_DEMO.format(extra="", attrs='onsubmit="event.preventDefault(); window.crmClient.send(this)"')
    post_flow(project, site, (200, THANKS))
    site.page("/demo", broken)
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[3]", Category.FORM_JS_ERROR)
    assert "TypeError" in result.reason and "nothing was sent" in result.reason
    assert submit_step(result).duration_s < 5


def test_captcha_after_a_custom_submit_is_captcha_at_that_step(project, site):
    challenge = POST_DEMO.format(extra="", attrs=(
        "onsubmit=\"event.preventDefault(); const f = document.createElement('iframe'); f.title = 'recaptcha challenge';"
        " f.src = '/recaptcha/api2/bframe?k=x'; f.width = 400; f.height = 500; document.body.append(f)\""))
    post_flow(project, site, (200, THANKS))
    site.page("/demo", challenge)
    site.page("/recaptcha/api2/bframe", "<p>Select all images with traffic lights</p>")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "steps[3]", Category.CAPTCHA)
    assert "reCAPTCHA image challenge" in result.reason
    assert submit_step(result).duration_s < 5


def test_custom_submit_posting_to_a_redirect_passes_and_keeps_the_request(project, site):
    from funnelwatch.demo.server import Response

    post_flow(project, site, lambda _: Response(303, "", {"Location": "/thanks"}))
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    lead = site.hits("/demo/lead")[-1].form()
    assert lead["email"].startswith("qa+fw") and result.token in lead["email"]


def test_custom_submit_handled_in_the_page_alone_is_left_to_the_next_steps(project, site):
    wizard = """<title>Demo</title><form id="demo" onsubmit="event.preventDefault();
      document.getElementById('next').hidden = false; history.pushState({}, '', '/thanks')">
      <input id="email" name="email"><input id="company" name="company"><button type="submit">Next</button></form>
      <h2 id="next" hidden>Thanks! One more question</h2>"""
    serve(site)
    site.page("/demo", wizard)
    project.config(SLOW_CONFIG)
    flow(project, site)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert submit_step(result).duration_s < 8
