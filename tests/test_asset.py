"""The asset step: the promised white paper, and only that one, arrives.

Most tests drive the step directly against a real Maildir and a real local
site (fast: no browser); a few run whole funnels through `funnelwatch.run`.
Inbox backends themselves (Dovecot IMAP, SMTP) are in test_inbox.py.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from funnelwatch import Category, Status
from funnelwatch.clock import SYSTEM_CLOCK
from funnelwatch.demo.documents import make_docx, make_pdf
from funnelwatch.errors import MonitorProblem, StepFailed
from funnelwatch.inbox.maildir import MaildirInbox, deliver
from funnelwatch.schema import Settings
from funnelwatch.steps.asset import Asset, AssetSection
from funnelwatch.steps.base import RunServices, StepContext
from tests.fixtures.emails import (
    CMS_ERROR,
    PORTAL_LOGIN,
    attachment_email,
    confirm_email,
    hubspot_email,
    mailchimp_email,
    meta_refresh_tracker,
    newsletter_email,
    plain_email,
    tracked,
)

HIPAA_2026 = make_pdf("HIPAA Compliance Checklist 2026", ["Security Rule safeguards", "Privacy Rule basics"], pad_to=24_000)
HIPAA_2025 = make_pdf("HIPAA Compliance Checklist 2025", ["Security Rule safeguards (2025 edition)"], pad_to=24_000)
GDPR_GUIDE = make_pdf("GDPR Readiness Guide", ["Lawful basis", "Data subject rights"], pad_to=24_000)
PDF = "application/pdf"

HIPAA_SECTION = {
    "email": {"subject_contains": "HIPAA", "within": "3s"},
    "link_text": "Download",
    "expect": {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026", "text_contains": ["Security Rule"],
               "min_size": "20KB"},
}


@dataclass
class Outcome:
    status: Status
    step: str | None
    category: Category | None
    reason: str | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mail:
    """One submission's inbox: a real Maildir, this submission's token and address."""

    path: Path
    token: str
    address: str
    inbox: MaildirInbox

    def deliver(self, raw: bytes) -> None:
        deliver(self.path, raw)

    def deliver_later(self, raw: bytes, delay_s: float) -> None:
        timer = threading.Timer(delay_s, self.deliver, (raw,))
        timer.daemon = True
        timer.start()

    def run(self, section: dict[str, Any], timeout_s: float = 5.0) -> Outcome:
        """Run the asset step as the runner does, and type its outcome like the runner."""
        ctx = StepContext(check=None, config=SimpleNamespace(settings=Settings()), page=None, context=None,
                          viewport="desktop", run_id=1, token=self.token, address=self.address, timeout_s=timeout_s,
                          artifacts_dir=None,
                          services=RunServices(run_id=1, ledger=None, clock=SYSTEM_CLOCK, inbox=self.inbox))
        try:
            asyncio.run(Asset().run(ctx, AssetSection.model_validate(section)))
        except StepFailed as failure:
            return Outcome(Status.FAIL, "asset", failure.category, failure.reason, ctx.evidence.get("asset", {}))
        except MonitorProblem as problem:
            return Outcome(Status.ERROR, "asset", problem.category, problem.reason, ctx.evidence.get("asset", {}))
        return Outcome(Status.PASS, None, None, None, ctx.evidence.get("asset", {}))


@pytest.fixture
def mail(tmp_path: Path) -> Mail:
    token = "fw" + secrets.token_hex(5)
    inbox = MaildirInbox(tmp_path / "Maildir")
    inbox.open()
    return Mail(tmp_path / "Maildir", token, f"qa+{token}@example.com", inbox)


def assert_broken(outcome: Outcome, category: Category, *culprits: str) -> None:
    assert (outcome.status, outcome.step, outcome.category) == (Status.FAIL, "asset", category), outcome
    for culprit in culprits:
        assert culprit in (outcome.reason or ""), outcome.reason


def serve_pdf(site, name: str, data: bytes = HIPAA_2026) -> str:  # type: ignore[no-untyped-def]
    path = f"/hubfs/{name}-{secrets.token_hex(3)}.pdf"
    site.file(path, data, PDF)
    return path


# --- healthy ---------------------------------------------------------------------


def test_hubspot_email_with_tracked_link_delivers_the_promised_pdf(mail, site):
    link = tracked(site, "hipaa", serve_pdf(site, "hipaa"))
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link))
    outcome = mail.run(HIPAA_SECTION)
    assert outcome.status is Status.PASS, outcome.reason
    evidence = outcome.evidence
    assert evidence["email"]["subject"] == "Your HIPAA Compliance Checklist"
    assert "Funnel Test" in evidence["email"]["to"]
    assert evidence["email"]["attachments"][0]["inline"] is True
    assert [hop["status"] for hop in evidence["chain"]] == [302, 200]
    assert evidence["asset"]["type"] == "pdf" and evidence["asset"]["title"] == "HIPAA Compliance Checklist 2026"
    assert evidence["asset"]["size"] >= 20_000 and evidence["source"] == "link"


def test_mailchimp_html_only_base64_email_through_meta_refresh_tracker_passes(mail, site):
    link = meta_refresh_tracker(site, "ebook", serve_pdf(site, "ebook", make_pdf("Cloud Security E-book", ["Zero trust"])))
    mail.deliver(mailchimp_email(mail.address, "Your Cloud Security E-book", link))
    outcome = mail.run({"email": {"subject_contains": "e-book", "within": "3s"}, "link_text": "Get your e-book",
                        "expect": {"type": "pdf", "title_contains": "Cloud Security E-book", "text_contains": "Zero trust"}})
    assert outcome.status is Status.PASS, outcome.reason
    assert outcome.evidence["chain"][0].get("refresh") is True



def pdf_only_with_query(site, path: str, **wanted: str) -> None:  # type: ignore[no-untyped-def]
    """The PDF at `path` for a request carrying exactly the `wanted` query values; a 404 otherwise."""
    from funnelwatch.demo.server import Response

    def serve(request):  # type: ignore[no-untyped-def]
        got = {k: v[0] for k, v in request.query.items()}
        return Response(200, HIPAA_2026, {}, PDF) if got == wanted else Response(404, f"<h1>Unknown link {got}</h1>")

    site.route(path, serve)


def test_meta_refresh_url_with_an_ampersand_entity_is_followed_decoded(mail, site):
    pdf_only_with_query(site, "/dl/entity.pdf", a="1", b="2")
    site.page("/mc/entity", f'<html><head><meta http-equiv="Refresh" content="0; URL={site.url("/dl/entity.pdf")}'
                            '?a=1&amp;b=2"></head></html>')
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/mc/entity")))
    outcome = mail.run(HIPAA_SECTION)
    assert outcome.status is Status.PASS, outcome.reason
    assert [hop["url"] for hop in outcome.evidence["chain"]][-1] == site.url("/dl/entity.pdf?a=1&b=2")


def test_meta_refresh_without_url_equals_is_followed_as_the_html_standard_says(mail, site):
    site.file("/dl/bare.pdf", HIPAA_2026, PDF)
    site.page("/mc/bare", f'<html><head><meta http-equiv="refresh" content="0;{site.url("/dl/bare.pdf")}"></head></html>')
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/mc/bare")))
    outcome = mail.run(HIPAA_SECTION)
    assert outcome.status is Status.PASS, outcome.reason
    assert outcome.evidence["chain"][0].get("refresh") is True


@pytest.mark.parametrize(("content", "expected"), [
    ("0; URL=https://a/x?a=1&b=2", (0, "https://a/x?a=1&b=2")),
    ("0;https://a/dl.pdf", (0, "https://a/dl.pdf")),
    ("5", (5, None)),
    ("  3 , url = 'https://a/q?x=\"y\"'  trailing", (3, 'https://a/q?x="y"')),
    ("1.5; url=/next", (1, "/next")),
    (".5;url=/next", (0, "/next")),
    ('0; url="/quoted" rest', (0, "/quoted")),
    ("0; urn:isbn:123", (0, "urn:isbn:123")),
    ("soon; url=/x", None),
    ("0x; url=/x", None),
    ("", None),
])
def test_refresh_content_is_parsed_as_the_html_standard_says(content, expected):
    from funnelwatch.hops import parse_refresh

    assert parse_refresh(content) == expected

def test_docx_asset_is_read_for_title_and_text(mail, site):
    site.file("/dl/playbook.docx", make_docx("Incident Response Playbook", ["Containment steps"]),
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    mail.deliver(hubspot_email(mail.address, "Your playbook", site.url("/dl/playbook.docx"), link_text="Download"))
    outcome = mail.run({"email": {"subject_contains": "playbook", "within": "3s"}, "link_text": "Download",
                        "expect": {"type": "docx", "title_contains": "Incident Response Playbook",
                                   "text_contains": ["Containment steps"]}})
    assert outcome.status is Status.PASS, outcome.reason
    assert outcome.evidence["asset"]["type"] == "docx"


def test_html_asset_passes_when_a_page_was_promised(mail, site):
    site.page("/report/2026", "<title>State of Compliance 2026</title><h1>State of Compliance 2026</h1><p>Key findings</p>")
    mail.deliver(hubspot_email(mail.address, "Your report", site.url("/report/2026"), link_text="Read the report"))
    outcome = mail.run({"email": {"subject_contains": "report", "within": "3s"}, "link_text": "Read the report",
                        "expect": {"type": "html", "title_contains": "State of Compliance 2026", "text_contains": "Key findings"}})
    assert outcome.status is Status.PASS, outcome.reason


def test_attached_pdf_passes(mail):
    mail.deliver(attachment_email(mail.address, "Your HIPAA checklist", HIPAA_2026, "hipaa-checklist-2026.pdf"))
    outcome = mail.run({"email": {"subject_contains": "HIPAA", "within": "3s"}, "attachment": True,
                        "expect": {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026"}})
    assert outcome.status is Status.PASS, outcome.reason
    assert outcome.evidence["asset"]["filename"] == "hipaa-checklist-2026.pdf"



def pdf_with_only_an_xmp_title(title: str, lines: list[str]) -> bytes:
    """A PDF as InDesign-style tools write it: an empty Info /Title, the real one in XMP dc:title."""
    from pypdf import PdfWriter
    from pypdf.xmp import XmpInformation

    writer = PdfWriter(clone_from=io.BytesIO(make_pdf("", lines, pad_to=24_000)))
    xmp = XmpInformation.create()
    xmp.dc_title = {"x-default": title}
    writer.xmp_metadata = xmp
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_whose_info_title_is_empty_is_named_by_its_xmp_dc_title(mail):
    data = pdf_with_only_an_xmp_title("HIPAA Compliance Checklist 2026", ["Security Rule safeguards"])
    mail.deliver(attachment_email(mail.address, "Your HIPAA checklist", data, "hipaa-checklist-2026.pdf"))
    outcome = mail.run({"email": {"subject_contains": "HIPAA", "within": "3s"}, "attachment": True,
                        "expect": {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026"}})
    assert outcome.status is Status.PASS, outcome.reason
    assert outcome.evidence["asset"]["title"] == "HIPAA Compliance Checklist 2026"

def test_confirmation_and_newsletter_do_not_confuse_the_delivery_email(mail, site):
    link = tracked(site, "hipaa2", serve_pdf(site, "hipaa2"))
    mail.deliver(confirm_email(mail.address))
    mail.deliver(newsletter_email(mail.address))
    mail.deliver_later(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link), 0.5)
    outcome = mail.run(HIPAA_SECTION)
    assert outcome.status is Status.PASS, outcome.reason
    others = {m["subject"] for m in outcome.evidence["other_messages"]}
    assert others == {"Please confirm your subscription", "Acme weekly: five compliance tips"}


def test_plain_text_email_link_is_found_in_the_text_part(mail, site):
    path = serve_pdf(site, "plain")
    mail.deliver(plain_email(mail.address, "Your HIPAA checklist", f"Hi Funnel,\n\nDownload:\n{site.url(path)}\n"))
    outcome = mail.run(HIPAA_SECTION)
    assert outcome.status is Status.PASS, outcome.reason


def test_mail_for_other_submissions_is_ignored(mail, site):
    mail.deliver(hubspot_email("qa+fwsomeoneelse@example.com", "Your HIPAA Compliance Checklist",
                               site.url(serve_pdf(site, "other", GDPR_GUIDE))))
    outcome = mail.run({**HIPAA_SECTION, "email": {"subject_contains": "HIPAA", "within": "1s"}})
    assert_broken(outcome, Category.NO_EMAIL, mail.address, "nothing arrived")


# --- broken twins: the email ------------------------------------------------------------


def test_no_email_is_reported_as_no_email(mail):
    outcome = mail.run({**HIPAA_SECTION, "email": {"subject_contains": "HIPAA", "within": "1s"}})
    assert_broken(outcome, Category.NO_EMAIL, "'HIPAA'", mail.address, "nothing arrived")


def test_confirm_only_email_is_no_email_saying_what_arrived(mail):
    mail.deliver(confirm_email(mail.address))
    outcome = mail.run({**HIPAA_SECTION, "email": {"subject_contains": "HIPAA", "within": "1s"}})
    assert_broken(outcome, Category.NO_EMAIL, "'Please confirm your subscription'")


@pytest.mark.parametrize("tag", [
    "{{first_name}}", "{{ contact.firstname }}", "*|FNAME|*", "%%FirstName%%", "[FirstName]",
    "#{name}", "${name}", "<%= name %>", "{{lead.First Name:default=there}}", "%FIRSTNAME%",
])
def test_raw_merge_tag_in_the_body_is_reported_naming_the_tag(mail, site, tag):
    link = tracked(site, "mt", serve_pdf(site, "mt"))
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link, greeting=f"Hi {tag},"))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.MERGE_TAG, tag)


def test_raw_merge_tag_in_the_subject_is_reported(mail, site):
    mail.deliver(mailchimp_email(mail.address, "*|FNAME|*, your HIPAA checklist", site.url(serve_pdf(site, "s"))))
    outcome = mail.run({**HIPAA_SECTION, "link_text": "Get your e-book"})
    assert_broken(outcome, Category.MERGE_TAG, "*|FNAME|*", "subject")


def test_raw_merge_tag_in_a_link_is_reported(mail, site):
    link = site.url(serve_pdf(site, "l")) + "?email=%7B%7Bcontact.email%7D%7D"
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.MERGE_TAG, "{{contact.email}}", "link")


def test_rendered_email_with_brackets_and_percentages_is_not_a_merge_tag(mail, site):
    link = tracked(site, "ok", serve_pdf(site, "ok"))
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist [2026 edition]", link,
                               greeting="Hi Funnel, 30% off [limited offer] — {see inside}"))
    assert mail.run(HIPAA_SECTION).status is Status.PASS


def test_email_without_the_link_is_wrong_asset_listing_its_links(mail, site):
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/x"), link_text="Read online"))
    outcome = mail.run({**HIPAA_SECTION, "email": {"subject_contains": "HIPAA", "within": "1s"}})
    assert_broken(outcome, Category.WRONG_ASSET, "no link 'Download'", "'Read online")


# --- broken twins: the asset ---------------------------------------------------------------


def test_wrong_pdf_is_reported_as_wrong_asset_naming_both_titles(mail, site):
    link = tracked(site, "wrong", serve_pdf(site, "wrong", GDPR_GUIDE))
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.WRONG_ASSET, "'GDPR Readiness Guide'", "'HIPAA Compliance Checklist 2026'")
    assert outcome.evidence["asset"]["title"] == "GDPR Readiness Guide"


def test_last_years_pdf_is_wrong_asset(mail, site):
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url(serve_pdf(site, "old", HIPAA_2025))))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.WRONG_ASSET, "'HIPAA Compliance Checklist 2025'", "'HIPAA Compliance Checklist 2026'")


def test_missing_text_is_wrong_asset_naming_the_phrase(mail, site):
    data = make_pdf("HIPAA Compliance Checklist 2026", ["Privacy Rule basics"], pad_to=24_000)
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url(serve_pdf(site, "thin", data))))
    assert_broken(mail.run(HIPAA_SECTION), Category.WRONG_ASSET, "does not mention 'Security Rule'")


def test_asset_404_is_asset_unreachable_with_url_and_status(mail, site):
    link = tracked(site, "gone", "/hubfs/deleted-checklist.pdf")
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", link))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.ASSET_UNREACHABLE, "/hubfs/deleted-checklist.pdf", "HTTP 404")
    assert [hop["status"] for hop in outcome.evidence["chain"]] == [302, 404]


def test_asset_server_error_is_asset_unreachable(mail, site):
    site.page("/dl/broken", "<h1>Internal Server Error</h1>", status=503)
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/dl/broken")))
    assert_broken(mail.run(HIPAA_SECTION), Category.ASSET_UNREACHABLE, "/dl/broken", "HTTP 503")


def test_asset_host_down_is_asset_unreachable(mail):
    from tests.fixtures.dovecot import free_port

    dead = f"http://127.0.0.1:{free_port()}/checklist.pdf"
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", dead))
    assert_broken(mail.run(HIPAA_SECTION), Category.ASSET_UNREACHABLE, dead, "connection refused")


def test_redirect_loop_is_asset_unreachable(mail, site):
    site.redirect("/loop/a", "/loop/b")
    site.redirect("/loop/b", "/loop/a")
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/loop/a")))
    assert_broken(mail.run(HIPAA_SECTION), Category.ASSET_UNREACHABLE, "loop")


def test_portal_login_page_instead_of_pdf_is_wrong_asset_naming_the_page(mail, site):
    site.redirect("/dl/gated", "/portal/login?next=/hubfs/hipaa.pdf", keep_query=False)
    site.page("/portal/login", PORTAL_LOGIN)
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/dl/gated")))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.WRONG_ASSET, "HTML page titled 'Sign in — Acme Partner Portal'", "/portal/login", "not a PDF")



XHTML_SIGN_IN = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<!-- ' + "generated " * 300 + '-->\n'
                 '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in — Acme SSO</title></head>'
                 '<body><form><input name="user"/></form></body></html>')


@pytest.mark.parametrize(("body", "named"), [
    ('<script>location.replace("/portal/login")</script><noscript>Continue</noscript>', "an HTML page"),
    ("\n\t <TABLE><tr><td><h2>Tracking your click…</h2></td></tr></TABLE>", "an HTML page headed 'Tracking your click…'"),
    (XHTML_SIGN_IN, "an HTML page titled 'Sign in — Acme SSO'"),
], ids=["javascript-redirect", "table", "xhtml"])
def test_tracker_or_sign_in_page_instead_of_pdf_is_named_as_an_html_page(mail, site, body, named):
    site.page("/dl/tracker-page", body, content_type="text/plain")
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/dl/tracker-page")))
    outcome = mail.run(HIPAA_SECTION)
    assert_broken(outcome, Category.WRONG_ASSET, named, "not a PDF")
    assert outcome.evidence["asset"]["type"] == "html"


@pytest.mark.parametrize(("head", "kind"), [
    (b"<!DOCTYPE HTML>", "html"), (b"<html>", "html"), (b"<head>", "html"), (b"<script src=x>", "html"),
    (b"<iframe src=x>", "html"), (b"<h1>", "html"), (b"<div class=a>", "html"), (b"<font>", "html"),
    (b"<table>", "html"), (b"<a href=/x>go</a>", "html"), (b"<style>", "html"), (b"<title>", "html"),
    (b"<b>bold</b>", "html"), (b"<body>", "html"), (b"<br>", "html"), (b"<p>", "html"), (b"<!-- x -->", "html"),
    (b"\xef\xbb\xbf \x0c\r\n<P>", "html"),
    (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>", "html"),
    (b"<pre>log output", "text"), (b"<abbr>", "text"), (b"<?xml version='1.0'?><feed/>", "text"),
    (b"a < b and <p> later", "text"), (b"plain words", "text"),
])
def test_sniffing_follows_the_whatwg_html_patterns(head, kind):
    from funnelwatch.asset_facts import sniff

    assert sniff(head) == kind

def test_cms_error_page_served_as_pdf_with_200_is_wrong_asset(mail, site):
    site.page("/hubfs/moved.pdf", CMS_ERROR, content_type=PDF)
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/hubfs/moved.pdf")))
    assert_broken(mail.run(HIPAA_SECTION), Category.WRONG_ASSET, "Oops! That page can’t be found.", "not a PDF")


def test_attachment_of_the_wrong_edition_is_wrong_asset(mail):
    mail.deliver(attachment_email(mail.address, "Your HIPAA checklist", HIPAA_2025, "hipaa-checklist.pdf"))
    outcome = mail.run({"email": {"subject_contains": "HIPAA", "within": "3s"}, "attachment": True,
                        "expect": {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026"}})
    assert_broken(outcome, Category.WRONG_ASSET, "'HIPAA Compliance Checklist 2025'", "hipaa-checklist.pdf")


def test_email_without_attachment_is_wrong_asset(mail, site):
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/x")))
    outcome = mail.run({"email": {"subject_contains": "HIPAA", "within": "1s"}, "attachment": True})
    assert_broken(outcome, Category.WRONG_ASSET, "no attachment", "only inline images")


def test_oversize_download_is_wrong_asset_and_stops(mail, site):
    site.file("/dl/huge.pdf", make_pdf("HIPAA Compliance Checklist 2026", ["x"], pad_to=300_000), PDF)
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/dl/huge.pdf")))
    outcome = mail.run({**HIPAA_SECTION, "expect": {"type": "pdf", "max_size": "100KB"}})
    assert_broken(outcome, Category.WRONG_ASSET, "100.0 KB limit", "max_size")


def test_too_small_file_is_wrong_asset(mail, site):
    tiny = make_pdf("HIPAA Compliance Checklist 2026", ["Security Rule"])
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url(serve_pdf(site, "tiny", tiny))))
    assert_broken(mail.run(HIPAA_SECTION), Category.WRONG_ASSET, "only", "at least 20.0 KB")


def test_malformed_pdf_is_wrong_asset_not_a_crash(mail, site):
    broken = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\n" + b"\x00garbage" * 4000
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url(serve_pdf(site, "bad", broken))))
    outcome = mail.run({**HIPAA_SECTION, "expect": {"type": "pdf", "title_contains": "HIPAA"}})
    assert_broken(outcome, Category.WRONG_ASSET, "PDF")


def test_zip_bomb_docx_is_refused_with_a_reason(mail, site):
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * 40_000_000)
    site.file("/dl/bomb.docx", bomb.getvalue(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    mail.deliver(hubspot_email(mail.address, "Your HIPAA Compliance Checklist", site.url("/dl/bomb.docx")))
    outcome = mail.run({**HIPAA_SECTION, "expect": {"type": "docx", "title_contains": "HIPAA"}})
    assert_broken(outcome, Category.WRONG_ASSET, "zip bomb")


def test_no_inbox_configured_is_a_monitor_problem(mail):
    mail.inbox = None  # type: ignore[assignment]
    outcome = mail.run(HIPAA_SECTION)
    assert (outcome.status, outcome.category) == (Status.ERROR, Category.CONFIG)


# --- whole funnels through funnelwatch.run --------------------------------------------------


def lead_form(site, slug: str, make_email) -> None:  # type: ignore[no-untyped-def]
    """A landing page whose form posts to a handler that mails `make_email(to)` to the Maildir of the project."""
    site.page(f"/lp/{slug}", f"""<title>{slug}</title><h1>Get the guide</h1>
<form method="post" action="/lead/{slug}"><input type="email" name="email"><button type="submit">Send</button></form>""")

    def lead(request):  # type: ignore[no-untyped-def]
        make_email(request.form()["email"])
        return __import__("funnelwatch.demo.server", fromlist=["Response"]).Response(
            200, '<title>Thanks</title><h1>Thank you!</h1><p>Check your inbox.</p>'
                 '<a class="dl" href="/hubfs/direct.pdf">Download the guide now</a>')

    site.route(f"/lead/{slug}", lead)


def funnel(slug: str, url: str, asset: str) -> str:
    return f"""
name: {slug}
landing:
  url: {url}
form:
  fill:
    email: "{{inbox}}"
  success:
    text: Thank you
asset:
{asset}"""


def maildir_project(project, tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.fixtures.projects import BASE_CONFIG

    project.config(BASE_CONFIG + f"inbox:\n  maildir:\n    path: {tmp_path / 'inbox'}\n  address: qa+{{token}}@example.com\n")
    return tmp_path / "inbox"


def test_whole_funnel_with_wrong_pdf_fails_at_the_asset_step(project, site, tmp_path):
    box = maildir_project(project, tmp_path)
    path = serve_pdf(site, "e2e", GDPR_GUIDE)
    lead_form(site, "e2e-wrong", lambda to: deliver(box, hubspot_email(to, "Your HIPAA Compliance Checklist", site.url(path))))
    project.check("wrong", funnel("wrong", site.url("/lp/e2e-wrong"), """
  email: {subject_contains: HIPAA, within: 5s}
  link_text: Download
  expect: {type: pdf, title_contains: HIPAA Compliance Checklist}"""))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "asset", Category.WRONG_ASSET), result.reason
    assert "'GDPR Readiness Guide'" in result.reason and "'HIPAA Compliance Checklist'" in result.reason
    assert result.evidence["asset"]["email"]["subject"] == "Your HIPAA Compliance Checklist"


def test_download_link_on_the_thank_you_page_is_checked(project, site, tmp_path):
    maildir_project(project, tmp_path)
    site.file("/hubfs/direct.pdf", HIPAA_2026, PDF)
    lead_form(site, "e2e-page", lambda to: None)
    project.check("page", funnel("page", site.url("/lp/e2e-page"), """
  page_link: Download the guide
  expect: {type: pdf, title_contains: HIPAA Compliance Checklist 2026}"""))
    result = project.run_one()
    assert result.status is Status.PASS, result.reason


def test_thank_you_page_link_to_a_login_page_is_wrong_asset(project, site, tmp_path):
    maildir_project(project, tmp_path)
    site.redirect("/hubfs/direct.pdf", "/portal/login", keep_query=False)
    site.page("/portal/login", PORTAL_LOGIN)
    lead_form(site, "e2e-login", lambda to: None)
    project.check("login", funnel("login", site.url("/lp/e2e-login"), """
  page_link: a.dl
  expect: {type: pdf}"""))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "asset", Category.WRONG_ASSET), result.reason
    assert "Sign in — Acme Partner Portal" in result.reason
