"""`funnelwatch new URL [--learn]`: a working check from a landing page's address.

For each kind of lead form the form step handles, `new` writes a file that
validates; that file, run as written, passes on the healthy site and fails
with `form_http_error` on its broken twin (the endpoint answers 500). With
`--learn` against the bundled demo site the learned check passes, and fails
with `wrong_asset` when a wrong PDF is delivered later. The conversion tags a
thank-you page fires after the test submission are written as `conversions:`;
that file passes, and fails with `conversion_missing` once the tag is removed.
A page with no form, a login page and a failing test submission are refused
in one line.

The browser work is shared: one module-scoped site and project, one `new`
per form kind, one run for all healthy checks and one for all broken twins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import funnelwatch
from funnelwatch import Status
from funnelwatch.config import Check, load_check, validate_text
from funnelwatch.demo import CHECKS
from funnelwatch.demo.site import DemoSite
from funnelwatch.errors import FunnelwatchError
from funnelwatch.learn import new_check
from funnelwatch.learn.guess import COMPANY, guess_fill
from funnelwatch.learn.yamltext import Mapping, render
from funnelwatch.schema import CheckSpec
from tests.fixtures.projects import Project
from tests.sites import learn_forms, tags

#: One worker runs this module (with `--dist loadgroup`), so the shared form-kind run is made once.
pytestmark = pytest.mark.xdist_group("new")

CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 15s                    # generous: the machine running the tests may be busy
  concurrency: 4
  tag_quiet: 1s
inbox:
  maildir:
    path: mail
  address: qa+{token}@funnelwatch.test
defaults:
  retries: 0
"""


LEARNED = ("spa", "iframe", "gdpr", "german")
WRONG_PDF = threading.Event()
AD_QUERY = "?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=FW-TEST&lang=en"


LEARNED_SUCCESS = {
    "spa": {"text": "Thanks! Check your inbox"},
    "iframe": {"url_contains": "/thank-you", "text": "Check your inbox for the checklist"},
    "gdpr": {"url_contains": "/thanks/new-gdpr", "text": "Check your inbox for the guide"},
    "german": {"url_contains": "/thanks/new-german", "text": "Check your inbox for the guide"},
}



_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z ")


def unstamped(stderr: str) -> list[str]:
    """stderr's lines without the ISO timestamp funnelwatch puts before each line off a terminal."""
    return [_STAMP.sub("", line) for line in stderr.strip().splitlines()]

def cli(root: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ), stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def forms_project(tmp_path_factory, site_session):
    """Every form kind installed healthy, and the check `new` wrote for each."""
    project = Project(tmp_path_factory.mktemp("new-forms")).config(CONFIG)
    (project.root / "mail").mkdir()
    paths = {kind: learn_forms.install(site_session, kind, f"new-{kind}") for kind in learn_forms.KINDS}
    for kind in LEARNED:
        learn_forms.deliver_assets(site_session, kind, f"new-{kind}", project.root / "mail", WRONG_PDF)
    options = {kind: {} for kind in learn_forms.KINDS}
    options["plain"] = {"ad_url": site_session.url(learn_forms.install_ad(site_session, "/go/new-plain", paths["plain"]) + AD_QUERY)}
    options["spa"] = {"viewport": "mobile"}
    for kind in LEARNED:  # half the kinds learn what a good run looks like, their delivery email included
        options[kind].update(learn=True, yes=True, email_wait_s=20.0)
    written = {kind: new_check(project.load(), site_session.url(path), output=project.root / "checks" / f"{kind}.yaml", **options[kind])
               for kind, path in paths.items()}
    return project, written


@pytest.fixture(scope="module")
def runs(forms_project, site_session):
    """The written checks run as written: on the healthy sites, then on their broken twins."""
    project, written = forms_project
    healthy = {r.check: r for r in project.run(report=False).results}
    for kind in learn_forms.KINDS:
        learn_forms.install(site_session, kind, f"new-{kind}", "endpoint_500")
    try:
        broken = {r.check: r for r in project.run(report=False).results}
    finally:
        for kind in learn_forms.KINDS:
            learn_forms.install(site_session, kind, f"new-{kind}")
    for kind in LEARNED:
        learn_forms.deliver_assets(site_session, kind, f"new-{kind}", project.root / "mail", WRONG_PDF)
    WRONG_PDF.set()  # the learned checks' guides, delivered later: another PDF behind the same link
    try:
        wrong = {r.check: r for r in project.run(report=False, checks=[written[k].path.stem for k in LEARNED]).results}
    finally:
        WRONG_PDF.clear()
    return healthy, broken, wrong


def _spec(written, kind):
    return yaml.safe_load(written[kind].text)


# --- without --learn: what the page shows is written down ------------------------------------------


@pytest.mark.parametrize("kind", learn_forms.KINDS)
def test_new_writes_a_check_file_that_validates_for_each_form_kind(forms_project, kind):
    project, written = forms_project
    made = written[kind]
    assert made.path == project.root / "checks" / f"{kind}.yaml" and made.path.read_text() == made.text
    loaded = load_check(made.path, project.root)
    assert isinstance(loaded, Check), getattr(loaded, "diagnostics", None)
    spec = _spec(written, kind)
    assert spec["form"]["fill"][next(k for k, v in spec["form"]["fill"].items() if v == "{inbox}")] == "{inbox}"
    assert spec["landing"]["must_show"] and spec["landing"]["max_load"] == "5s"
    if kind in LEARNED:
        assert spec["form"]["success"] == LEARNED_SUCCESS[kind], made.text
        assert spec["asset"]["email"] == {"subject_contains": f"Your new-{kind} buyer's guide", "within": "2m"}
        assert spec["asset"]["link_text"] == "Download the guide"
        assert spec["asset"]["expect"] == {"type": "pdf", "title_contains": f"The new-{kind} Buyer's Guide",
                                           "text_contains": [f"Chapter one: choosing a new-{kind} vendor"], "min_size": "4KB"}
    else:
        assert "success" not in spec["form"] and "# success:" in made.text  # nothing submitted, so success is left to --learn


@pytest.mark.parametrize("kind", learn_forms.KINDS)
def test_the_written_check_passes_on_the_healthy_site(forms_project, runs, kind):
    _, written = forms_project
    result = runs[0][written[kind].name]
    assert result.status is Status.PASS, (kind, result.reason, written[kind].text)


@pytest.mark.parametrize("kind", learn_forms.KINDS)
def test_the_written_check_fails_as_form_http_error_when_the_endpoint_answers_500(forms_project, runs, kind):
    _, written = forms_project
    result = runs[1][written[kind].name]
    assert (result.status, result.step, result.category.value if result.category else None) == (
        Status.FAIL, "form", "form_http_error"), (kind, result.reason)
    assert "500" in result.reason


@pytest.mark.parametrize("kind", LEARNED)
def test_a_learned_check_fails_as_wrong_asset_when_another_pdf_is_delivered_later(forms_project, runs, kind):
    _, written = forms_project
    result = runs[2][written[kind].name]
    assert (result.status, result.step, result.category.value if result.category else None) == (
        Status.FAIL, "asset", "wrong_asset"), (kind, result.reason)
    assert "GDPR Readiness Guide" in result.reason


def test_each_field_gets_the_value_a_person_would_type(forms_project):
    _, written = forms_project
    fill = {kind: _spec(written, kind)["form"]["fill"] for kind in learn_forms.KINDS}
    assert fill["plain"] == {"email": "{inbox}", "first_name": "Funnel"}
    assert fill["gdpr"] == {"email": "{inbox}", "company": COMPANY, "privacy": True}  # the marketing opt-in is left alone
    assert fill["overlay"] == {"email": "{inbox}", "first_name": "Funnel", "last_name": "Test"}
    assert fill["honeypot"] == {"email": "{inbox}", "name": "Funnel Test", "phone": "+12025550143"}  # never the trap
    assert fill["select"] == {"email": "{inbox}", "company": COMPANY, "country": "Germany"}
    assert fill["german"] == {"vorname": "Funnel", "nachname": "Test", "mail": "{inbox}", "firma": COMPANY,
                              "telefon": "+12025550143", "datenschutz": True}
    assert fill["iframe"] == {"Email": "{inbox}", "FirstName": "Funnel", "Company": COMPANY}
    assert fill["spa"] == {"workEmail": "{inbox}", "company": COMPANY}


def test_every_guess_says_in_a_comment_what_it_was_guessed_from(forms_project):
    _, written = forms_project
    text = written["honeypot"].text
    assert "name: Funnel Test" in text and "# named 'your name'" in text
    assert "# left alone: website (leave this field empty): honeypot (placed off-screen), never filled" in text
    assert "hidden, the site's own: form_id" in text
    assert "# the form's 'Send' button" in text
    gdpr = written["gdpr"].text
    assert "# required box 'i agree to the privacy policy' ticked" in gdpr
    assert "# left alone: marketing (send me marketing emails about products and events): optional opt-in, left unticked" in gdpr
    assert "# left alone: size (company size): optional select" in written["select"].text
    assert "# required select: its first real option" in written["select"].text
    assert "in an iframe from http://localhost:" in written["iframe"].text and "(cross-origin)" in written["iframe"].text


@pytest.mark.parametrize(("kind", "selector", "tool"), [
    ("overlay", "#onetrust-accept-btn-handler", "OneTrust"),
    ("honeypot", "#CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll", "Cookiebot"),
    ("select", '[data-testid="uc-accept-all-button"]', "Usercentrics"),
    ("german", '#cookie-hinweis button:text-is("Alle akzeptieren")', "the consent banner's 'Alle akzeptieren' button in a fixed overlay"),
])
def test_a_recognised_consent_banner_is_written_as_landing_dismiss(forms_project, kind, selector, tool):
    _, written = forms_project
    assert _spec(written, kind)["landing"]["dismiss"] == selector
    what = tool if " " in tool else f"{tool} consent banner"
    assert f"# {what}, dismissed on the way in" in written[kind].text


def test_ad_url_adds_an_ad_section_with_where_it_landed_and_the_parameters_it_kept(forms_project, site_session):
    _, written = forms_project
    spec, text = _spec(written, "plain"), written["plain"].text
    assert spec["ad"] == {"url": site_session.url("/go/new-plain" + AD_QUERY), "landing_url": site_session.url("/lp/new-plain"),
                          "keep_params": ["utm_source", "utm_medium", "gclid"]}
    assert "url" not in spec["landing"]  # the ad brings the browser there
    assert "# lost on the way (not kept, so not checked): utm_campaign" in text
    assert "# promise: [the ad's headline words, its offer, its numbers]   # fill in from the ad" in text


def test_viewport_mobile_writes_a_check_for_the_phone(forms_project, runs):
    _, written = forms_project
    assert _spec(written, "spa")["viewports"] == ["mobile"]
    assert runs[0][written["spa"].name].viewport == "mobile"


def test_other_email_forms_on_the_page_are_named_in_a_comment(site, project):
    site.page("/lp/two-forms", """<title>Guide</title><h1>The guide</h1>
        <form id="newsletter" action="/nl"><input type="email" name="email"><button>Subscribe</button></form>
        <form id="guide" method="post" action="/g"><label>Email <input type="email" name="email"></label>
        <label>Company <input name="company"></label><button type="submit">Get it</button></form>""")
    made = new_check(project.load(), site.url("/lp/two-forms"), name="Two forms")
    assert made.path == project.root / "checks" / "two-forms.yaml"
    assert "selector: form#guide" in made.text
    assert "# other forms with an email field: form#newsletter (1 field) — not this one" in made.text
    assert any("1 other form with an email field" in note for note in made.notes)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["no form", "login"])
def test_a_page_without_a_lead_form_is_refused_in_one_line_and_nothing_is_written(site, project, page):
    path = learn_forms.install_refusals(site)[page]
    done = cli(project.root, "new", site.url(path))
    assert done.returncode == 2, done.stderr
    lines = unstamped(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("funnelwatch: "), done.stderr
    wanted = "no lead form with an email field on" if page == "no form" else "needs a login"
    assert wanted in lines[0] and "give the URL" in lines[0], lines[0]
    assert not (project.root / "checks").exists() or not list((project.root / "checks").iterdir())


def test_an_existing_file_is_kept_without_force(project):
    (project.root / "checks").mkdir()
    (project.root / "checks" / "guide.yaml").write_text("name: mine\n")
    with pytest.raises(FunnelwatchError, match="already exists — pass --force"):
        new_check(project.load(), "https://example.com/lp", name="Guide")
    assert (project.root / "checks" / "guide.yaml").read_text() == "name: mine\n"


def test_learn_is_refused_before_anything_is_submitted_unless_confirmed(project):
    with pytest.raises(FunnelwatchError, match="creates a real lead — confirm with --yes"):
        new_check(project.load(), "https://example.com/lp", learn=True)
    asked = []
    with pytest.raises(FunnelwatchError, match="not submitted: nothing written"):
        new_check(project.load(), "https://example.com/lp", learn=True, confirm=lambda warning: asked.append(warning) or False)
    assert asked == ["--learn submits the form once: a real lead will be created on example.com "
                     "(as qa+{token}@example.com, company 'funnelwatch test - please ignore')."]


def test_learn_tells_the_user_first_and_without_a_terminal_creates_no_lead(project):
    done = cli(project.root, "new", "--learn", "https://example.com/lp/guide")
    assert done.returncode == 2, done.stderr
    assert unstamped(done.stderr) == [
        "funnelwatch: --learn submits the form once: a real lead will be created on example.com "
        "(as qa+{token}@example.com, company 'funnelwatch test - please ignore').",
        "funnelwatch: --learn creates a real lead and no one is at the terminal to confirm — pass --yes",
    ]
    assert not (project.root / "checks").exists()


def test_a_name_another_check_has_gets_a_number(project):
    from funnelwatch.learn import _unique_name

    project.check("guide", "name: The guide\nlanding:\n  url: https://example.com/lp\n")
    config = project.load()
    assert _unique_name(config, "The guide", "the page's main heading", project.root / "checks" / "guide-mobile.yaml") == (
        "The guide (2)", "the page's main heading; (2) because another check has that name")
    assert _unique_name(config, "The guide", "x", project.root / "checks" / "guide.yaml") == ("The guide", "x")  # --force over itself


# --- --learn against the bundled demo site -----------------------------------------------------------

@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The bundled demo project (`funnelwatch demo`'s own) and its site, as the README's walk-through uses them."""
    from funnelwatch.demo import prepare_project

    root = prepare_project(tmp_path / "reports")
    site = DemoSite(root / "inbox").start()
    monkeypatch.setenv("FUNNELWATCH_DEMO_URL", site.base)
    try:
        yield Project(root), site
    finally:
        site.stop()


def test_new_learn_on_the_demo_site_writes_a_check_that_passes_and_catches_a_wrong_pdf(demo):
    project, site = demo
    done = cli(project.root, "new", "--learn", "--yes", f"{site.base}/lp/hipaa")
    assert done.returncode == 0, done.stderr
    path = project.root / "checks" / "free-hipaa-compliance-checklist.yaml"
    assert f"wrote {path}" in done.stdout, done.stdout
    text = path.read_text()
    spec = yaml.safe_load(text)
    assert spec["landing"]["dismiss"] == "#cookie-accept"
    assert spec["form"]["success"] == {"url_contains": "/thank-you", "text": "Check your inbox for your download"}
    assert spec["asset"]["email"] == {"subject_contains": "Your HIPAA Compliance Checklist", "within": "2m"}
    assert spec["asset"]["link_text"] == "Download"
    assert spec["asset"]["expect"] == {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026",
                                       "text_contains": ["Security Rule safeguards"], "min_size": "12KB"}
    assert "# arrived " in text and "after submitting; 5x headroom, at least 2m" in text
    assert spec["conversions"] == [{"ga4": "G-DEMO12345", "event": "generate_lead"}]  # the thank-you page's GA4 lead
    assert "# also fired, not conversions: GA4 G-DEMO12345 page_view" in text
    assert cli(project.root, "validate").returncode == 0

    healthy = project.run_one(report=False, checks=[path.stem])
    assert healthy.status is Status.PASS, healthy.reason
    site.site.redirect("/dl/hipaa", "/assets/gdpr-readiness-guide.pdf", 302, keep_query=False)  # a wrong PDF, delivered later
    broken = project.run_one(report=False, checks=[path.stem])
    assert (broken.status, broken.step, broken.category.value) == (Status.FAIL, "asset", "wrong_asset"), broken.reason
    assert "GDPR Readiness Guide" in broken.reason


def test_learn_shows_a_failing_submission_as_a_check_would_and_writes_nothing(demo):
    project, site = demo
    done = cli(project.root, "new", "--learn", "--yes", f"{site.base}/lp/webinar")
    assert done.returncode == 2, done.stderr
    lines = unstamped(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("funnelwatch: the test submission failed, nothing written: ✗ fail    Webinar: HIPAA in 30 minutes — "
                               "Lead form: "), lines[0]
    assert "/lead/webinar answered HTTP 500" in lines[0] and "fix the form" in lines[0]
    assert sorted(p.name for p in (project.root / "checks").iterdir()) == sorted(p.name for p in CHECKS.iterdir())


# --- --learn records the conversion tags that fired after the submit ------------------------------------

TAGS_CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 15s
  concurrency: 2
  tag_quiet: 1s
defaults:
  retries: 0
"""
LEARNED_TAGS = [  # tests/sites/tags.py "ok": GA4 and Meta leads, a Google Ads conversion (image and XHR), a LinkedIn conversion
    {"ga4": tags.GA4, "event": "generate_lead", "value": "49.00", "currency": "EUR"},
    {"google_ads": f"AW-{tags.ADS}/{tags.ADS_LABEL}", "value": "49.00", "currency": "EUR"},
    {"meta": tags.PIXEL, "event": "Lead", "value": "49.00", "currency": "EUR"},
    {"linkedin": tags.PARTNER, "conversion": tags.LI_CONVERSION},
]


@pytest.fixture(scope="module")
def tag_funnels(tmp_path_factory, site_session):
    """`new --learn --yes` on a thank-you page that fires conversions and on one that fires page views only; both files run."""
    site = site_session
    project = Project(tmp_path_factory.mktemp("new-tags")).config(TAGS_CONFIG)
    with tags.Collector() as collector:  # the platforms, on a loopback origin of their own
        leads = tags.install(site, "ok", collector.base, slug="new-leads")
        views = tags.install(site, "page_views", collector.base, slug="new-views")
        done = cli(project.root, "new", "--learn", "--yes", "--name", "Tags learned", site.url(leads))
        assert done.returncode == 0, done.stderr
        quiet = new_check(project.load(), site.url(views), name="No tags learned", learn=True, yes=True)
        reached = list(collector.hits())
        healthy = {r.check: r for r in project.run(report=False).results}
        tags.install(site, "removed", collector.base, slug="new-leads")  # the thank-you page's tag manager fires nothing now
        try:
            broken = project.run_one(report=False, checks=["tags-learned"])
        finally:
            tags.install(site, "ok", collector.base, slug="new-leads")
    text = (project.root / "checks" / "tags-learned.yaml").read_text()
    return {"project": project, "text": text, "quiet": quiet, "reached": reached, "healthy": healthy, "broken": broken}


def test_learn_writes_the_conversions_that_fired_after_the_submit_in_the_kinds_own_keys(tag_funnels):
    text = tag_funnels["text"]
    spec = yaml.safe_load(text)
    assert spec["conversions"] == LEARNED_TAGS, text  # by vendor, whatever order the hits came in
    assert [str(d) for d in validate_text(text, CheckSpec, "checks/tags-learned.yaml")] == []
    assert re.search(r"  - ga4: G-ABC123XYZ +# fired \d+\.\ds after submit via sendBeacon on /thank-you-tags-new-leads\n", text), text
    assert re.search(r"  - meta: '1234567890' +# fired \d+\.\ds after submit via fetch/XHR on /thank-you-tags-new-leads\n", text), text
    assert "# also fired, not conversions: GA4 G-ABC123XYZ page_view, Meta pixel 1234567890 PageView\n" in text, text
    assert "# Conversion tags: 4 fired after the test submission (conversions: below)" in text
    assert tag_funnels["reached"] == []  # the test submission's hits were answered in the browser: no platform counted a lead


def test_the_learned_conversions_pass_as_written(tag_funnels):
    result = tag_funnels["healthy"]["Tags learned"]
    assert result.status is Status.PASS, (result.reason, tag_funnels["text"])
    assert [row["seen"] for row in result.evidence["conversions"]["expected"]] == ["✓"] * 4


def test_the_learned_check_fails_as_conversion_missing_when_the_thank_you_pages_tag_is_removed(tag_funnels):
    result = tag_funnels["broken"]
    assert (result.status, result.step, result.category.value if result.category else None) == (
        Status.FAIL, "conversions", "conversion_missing"), result.reason
    assert f"GA4 {tags.GA4} sent no generate_lead after the form's success; no analytics or ad hit fired at all" in result.reason


def test_page_views_alone_are_no_conversion_and_the_file_says_none_fired(tag_funnels):
    made = tag_funnels["quiet"]
    assert "conversions" not in yaml.safe_load(made.text), made.text
    assert ("# Conversion tags: none fired after the test submission (seen, not conversions: GA4 G-ABC123XYZ page_view, "
            "GA4 G-ABC123XYZ user_engagement, Meta pixel 1234567890 PageView).") in made.text, made.text
    result = tag_funnels["healthy"]["No tags learned"]
    assert result.status is Status.PASS, result.reason


def test_which_hits_are_recorded_as_conversions():
    from types import SimpleNamespace

    from funnelwatch.learn.record import record_conversions
    from funnelwatch.tag_hits import Hit, Seen

    def seen(vendor, ident, event, at, value=None, currency=None, transport="image"):
        return Seen(Hit(vendor, ident, event, value, currency), at, "https://x.test/c", transport, True, "https://x.test/thanks")

    hits = [
        seen("ga4", "G-ABC", "generate_lead", 99.0),  # on the landing page, before the submit
        seen("ga4", "G-ABC", "page_view", 100.2), seen("ga4", "G-ABC", "scroll", 100.3),
        seen("ga4", "G-ABC", "generate_lead", 100.4, None, "EUR", "sendBeacon"),  # a shared `cu` without a value: no currency
        seen("google_ads", f"AW-{tags.ADS}", "lbl", 100.5), seen("google_ads", f"AW-{tags.ADS}", "lbl", 100.6, "5", "USD"),
        seen("meta", "42", "PageView", 100.5), seen("meta", "42", "CompleteRegistration", 100.7),
        seen("linkedin", "77", "page view", 100.5), seen("linkedin", "77", "9", 100.8),
        seen("ga4", "UA-1", "generate_lead", 100.9),  # not a GA4 measurement id: named, never expected
    ]
    learned = record_conversions(SimpleNamespace(tag_hits=hits, submitted_at=100.0))  # type: ignore[arg-type]
    assert [tag.entry for tag in learned.conversions] == [
        {"ga4": "G-ABC", "event": "generate_lead"}, {"google_ads": f"AW-{tags.ADS}/lbl", "value": "5", "currency": "USD"},
        {"meta": "42", "event": "CompleteRegistration"}, {"linkedin": "77", "conversion": "9"}]
    assert learned.conversions[0].why == "fired 0.4s after submit via sendBeacon on /thanks"
    assert learned.others == ["GA4 G-ABC page_view", "GA4 G-ABC scroll", "GA4 UA-1 generate_lead", "Meta pixel 42 PageView",
                              "LinkedIn Insight 77 page view"]
    assert learned.early == ["GA4 G-ABC generate_lead"]  # `new` says the check will fail conversion_early
    assert record_conversions(SimpleNamespace(tag_hits=hits, submitted_at=None)).conversions == []  # type: ignore[arg-type]


# --- no browser: the guesses and the file's text -------------------------------------------------------


def _field(**given):
    return {"name": "", "id": "", "type": "text", "kind": "text", "label": "", "placeholder": "", "autocomplete": "",
            "required": False, "visible": True, "honeypot": "", "email": False, "value": "", "options": [], **given}


def test_hidden_and_honeypot_fields_are_never_filled_and_optional_opt_ins_are_left():
    plan = guess_fill([
        _field(name="email", type="email", email=True),
        _field(name="hs_context", type="hidden", kind="hidden"),
        _field(name="url", honeypot="placed off-screen"),
        _field(name="terms", type="checkbox", kind="checkbox", label="i accept the terms and conditions"),
        _field(name="news", type="checkbox", kind="checkbox", label="keep me informed about offers"),
        _field(name="industry", kind="select", required=True, options=[
            {"value": "", "text": "Bitte wählen", "disabled": False}, {"value": "x", "text": "—", "disabled": True},
            {"value": "health", "text": "Healthcare", "disabled": False}]),
        _field(name="notes", kind="text", required=True, label="anything else?"),
    ])
    assert {g.key: g.value for g in plan.fill} == {"email": "{inbox}", "terms": True, "industry": "Healthcare",
                                                   "notes": "funnelwatch test - please ignore"}
    assert plan.left == ["url: honeypot (placed off-screen), never filled", "news (keep me informed about offers): optional opt-in, left unticked"]


def test_page_text_in_the_file_is_inert_yaml():
    hostile = "Get ${AWS_SECRET} now\n# not a comment: [x], {y} & *z\x1b[31m\u202e"
    doc = Mapping().add("name", hostile, hostile).add("landing", Mapping().add("must_show", [hostile, "yes", "{inbox}"]))
    text = render(doc, header=[hostile])
    assert "\x1b" not in text and "\u202e" not in text  # shown escaped, in values and comments alike
    assert len(text.splitlines()) == 4
    data = yaml.safe_load(text)
    assert data["name"] == hostile.replace("${", "$${")
    assert data["landing"]["must_show"] == [hostile.replace("${", "$${"), "yes", "{inbox}"]


def test_a_check_from_hostile_page_text_validates_and_expands_no_variable(project):
    os.environ.pop("FW_NEVER_SET", None)
    doc = Mapping().add("name", "Offer ${FW_NEVER_SET}\nfor you").add(
        "landing", Mapping().add("url", "https://example.com/lp").add("must_show", ["${FW_NEVER_SET}"]))
    path = project.check("hostile", render(doc))
    loaded = load_check(path, project.root)
    assert isinstance(loaded, Check), loaded
    assert loaded.spec.name == "Offer ${FW_NEVER_SET}\nfor you"


def test_the_readme_quick_start_runs_new_right_after_init():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start for your own funnels", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split()[0:2] for line in quick.strip().splitlines() if "funnelwatch" in line]
    assert [c[1] for c in commands[:2]] == ["init", "new"], quick
    assert "new --learn" in readme.split("funnelwatch demo --keep-running", 1)[1]


def test_funnelwatch_api_exports_new_check():
    assert funnelwatch.new_check is new_check


def test_an_emailed_attachment_is_learned_as_attachment_true_with_its_title(project):
    import asyncio
    from email.message import EmailMessage

    from funnelwatch.demo.documents import make_pdf
    from funnelwatch.email_facts import DeliveryEmail
    from funnelwatch.inbox.base import ReceivedEmail
    from funnelwatch.learn.draft import Draft
    from funnelwatch.learn.look import Discovery, FoundLeadForm
    from funnelwatch.learn.record import Learned, inspect_asset
    from funnelwatch.learn.yamltext import render
    from funnelwatch.steps.pagekit import Navigation

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Acme <c@acme.test>", "qa+fw1@funnelwatch.test", "Funnel, your Ransomware Report"
    message.set_content("Hi Funnel, the report is attached.")
    message.add_attachment(make_pdf("2026 Ransomware Report", ["Attack trends by sector", "Recovery costs"], pad_to=9000),
                           maintype="application", subtype="pdf", filename="ransomware-2026.pdf")
    email = DeliveryEmail.of(ReceivedEmail.parse(message.as_bytes()))
    asset, problem = asyncio.run(inspect_asset(None, email))
    assert asset is not None and asset.source == "attachment", problem
    field = {"name": "email", "id": "", "type": "email", "kind": "text", "label": "email", "placeholder": "", "autocomplete": "",
             "required": True, "visible": True, "honeypot": "", "email": True, "value": "", "options": []}
    form = FoundLeadForm("https://example.com/lp", False, {"index": 0, "selector": "form#report", "visible": True, "email": True,
                                                            "password": False, "fields": [field], "button": None})
    discovery = Discovery("https://example.com/lp", Navigation("https://example.com/lp", "https://example.com/lp", 200, 0.4),
                          title="Report", heading="The 2026 Ransomware Report", forms=[form])
    learned = Learned("https://example.com/thanks", url_contains="/thanks", text="Your report is on its way",
                      email=email, delay_s=75.0, asset=asset)
    draft = Draft("The 2026 Ransomware Report", "the page's main heading", "https://example.com/lp", "desktop", discovery, form,
                  guess_fill([field]), learned=learned, learn=True, inbox=True, personal=["Funnel"])
    text = render(draft.document(), draft.header())
    spec = yaml.safe_load(text)
    assert spec["asset"] == {"email": {"subject_contains": "your Ransomware Report", "within": "7m"}, "attachment": True,
                             "expect": {"type": "pdf", "title_contains": "2026 Ransomware Report",
                                        "text_contains": ["Attack trends by sector"], "min_size": "4KB"}}
    assert "# the email carried 'ransomware-2026.pdf'" in text and "# arrived 75.0s after submitting" in text
    loaded = load_check(project.check("report", text), project.root)
    assert isinstance(loaded, Check), loaded
