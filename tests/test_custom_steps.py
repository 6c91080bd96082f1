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
