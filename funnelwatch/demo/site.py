"""The bundled demo site: healthy funnels and a broken twin for each breakage.

Its emails land in a Maildir (what a local MTA would do), each with the
`Authentication-Results` the demo's receiving server (`mx.acme.test`) would
write, and its "sales team" answers demo requests after a configurable
delay, with an immediate auto-reply first, as real teams do. One funnel's
email is filed into the Maildir++ `.Junk` folder, another's DKIM signature
fails. Behind its mail relay (`relay.py`) sales@ and support@ answer
`contact:` probes, one in time and one late.

    site = build_demo_site(Path("inbox")).start()
"""

from __future__ import annotations

import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from pathlib import Path
from typing import Any

from ..inbox.maildir import deliver
from .documents import make_pdf
from .relay import DemoRelay
from .server import LocalSite, Request, Response

FAST_REPLY_S = 1.0
SLOW_REPLY_S = 8.0
#: The demo's receiving server, as `inbox.trusted_authserv_id` names it.
RECEIVER = "mx.acme.test"
TRUSTED = (f"{RECEIVER}; spf=pass smtp.mailfrom=acme.test; dkim=pass header.d=acme.test header.s=fw1; "
           "dmarc=pass header.from=acme.test")
BROKEN_DKIM = (f"{RECEIVER}; spf=pass smtp.mailfrom=acme.test; dkim=fail (body hash did not verify) header.d=acme.test "
               "header.s=fw1; dmarc=fail header.from=acme.test")


def _page(title: str, body: str, extra_head: str = "") -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:720px;margin:2rem auto;padding:0 1rem}}
#cookie{{position:fixed;bottom:0;left:0;right:0;background:#222;color:#fff;padding:1rem}}</style>{extra_head}</head>
<body>{body}</body></html>"""


def _lead_form(action: str, button: str = "Download now", extra: str = "") -> str:
    return f"""<form id="download" method="post" action="{action}">
<label>Work email <input type="email" name="email" required></label>
<label>First name <input name="first_name"></label>
<label>Company <input name="company"></label>{extra}
<button type="submit">{escape(button)}</button></form>"""


COOKIE_BANNER = '<div id="cookie">We use cookies. <button id="cookie-accept" onclick="this.parentNode.remove()">Accept</button></div>'


class DemoSite:
    """Wires the demo pages onto a LocalSite and delivers its emails to `maildir`."""

    def __init__(self, maildir: Path, slow_reply_s: float = SLOW_REPLY_S, fast_reply_s: float = FAST_REPLY_S):
        self.maildir = maildir
        self.slow_reply_s = slow_reply_s
        self.fast_reply_s = fast_reply_s
        self.site = LocalSite()
        self._timers: list[threading.Timer] = []
        self.relay = DemoRelay(maildir, self._later, fast_reply_s, slow_reply_s)
        self._routes()

    @property
    def base(self) -> str:
        return self.site.base

    def start(self) -> "DemoSite":
        self.site.start()
        self.relay.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.relay.stop()
        self.site.stop()

    # --- email ------------------------------------------------------------------

    def send(self, to: str, subject: str, html: str, text: str, sender: str = "Acme Health <content@acme.test>",
             headers: dict[str, str] | None = None, folder: str | None = None, auth: str = TRUSTED) -> None:
        message = EmailMessage()
        message["Authentication-Results"] = auth
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain="acme.test")
        for key, value in (headers or {}).items():
            message[key] = value
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        deliver(self.maildir, message.as_bytes(), folder)

    def wait_for_outbox(self, timeout_s: float) -> bool:
        """Wait until every email the site scheduled (the sales team's replies) was sent."""
        deadline = time.monotonic() + timeout_s
        for timer in list(self._timers):
            timer.join(max(0.0, deadline - time.monotonic()))
        return not any(timer.is_alive() for timer in self._timers)

    def _later(self, delay_s: float, fn: object, *args: object) -> None:
        timer = threading.Timer(delay_s, fn, args)  # type: ignore[arg-type]
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _delivery(self, to: str, name: str, subject: str, link_path: str, folder: str | None = None,
                  auth: str = TRUSTED) -> None:
        link = self.site.url(link_path)
        html = (
            f"<p>Hi {escape(name)},</p><p>Thanks for your interest. Your copy is ready:</p>"
            f'<p><a href="{link}">Download</a></p><p>— The Acme team</p>'
        )
        self.send(to, subject, html, f"Hi {name},\n\nYour copy is ready: {link}\n", folder=folder, auth=auth,
                  headers={"List-Unsubscribe": "<https://acme.test/unsubscribe>"})

    # --- pages ------------------------------------------------------------------

    def _routes(self) -> None:
        s = self.site
        s.page("/", _page("Acme Health", "<h1>Acme Health</h1><p>Compliance made simple.</p>"))

        # 1. Healthy white-paper funnel: ad → tracker hops → landing → form → email → PDF.
        s.redirect("/go/hipaa", "/t/hipaa", 302)
        s.redirect("/t/hipaa", "/lp/hipaa", 301)
        s.page("/lp/hipaa", _page(
            "Free HIPAA Compliance Checklist — 2026 edition",
            "<h1>Free HIPAA Compliance Checklist</h1><p>Get the 2026 edition of our HIPAA compliance checklist, free. "
            "40 pages covering the Security Rule and the Privacy Rule.</p>" + _lead_form("/lead/hipaa") + COOKIE_BANNER,
        ))
        s.route("/lead/hipaa", self._lead("hipaa", "Your HIPAA Compliance Checklist", "/dl/hipaa"))
        s.redirect("/dl/hipaa", "/assets/hipaa-checklist-2026.pdf", 302, keep_query=False)
        s.file("/assets/hipaa-checklist-2026.pdf", make_pdf(
            "HIPAA Compliance Checklist 2026", ["Security Rule safeguards", "Privacy Rule basics"], pad_to=24_000), "application/pdf")
        s.page("/thank-you", _page("Thank you", "<h1>Thank you!</h1><p>Check your inbox for your download.</p>"))

        # 2. Ad that loses its tracking parameters on the way.
        s.redirect("/go/gdpr", "/lp/gdpr", 302, keep_query=False)
        s.page("/lp/gdpr", _page("GDPR Readiness Guide", "<h1>GDPR Readiness Guide</h1><p>Free guide for 2026.</p>"))

        # 3. Ad whose page changed its price.
        s.redirect("/go/pricing", "/lp/pricing", 302)
        s.page("/lp/pricing", _page("Acme Compliance Suite pricing", "<h1>Acme Compliance Suite</h1><p>Only $59/month. 14-day free trial.</p>"))

        # 4. Old campaign whose landing page is gone.
        s.redirect("/go/summer", "/lp/summer-2025", 302)

        # 5. Webinar form whose endpoint fails.
        s.page("/lp/webinar", _page("Webinar: HIPAA in 30 minutes", "<h1>Webinar: HIPAA in 30 minutes</h1>" + _lead_form("/lead/webinar", "Register")))
        s.route("/lead/webinar", lambda r: Response(500, _page("Error", "<h1>Internal Server Error</h1>")))

        # 6. E-book funnel that delivers the wrong PDF.
        s.page("/lp/ebook", _page("Cloud Security E-book", "<h1>The Cloud Security E-book</h1>" + _lead_form("/lead/ebook")))
        s.route("/lead/ebook", self._lead("ebook", "Your Cloud Security E-book", "/dl/ebook"))
        s.redirect("/dl/ebook", "/assets/gdpr-readiness-guide.pdf", 302, keep_query=False)
        s.file("/assets/gdpr-readiness-guide.pdf", make_pdf(
            "GDPR Readiness Guide", ["Lawful basis", "Data subject rights"], pad_to=24_000), "application/pdf")

        # 6b. Report funnel whose email shows a raw Mailchimp merge tag ("Hi *|FNAME|*,").
        s.page("/lp/report", _page("2026 Ransomware Report", "<h1>The 2026 Ransomware Report</h1>" + _lead_form("/lead/report")))
        s.route("/lead/report", self._lead("report", "Your 2026 Ransomware Report", "/dl/report", name="*|FNAME|*"))
        s.redirect("/dl/report", "/assets/ransomware-report-2026.pdf", 302, keep_query=False)
        s.file("/assets/ransomware-report-2026.pdf", make_pdf(
            "2026 Ransomware Report", ["Attack trends", "Recovery costs"], pad_to=24_000), "application/pdf")

        # 6c. Guide funnel whose email the receiving server files into Junk.
        s.page("/lp/zero-trust", _page("Zero Trust Guide", "<h1>The Zero Trust Guide</h1>" + _lead_form("/lead/zero-trust")))
        s.route("/lead/zero-trust", self._lead("zero-trust", "Your Zero Trust Guide", "/dl/zero-trust", folder="Junk"))
        s.redirect("/dl/zero-trust", "/assets/zero-trust-guide.pdf", 302, keep_query=False)
        s.file("/assets/zero-trust-guide.pdf", make_pdf(
            "Zero Trust Guide", ["Never trust, always verify"], pad_to=24_000), "application/pdf")

        # 6d. Checklist funnel whose ESP signs with a broken DKIM key (DMARC fails with it).
        s.page("/lp/soc2", _page("SOC 2 Checklist", "<h1>The SOC 2 Checklist</h1>" + _lead_form("/lead/soc2")))
        s.route("/lead/soc2", self._lead("soc2", "Your SOC 2 Checklist", "/dl/soc2", auth=BROKEN_DKIM))
        s.redirect("/dl/soc2", "/assets/soc2-checklist.pdf", 302, keep_query=False)
        s.file("/assets/soc2-checklist.pdf", make_pdf(
            "SOC 2 Checklist", ["Trust services criteria"], pad_to=24_000), "application/pdf")

        # 7./8. Demo requests: a team that answers fast, and one that answers late.
        for slug, label in (("demo", "Book a demo"), ("demo-partner", "Book a partner demo")):
            s.page(f"/lp/{slug}", _page(label, f"<h1>{label}</h1>" + _lead_form(f"/lead/{slug}", "Request demo")))
            s.route(f"/lead/{slug}", self._demo_request(slug))
        s.page("/demo-thanks", _page("Thanks", "<h1>Thanks — we'll be in touch shortly.</h1>"))

    def _lead(self, slug: str, subject: str, link_path: str, name: str | None = None, folder: str | None = None,
              auth: str = TRUSTED) -> Any:
        def handle(request: Request) -> Response:
            form = request.form()
            to = form.get("email", "")
            if not to:
                return Response(400, _page("Error", "<p class='error'>Please enter your email.</p>"))
            self._later(0.3, self._delivery, to, name or form.get("first_name", "there"), subject, link_path, folder, auth)
            return Response(303, "", {"Location": "/thank-you"})

        return handle

    def _demo_request(self, slug: str) -> Any:
        delay = self.fast_reply_s if slug == "demo" else self.slow_reply_s

        def handle(request: Request) -> Response:
            to = request.form().get("email", "")
            self.send(to, "We received your demo request", "<p>Thanks! This is an automatic confirmation.</p>",
                      "Thanks! This is an automatic confirmation.", sender="Acme <noreply@acme.test>",
                      headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})
            self._later(0.2, self.send, to, "Your demo prep guide: 5 questions to ask", "<p>Our newsletter.</p>",
                        "Our newsletter.", "Acme Marketing <news@acme.test>",
                        {"Precedence": "bulk", "List-Unsubscribe": "<https://acme.test/unsubscribe>"})
            self._later(delay, self.send, to, "Your Acme demo", "<p>Hi, this is Sam from Acme. When suits you?</p>",
                        "Hi, this is Sam from Acme. When suits you?", "Sam Rivera <sam@acme.test>")
            return Response(303, "", {"Location": "/demo-thanks"})

        return handle


def build_demo_site(maildir: Path, **options: float) -> DemoSite:
    return DemoSite(maildir, **options)


def wait_for_quiet(seconds: float) -> None:
    time.sleep(seconds)
