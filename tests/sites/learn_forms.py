"""Lead forms `funnelwatch new` must write a check for, each with a broken twin (its endpoint answers 500).

The plain, SPA and iframe forms are the form step's own fixtures (`forms.py`);
here are the other kinds marketers meet: a GDPR form with two consent boxes,
a form behind a consent overlay, a honeypot field, a required select and a
German-labelled form. Each server checks what a person would have typed, so
a wrong guess by `new` fails the healthy run too. Also: a page with no form
and a login page. `install(site, kind, slug, variant)` returns the landing path;
installing again with `variant="endpoint_500"` turns the same URL into its broken twin.
"""

from __future__ import annotations

import re
import threading
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Callable
from urllib.parse import unquote

from funnelwatch.demo.documents import make_pdf
from funnelwatch.demo.server import LocalSite, Request, Response
from funnelwatch.inbox.maildir import deliver
from tests.sites import forms

THANKS = "<title>Thank you</title><h1>Thank you!</h1><p>Check your inbox for the guide.</p>"

GDPR = """<title>GDPR guide</title><h1>GDPR Readiness Guide</h1>
<form id="gdpr" method="post" action="/lead/{slug}">
  <label>Business email <input type="email" name="email" required></label>
  <label>Company <input name="company" required></label>
  <label><input type="checkbox" name="privacy" value="yes" required> I agree to the privacy policy *</label>
  <label><input type="checkbox" name="marketing" value="yes"> Send me marketing emails about products and events</label>
  <button type="submit">Get the guide</button>
</form>"""

ONETRUST = """<div id="onetrust-consent-sdk" style="display:none">
  <div class="onetrust-pc-dark-filter" style="position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:10"></div>
  <div id="onetrust-banner-sdk" style="position:fixed;bottom:0;left:0;right:0;background:#fff;z-index:11;padding:1rem">
    We use cookies. <button id="onetrust-pc-btn-handler">Cookie settings</button>
    <button id="onetrust-accept-btn-handler">Accept All Cookies</button></div></div>
<script>
setTimeout(() => { document.getElementById('onetrust-consent-sdk').style.display = 'block'; }, 300);
document.getElementById('onetrust-accept-btn-handler').onclick = () => document.getElementById('onetrust-consent-sdk').remove();
</script>"""

OVERLAY = """<title>Compliance webinar</title><h1>Register for the compliance webinar</h1>
<form id="register" method="post" action="/lead/{slug}">
  <label>Email <input type="email" name="email" required></label>
  <label>First name <input name="first_name" autocomplete="given-name"></label>
  <label>Last name <input name="last_name" autocomplete="family-name"></label>
  <button type="submit">Register</button>
</form>""" + ONETRUST

COOKIEBOT = """<div id="CybotCookiebotDialog" style="position:fixed;bottom:0;left:0;right:0;background:#eee;padding:1rem">
  This website uses cookies. <button id="CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll"
  onclick="document.getElementById('CybotCookiebotDialog').remove()">Allow all</button></div>"""

HONEYPOT = """<title>Contact sales</title><h1>Contact our sales team</h1>
<form id="contact" method="post" action="/lead/{slug}">
  <label>Email <input type="email" name="email" required></label>
  <label>Your name <input name="name"></label>
  <label>Phone <input type="tel" name="phone"></label>
  <div style="position:absolute;left:-9999px" aria-hidden="true"><label>Leave this field empty
    <input name="website" tabindex="-1" autocomplete="off"></label></div>
  <input type="hidden" name="form_id" value="42">
  <button type="submit">Send</button>
</form>""" + COOKIEBOT

USERCENTRICS = """<div id="usercentrics-root"></div>
<script>
const root = document.getElementById('usercentrics-root').attachShadow({mode: 'open'});
root.innerHTML = '<div style="position:fixed;bottom:0;left:0;right:0;background:#fff;padding:1rem">Privacy settings '
  + '<button data-testid="uc-accept-all-button">Accept All</button></div>';
root.querySelector('button').onclick = () => document.getElementById('usercentrics-root').remove();
</script>"""

SELECT = """<title>Book a demo</title><h1>Book a live demo</h1>
<form id="demo" method="post" action="/lead/{slug}">
  <label>Work email <input type="email" name="email" required></label>
  <label>Company <input name="company"></label>
  <label>Country <select name="country" required><option value="">Please select</option><option value="DE">Germany</option>
    <option value="US">United States</option></select></label>
  <label>Company size <select name="size"><option value="">-</option><option>1-10</option><option>11-50</option></select></label>
  <button type="submit">Request demo</button>
</form>""" + USERCENTRICS

GERMAN = """<title>DSGVO-Leitfaden</title><h1>Kostenloser DSGVO-Leitfaden</h1>
<div id="cookie-hinweis" style="position:fixed;top:0;left:0;right:0;background:#333;color:#fff;padding:1rem">
  Wir verwenden Cookies. <button onclick="document.getElementById('cookie-hinweis').remove()">Alle akzeptieren</button></div>
<form id="anfrage" method="post" action="/lead/{slug}">
  <label for="v">Vorname *</label><input id="v" name="vorname" required>
  <label for="n">Nachname *</label><input id="n" name="nachname" required>
  <label for="e">E-Mail-Adresse *</label><input id="e" name="mail" required>
  <label for="f">Firma</label><input id="f" name="firma">
  <label for="t">Telefon</label><input id="t" name="telefon" type="tel">
  <label><input type="checkbox" name="datenschutz" value="ja" required> Ich akzeptiere die Datenschutzerklärung *</label>
  <label><input type="checkbox" name="newsletter" value="ja"> Newsletter abonnieren</label>
  <button type="submit">Jetzt herunterladen</button>
</form>"""

#: What each server insists on (a person would have typed it so), and what it must never receive.
EXPECTED: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "gdpr": (GDPR, {"privacy": "yes", "company": "funnelwatch test - please ignore"}, ("marketing",)),
    "overlay": (OVERLAY, {"first_name": "Funnel", "last_name": "Test"}, ()),
    "honeypot": (HONEYPOT, {"name": "Funnel Test", "website": ""}, ()),
    "select": (SELECT, {"country": "DE", "size": ""}, ()),
    "german": (GERMAN, {"vorname": "Funnel", "nachname": "Test", "firma": "funnelwatch test - please ignore", "datenschutz": "ja"},
               ("newsletter",)),
}


def _lead(slug: str, wanted: dict[str, str], never: tuple[str, ...], variant: str) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        if variant == "endpoint_500":
            return Response(500, "<h1>Internal Server Error</h1>")
        form = request.form()
        wrong = [k for k, v in wanted.items() if form.get(k, "") != v] + [k for k in never if k in form]
        if "@" not in (form.get("email") or form.get("mail") or ""):
            wrong.append("email")
        if wrong:
            shown = ", ".join(f"{k}={form.get(k)!r}" for k in wrong)
            return Response(400, f"<title>Error</title><p class='error'>Please check: {escape(shown)}</p>")
        return Response(303, "", {"Location": f"/thanks/{slug}"})

    return handle


def install(site: LocalSite, kind: str, slug: str, variant: str = "ok") -> str:
    """One kind of lead form at `/lp/<slug>` (or the form step's own fixtures for plain, spa and iframe)."""
    if kind == "plain":
        return forms.install_classic(site, slug, variant)
    if kind == "spa":
        return forms.install_react(site, slug, variant)
    if kind == "iframe":
        return forms.install_marketo(site, slug, variant)
    html, wanted, never = EXPECTED[kind]
    site.page(f"/lp/{slug}", html.replace("{slug}", slug))
    site.route(f"/lead/{slug}", _lead(slug, wanted, never, variant))
    site.page(f"/thanks/{slug}", THANKS)
    return f"/lp/{slug}"


def install_ad(site: LocalSite, path: str, landing: str) -> str:
    """An ad click URL that redirects to `landing`, keeping utm_source, utm_medium and gclid but losing the rest."""
    from urllib.parse import urlencode

    def hop(request: Request) -> Response:
        kept = {k: v[0] for k, v in request.query.items() if k in ("utm_source", "utm_medium", "gclid")}
        return Response(302, "", {"Location": f"{landing}?{urlencode(kept)}"})

    site.route(path, hop)
    return path


ENDPOINTS = {"plain": "/lead/{slug}", "spa": "/api/{slug}/leads", "iframe": "/mkto/{slug}/save2"}
_ADDRESS = re.compile(r"[\w.+-]+@[\w.-]+\.test")


def deliver_assets(site: LocalSite, kind: str, slug: str, maildir: Path, wrong: threading.Event) -> None:
    """After each successful submission, email the guide's download link (a moment later, as ESPs do).

    While `wrong` is set, the link serves another PDF: the broken twin of the asset.
    """
    endpoint = ENDPOINTS.get(kind, "/lead/{slug}").replace("{slug}", slug)
    submitted = site.routes[endpoint]
    title = f"{slug} buyer's guide"
    right = make_pdf(f"The {slug} Buyer's Guide", [f"Chapter one: choosing a {slug} vendor", "Checklist"], pad_to=8000)
    other = make_pdf("GDPR Readiness Guide", ["Lawful basis", "Data subject rights"], pad_to=8000)
    site.route(f"/dl/{slug}.pdf", lambda r: Response(200, other if wrong.is_set() else right, {}, "application/pdf"))

    def send(to: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "Acme <content@acme.test>", to, f"Your {title}"
        message.set_content(f"Hi Funnel, your guide: {site.url(f'/dl/{slug}.pdf')}")
        message.add_alternative(f'<p>Hi Funnel,</p><p><a href="{site.url(f"/dl/{slug}.pdf")}">Download the guide</a></p>'
                                '<p><a href="https://acme.test/unsubscribe">Unsubscribe</a></p>', subtype="html")
        deliver(maildir, message.as_bytes())

    def handle(request: Request) -> Response:
        response = submitted(request)
        found = _ADDRESS.search(unquote(request.body.decode("utf-8", "replace")))  # form-encoded or JSON alike
        if response.status < 400 and found:
            timer = threading.Timer(0.3, send, (found.group(0),))
            timer.daemon = True
            timer.start()
        return response

    site.route(endpoint, handle)


KINDS = ["plain", "spa", "iframe", "gdpr", "overlay", "honeypot", "select", "german"]


def install_refusals(site: LocalSite) -> dict[str, str]:
    """A page with no form and a page behind a login (the landing redirects to a sign-in form)."""
    site.page("/lp/noform", "<title>Offer</title><h1>Our offer</h1><p>Call us on 030 1234.</p>")
    site.redirect("/lp/members", "/login?next=/lp/members")
    site.page("/login", """<title>Sign in</title><h1>Sign in</h1><form id="login" method="post" action="/session">
      <label>Email <input type="email" name="email"></label><label>Password <input type="password" name="password"></label>
      <button type="submit">Sign in</button></form>""")
    return {"no form": "/lp/noform", "login": "/lp/members"}
