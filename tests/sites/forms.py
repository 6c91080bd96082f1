"""Lead-form pages built like the real thing, each with a healthy and broken variants.

Every `install_*` function sets routes on a `LocalSite` and returns the
landing path. `variant` picks the breakage ("ok" is the healthy twin).
Third-party origins are simulated with `http://localhost:PORT` (another
origin than `http://127.0.0.1:PORT` to the browser).
"""

from __future__ import annotations

import json

from funnelwatch.demo.server import LocalSite, Request, Response

THANKS = "<title>Thank you</title><h1>Thank you!</h1><p>Check your inbox for the checklist.</p>"
OOPS = "<title>Thank you</title><h1>Oops</h1><p class='notice'>Something went wrong. Please try again later.</p>"


def other_origin(site: LocalSite) -> str:
    return f"http://localhost:{site.port}"


def _thanks(site: LocalSite, path: str = "/thank-you", html: str = THANKS) -> None:
    site.page(path, html)


# --- 1. classic landing page: native POST, 303 to a thank-you page ---------------------------------

CLASSIC_FORM = """
<form id="download" method="post" action="/lead/{slug}" {novalidate}>
  <label for="em">Work email</label> <input id="em" type="email" name="email" required>
  <label>First name <input name="first_name"></label>
  <label>Country <select name="country"><option value="">Choose…</option><option value="DE">Germany</option>
    <option value="US">United States</option></select></label>
  <fieldset><legend>Company size</legend><label><input type="radio" name="size" value="1-10"> 1–10</label>
    <label><input type="radio" name="size" value="11-50"> 11–50</label></fieldset>
  <label><input type="checkbox" name="consent" value="yes"> Send me the newsletter</label>
  {extra}
  <button type="submit">Download now</button>
</form>"""

ANALYTICS_BROKEN = """
<script src="{other}/gtm.js"></script>
<script>
  fetch('/g/collect?v=2&en=page_view', {method: 'POST', body: 'x'}).catch(() => {});
</script>"""

GTM_JS = """
document.addEventListener('submit', () => { window.dataLayer.push({event: 'generate_lead'}); });
window.google_tag_manager.init({id: 'GTM-XXXX'});
"""

CAPTCHA_ON_SUBMIT = """
<div id="challenge" style="visibility:hidden;position:absolute;top:-10000px">
  <iframe title="recaptcha challenge expires in two minutes" src="/recaptcha/api2/bframe?k=site-key" width="400" height="580"></iframe>
</div>
<script>
  document.getElementById('download').addEventListener('submit', e => {
    e.preventDefault();
    const box = document.getElementById('challenge');
    box.style.cssText = 'visibility:visible;position:fixed;top:40px;left:40px';
  });
</script>"""

INVISIBLE_BADGE = """
<div class="grecaptcha-badge" style="position:fixed;bottom:14px;right:0;width:256px;height:60px">
  <iframe title="reCAPTCHA" src="/recaptcha/api2/anchor?k=site-key&size=invisible" width="256" height="60"></iframe>
</div>"""


def install_classic(site: LocalSite, slug: str, variant: str = "ok") -> str:
    """A hand-built landing page; variants: ok, html5_required, captcha, oops_thanks, broken_analytics, endpoint_500."""
    extra, after, novalidate = "", "", ""
    if variant == "html5_required":
        extra = '<label>Phone <input type="tel" name="phone" required></label>'
    if variant == "captcha":
        after = CAPTCHA_ON_SUBMIT
    if variant in ("ok", "broken_analytics"):
        after = INVISIBLE_BADGE
    if variant == "broken_analytics":
        after += ANALYTICS_BROKEN.replace("{other}", other_origin(site))
        site.page("/gtm.js", GTM_JS, content_type="application/javascript")
        site.route("/g/collect", lambda r: Response(500, "tracker down"))
    form = CLASSIC_FORM.format(slug=slug, novalidate=novalidate, extra=extra)
    site.page(f"/lp/{slug}", f"<title>HIPAA checklist</title><h1>Free HIPAA checklist</h1>{form}{after}")
    site.page("/recaptcha/api2/bframe", "<p>Select all images with traffic lights</p>")
    site.page("/recaptcha/api2/anchor", "<p>protected by reCAPTCHA</p>")
    thanks = "/thank-you-oops" if variant == "oops_thanks" else "/thank-you"
    _thanks(site, thanks, OOPS if variant == "oops_thanks" else THANKS)

    def lead(request: Request) -> Response:
        if variant == "endpoint_500":
            return Response(500, "<h1>Internal Server Error</h1>")
        return Response(303, "", {"Location": thanks})

    site.route(f"/lead/{slug}", lead)
    return f"/lp/{slug}"


# --- 2. HubSpot-style embed: rendered by script after load, hidden fields, fetch submit ------------

HUBSPOT_PAGE = """<title>Cloud security e-book</title>
<h1>The Cloud Security E-book</h1>
<div id="hbspt-form-{slug}"></div>
<script>
setTimeout(() => {
  const host = document.getElementById('hbspt-form-{slug}');
  host.innerHTML = `
  <form id="hsForm_{slug}" class="hs-form stacked" novalidate>
    <input type="hidden" name="hs_context" value='{"pageUrl": "lp"}'>
    <input type="hidden" name="utm_source" value="">
    <div class="hs_email field"><label for="email-{slug}">Email<span class="hs-form-required">*</span></label>
      <input id="email-{slug}" name="email" type="email" class="hs-input"></div>
    <div class="hs_firstname field"><label for="fn-{slug}">{first_label}</label>
      <input id="fn-{slug}" name="{first_name}" type="text" class="hs-input"></div>
    <div class="hs_company field"><label for="co-{slug}">Company name</label>
      <input id="co-{slug}" name="company" type="text" class="hs-input"></div>
    <ul class="hs-error-msgs" style="display:none"></ul>
    <div class="hs_submit"><input type="submit" class="hs-button primary" value="Get the e-book"></div>
  </form>`;
  const form = host.querySelector('form');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const fields = [...new FormData(form)].map(([name, value]) => ({name, value}));
    const res = await fetch('/submissions/v3/integration/submit/4242/{slug}', {
      method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({fields})});
    const data = await res.json().catch(() => ({}));
    if (res.ok) {
      host.innerHTML = '<div class="submitted-message">Thanks for submitting the form. Check your inbox!</div>';
    } else if (data.errors) {
      const list = form.querySelector('.hs-error-msgs');
      list.innerHTML = data.errors.map(err => `<li><label class="hs-error-msg">${err.message}</label></li>`).join('');
      list.style.display = 'block';
    }
  });
}, 400);
</script>
<footer><form id="newsletter" action="/newsletter" method="post">
  <label>Get our newsletter <input type="email" name="email" placeholder="you@company.com"></label>
  <button>Subscribe</button></form></footer>"""


def install_hubspot(site: LocalSite, slug: str, variant: str = "ok") -> str:
    """HubSpot-style embed beside a footer newsletter; variants: ok, endpoint_500, server_validation, renamed_field."""
    renamed = variant == "renamed_field"
    html = (HUBSPOT_PAGE.replace("{slug}", slug)
            .replace("{first_name}", "given_name" if renamed else "firstname")
            .replace("{first_label}", "Given name" if renamed else "First name"))
    site.page(f"/lp/{slug}", html)
    site.route("/newsletter", lambda r: Response(303, "", {"Location": "/newsletter-thanks"}))

    def submit(request: Request) -> Response:
        if variant == "endpoint_500":
            return Response(500, json.dumps({"status": "error", "message": "Internal error"}), content_type="application/json")
        if variant == "server_validation":
            body = {"status": "error", "errors": [{"message": "Phone number is required.", "errorType": "REQUIRED_FIELD"}]}
            return Response(400, json.dumps(body), content_type="application/json")
        return Response(200, json.dumps({"inlineMessage": "Thanks"}), content_type="application/json")

    site.route(f"/submissions/v3/integration/submit/4242/{slug}", submit)
    return f"/lp/{slug}"


# --- 3. Marketo-style cross-origin iframe that messages its parent to navigate --------------------

MARKETO_PARENT = """<title>Webinar</title><h1>Webinar: HIPAA in 30 minutes</h1>
<iframe id="mkto" src="{other}/mkto/{slug}/form" width="500" height="400"></iframe>
<script>
window.addEventListener('message', e => {
  if (e.data && e.data.mktoResponse === 'success') location.href = e.data.followUpUrl;
});
</script>"""

MARKETO_FRAME = """<form class="mktoForm" id="mktoForm_1024">
  <label for="Email" class="mktoLabel">Email Address:</label><input id="Email" name="Email" type="email" class="mktoField">
  <label for="FirstName" class="mktoLabel">First Name:</label><input id="FirstName" name="FirstName" class="mktoField">
  <label for="Company" class="mktoLabel">Company Name:</label><input id="Company" name="Company" class="mktoField">
  <input type="hidden" name="munchkinId" value="123-ABC-456">
  <button type="submit" class="mktoButton">Register</button>
</form>
<script>
document.getElementById('mktoForm_1024').addEventListener('submit', async e => {
  e.preventDefault();
  const res = await fetch('/mkto/{slug}/save2', {method: 'POST', body: new URLSearchParams(new FormData(e.target))});
  if (res.ok) parent.postMessage({mktoResponse: 'success', followUpUrl: '{parent}/thank-you'}, '*');
});
</script>"""


def install_marketo(site: LocalSite, slug: str, variant: str = "ok") -> str:
    """Marketo-style embed on another origin; variants: ok, iframe_404, endpoint_500."""
    site.page(f"/lp/{slug}", MARKETO_PARENT.replace("{other}", other_origin(site)).replace("{slug}", slug))
    if variant != "iframe_404":
        site.page(f"/mkto/{slug}/form", MARKETO_FRAME.replace("{slug}", slug).replace("{parent}", site.base))
    status = 500 if variant == "endpoint_500" else 200
    site.route(f"/mkto/{slug}/save2", lambda r: Response(status, json.dumps({"success": status == 200}), content_type="application/json"))
    _thanks(site)
    return f"/lp/{slug}"


# --- 4. React-style app: rendered by script, submits with fetch, in-page message -------------------

REACT_APP = """<title>Pricing — Acme</title><div id="root"></div>
<script>
const root = document.getElementById('root');
const render = state => {
  if (state === 'done') { root.innerHTML = '<p role="status" class="alert alert-success">Thanks! Check your inbox.</p>'; return; }
  root.innerHTML = `<h1>Talk to sales</h1>
    <form class="lead-form"><input aria-label="Work email" type="email" name="workEmail">
    <input aria-label="Company" name="company"><button>Send</button>
    ${state === 'failed' ? '<div role="alert">Something went wrong. Please try again.</div>' : ''}</form>`;
  root.querySelector('form').onsubmit = async e => {
    e.preventDefault();
    {handler_prelude}
    const body = JSON.stringify(Object.fromEntries(new FormData(e.target)));
    const res = await fetch('/api/{slug}/leads', {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
    render(res.ok ? 'done' : 'failed');
  };
};
setTimeout(() => render('idle'), 200);
</script>"""


def install_react(site: LocalSite, slug: str, variant: str = "ok") -> str:
    """A single-page app form; variants: ok, type_error, endpoint_500."""
    prelude = "const formId = window.appConfig.hubspotFormId;" if variant == "type_error" else ""
    site.page(f"/app/{slug}", REACT_APP.replace("{slug}", slug).replace("{handler_prelude}", prelude))
    status = 500 if variant == "endpoint_500" else 201
    site.route(f"/api/{slug}/leads", lambda r: Response(status, json.dumps({"ok": status < 300}), content_type="application/json"))
    return f"/app/{slug}"


# --- 5. Two-step form: email first, details on a second page (driven by custom steps) -------------

STEP_ONE = """<title>Start your trial</title><h1>Start your free trial</h1>
<form id="start" method="post" action="/trial/{slug}/start">
  <label>Work email <input type="email" name="email"></label><button>Continue</button>{error}</form>"""

STEP_TWO = """<title>Your details</title><h1>Step 2 of 2: about you</h1>
<form id="details" method="post" action="/trial/{slug}/finish">
  <label>Company <input id="company" name="company"></label>
  <label>Role <input id="role" name="role"></label><button>Start trial</button></form>"""


def install_two_step(site: LocalSite, slug: str, variant: str = "ok") -> str:
    """Email on page one, details on page two; variants: ok, free_email_rejected."""
    site.page(f"/trial/{slug}", STEP_ONE.replace("{slug}", slug).replace("{error}", ""))

    def start(request: Request) -> Response:
        if variant == "free_email_rejected":
            error = '<p class="error">Please use your work email address.</p>'
            return Response(200, STEP_ONE.replace("{slug}", slug).replace("{error}", error))
        return Response(303, "", {"Location": f"/trial/{slug}/details"})

    site.route(f"/trial/{slug}/start", start)
    site.page(f"/trial/{slug}/details", STEP_TWO.replace("{slug}", slug))
    site.route(f"/trial/{slug}/finish", lambda r: Response(303, "", {"Location": f"/trial/{slug}/welcome"}))
    site.page(f"/trial/{slug}/welcome", "<title>Welcome</title><h1>Your trial is ready</h1>")
    return f"/trial/{slug}"
