"""Where the email landed, and whether receivers trust it (PRODUCT.md, same heading).

Real Dovecot (a `Junk` mailbox flagged `\\Junk`; a Gmail-style `[Gmail]/Spam`
found by its name) and real Maildirs (`.Junk`, `.Spam`). Most tests drive the
asset step directly (no browser); a follow-up reply in Junk and one whole
funnel run through `funnelwatch.run` with real Chromium.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from funnelwatch import Category, Status
from funnelwatch.authres import parse, receiver_verdicts
from funnelwatch.clock import SYSTEM_CLOCK, FixedClock
from funnelwatch.demo.documents import make_pdf
from funnelwatch.errors import MonitorProblem, StepFailed
from funnelwatch.inbox import junk
from funnelwatch.inbox.imap import ImapInbox, ImapSettings
from funnelwatch.inbox.maildir import MaildirInbox, deliver
from funnelwatch.placement import NOT_REPORTED
from funnelwatch.schema import Settings
from funnelwatch.steps.asset import Asset, AssetSection
from funnelwatch.steps.base import RunServices, StepContext
from tests.fixtures.emails import attachment_email
from tests.fixtures.projects import BASE_CONFIG
from tests.fixtures.sales import demo_check

HIPAA = make_pdf("HIPAA Compliance Checklist 2026", ["Security Rule safeguards"], pad_to=8_000)
GDPR = make_pdf("GDPR Readiness Guide", ["Lawful basis"], pad_to=8_000)
SECTION = {"email": {"subject_contains": "HIPAA", "within": "2s"}, "attachment": True,
           "expect": {"type": "pdf", "title_contains": "HIPAA Compliance Checklist 2026"}}
MX = "mx.funnelwatch.test"
PASSING = f"{MX}; spf=pass smtp.mailfrom=acme.test; dkim=pass header.d=acme.test header.s=s1; dmarc=pass header.from=acme.test"


def new_token() -> str:
    return "fw" + secrets.token_hex(5)


def email(to: str, *results: str, pdf: bytes = HIPAA, extra: tuple[str, ...] = ()) -> bytes:
    """The delivery email as the receiving server stored it: its Authentication-Results on top (first = top-most)."""
    head = "".join(f"Authentication-Results: {r}\r\n" for r in results) + "".join(f"{x}\r\n" for x in extra)
    return head.encode() + attachment_email(to, "Your HIPAA Compliance Checklist", pdf, "hipaa.pdf")


def run_asset(inbox: Any, token: str, trusted: str | None = None, section: dict[str, Any] = SECTION) -> tuple[Any, ...]:
    """The asset step as the runner runs it: (status, step, category, reason, evidence)."""
    settings = Settings.model_validate({"inbox": {"trusted_authserv_id": trusted}} if trusted else {})
    ctx = StepContext(check=None, config=SimpleNamespace(settings=settings), page=None, context=None, viewport="desktop",
                      run_id=1, token=token, address=f"qa+{token}@example.com", timeout_s=5, artifacts_dir=None,
                      services=RunServices(run_id=1, ledger=None, clock=SYSTEM_CLOCK, inbox=inbox))  # type: ignore[arg-type]
    try:
        asyncio.run(Asset().run(ctx, AssetSection.model_validate(section)))
    except StepFailed as failure:
        return Status.FAIL, "asset", failure.category, failure.reason, ctx.evidence.get("asset", {})
    except MonitorProblem as problem:
        return Status.ERROR, "asset", problem.category, problem.reason, ctx.evidence.get("asset", {})
    return Status.PASS, None, None, None, ctx.evidence.get("asset", {})


def imap(server: Any, **settings: Any) -> ImapInbox:
    inbox = ImapInbox(ImapSettings(host="127.0.0.1", port=server.imap_port, ssl=False, username=server.user,
                                   password=server.password, **settings), address="qa+{token}@example.com", timeout_s=5)
    inbox.open()
    return inbox


def through_imap(server: Any, token: str, trusted: str | None = None, **settings: Any) -> tuple[Any, ...]:
    inbox = imap(server, **settings)
    try:
        return run_asset(inbox, token, trusted)
    finally:
        inbox.close()


# --- the spam folder: IMAP -----------------------------------------------------------------


def test_email_in_junk_is_reported_as_email_in_spam_and_stays_unread_in_junk(dovecot):
    token = new_token()
    dovecot.file_into("Junk", email(dovecot.address(token), PASSING))
    status, step, category, reason, evidence = through_imap(dovecot, token)
    assert (status, step, category) == (Status.FAIL, "asset", Category.EMAIL_IN_SPAM), reason
    assert reason == "the delivery email arrived in Junk, not INBOX"
    assert evidence["email"]["folder"] == "Junk" and evidence["email"]["in_spam"] is True
    assert evidence["asset"]["title"] == "HIPAA Compliance Checklist 2026"  # the asset was still opened and checked
    assert evidence["content_verdict"]["ok"] is True
    where = dovecot.flags_where(token)
    assert where["INBOX"] == [] and len(where["Junk"]) == 1  # not moved
    assert "\\Seen" not in where["Junk"][0]  # not marked read


def test_mail_filed_into_junk_while_waiting_is_seen_at_the_next_poll(dovecot):
    import threading

    from funnelwatch.inbox.base import wait_for

    token = new_token()
    inbox = imap(dovecot)
    timer = threading.Timer(0.6, dovecot.file_into, ("Junk", email(dovecot.address(token), PASSING)))
    try:
        assert inbox.messages_for(token) == [] and inbox.messages_for(token) == []
        timer.start()
        wait = asyncio.run(wait_for(inbox, token, lambda m: "HIPAA" in m.subject, within_s=10, max_poll_s=0.3))
        assert wait.match is not None and (wait.match.folder, wait.match.in_junk) == ("Junk", True)
    finally:
        timer.cancel()
        inbox.close()


def test_gmail_spam_folder_is_found_by_its_name(dovecot_gmail):
    token = new_token()
    dovecot_gmail.file_into("[Gmail]/Spam", email(dovecot_gmail.address(token), PASSING))
    status, step, category, reason, _ = through_imap(dovecot_gmail, token)
    assert (status, step, category) == (Status.FAIL, "asset", Category.EMAIL_IN_SPAM), reason
    assert reason == "the delivery email arrived in [Gmail]/Spam, not INBOX"
    assert "\\Seen" not in dovecot_gmail.flags_where(token)["[Gmail]/Spam"][0]


def test_wrong_asset_in_junk_fails_as_spam_and_keeps_the_assets_verdict(dovecot):
    token = new_token()
    dovecot.file_into("Junk", email(dovecot.address(token), PASSING, pdf=GDPR))
    status, step, category, reason, evidence = through_imap(dovecot, token)
    assert (status, step, category) == (Status.FAIL, "asset", Category.EMAIL_IN_SPAM), reason
    verdict = evidence["content_verdict"]
    assert verdict["ok"] is False and verdict["category"] == "wrong_asset" and "GDPR Readiness Guide" in verdict["reason"]


def test_spam_folders_off_looks_only_into_the_inbox_folder(dovecot):
    token = new_token()
    dovecot.file_into("Junk", email(dovecot.address(token), PASSING))
    status, step, category, reason, _ = through_imap(dovecot, token, spam_folders=[])
    assert (status, step, category) == (Status.FAIL, "asset", Category.NO_EMAIL), reason


def test_spam_folders_listed_by_name_are_searched(dovecot_gmail):
    token = new_token()
    dovecot_gmail.file_into("[Gmail]/Spam", email(dovecot_gmail.address(token), PASSING))
    status, _, category, reason, _ = through_imap(dovecot_gmail, token, spam_folders=["[gmail]/spam"])
    assert (status, category) == (Status.FAIL, Category.EMAIL_IN_SPAM) and "[Gmail]/Spam" in reason, reason


def test_a_listed_spam_folder_the_server_lacks_is_an_inbox_error_naming_it(dovecot):
    with pytest.raises(MonitorProblem) as caught:
        imap(dovecot, spam_folders=["Bulk Mail"])
    assert caught.value.category is Category.INBOX
    assert "no folder 'Bulk Mail'" in caught.value.reason and "spam_folders" in caught.value.reason


# --- the spam folder: Maildir ---------------------------------------------------------------


@pytest.mark.parametrize("folder", ["Junk", "Spam"])
def test_email_in_a_maildir_junk_folder_is_email_in_spam_and_is_not_moved(tmp_path, folder):
    token = new_token()
    name = deliver(tmp_path / "Maildir", email(f"qa+{token}@example.com", PASSING), folder)
    inbox = MaildirInbox(tmp_path / "Maildir")
    inbox.open()
    status, step, category, reason, evidence = run_asset(inbox, token)
    assert (status, step, category) == (Status.FAIL, "asset", Category.EMAIL_IN_SPAM), reason
    assert reason == f"the delivery email arrived in {folder}, not INBOX"
    assert os.listdir(tmp_path / "Maildir" / f".{folder}" / "new") == [name]  # left where it was, unread


def test_maildir_spam_folders_list_and_off(tmp_path):
    token = new_token()
    deliver(tmp_path / "Maildir", email(f"qa+{token}@example.com", PASSING), "Quarantine")
    assert run_asset(MaildirInbox(tmp_path / "Maildir"), token)[2] is Category.NO_EMAIL  # not a usual name
    assert run_asset(MaildirInbox(tmp_path / "Maildir", ["Quarantine"]), token)[2] is Category.EMAIL_IN_SPAM
    deliver(tmp_path / "Maildir", email(f"qa+{token}@example.com", PASSING), "Junk")
    assert run_asset(MaildirInbox(tmp_path / "Maildir", []), token)[2] is Category.NO_EMAIL


# --- receivers' verdicts (Authentication-Results) ------------------------------------------


def test_healthy_mail_in_the_inbox_with_dkim_and_dmarc_pass_passes_and_shows_the_verdicts(dovecot):
    token = new_token()
    dovecot.deliver(email(dovecot.address(token), PASSING, extra=("List-Unsubscribe: <https://acme.test/u>",)),
                    dovecot.address(token), sender="bounce@esp.acme.test")  # LMTP writes Return-Path from the envelope
    status, _, category, reason, evidence = through_imap(dovecot, token)
    assert status is Status.PASS, reason
    facts = evidence["email"]
    assert facts["folder"] == "INBOX" and facts["in_spam"] is False
    assert (facts["auth"]["spf"], facts["auth"]["dkim"], facts["auth"]["dmarc"]) == ("pass", "pass", "pass")
    assert facts["auth"]["authserv_id"] == MX and facts["auth"]["signing_domain"] == "acme.test"
    assert facts["return_path"] == "<bounce@esp.acme.test>" and facts["list_unsubscribe"] is True


@pytest.mark.parametrize("results, says", [
    (f"{MX}; spf=pass smtp.mailfrom=acme.test; dkim=fail (bad signature) header.d=acme.test; dmarc=pass header.from=acme.test",
     "dkim=fail (signed by acme.test)"),
    (f"{MX}; spf=pass smtp.mailfrom=esp.test; dkim=pass header.d=esp.test; dmarc=fail header.from=acme.test",
     "dmarc=fail"),
    (f"{MX}; spf=softfail smtp.mailfrom=acme.test; dkim=none; dmarc=none", "spf=softfail"),
    (f"{MX}; spf=fail smtp.mailfrom=acme.test", "no DKIM signature"),
])
def test_receivers_failing_verdicts_are_email_auth_fail_quoting_them(dovecot, results, says):
    token = new_token()
    dovecot.deliver(email(dovecot.address(token), results), dovecot.address(token))
    status, step, category, reason, evidence = through_imap(dovecot, token)
    assert (status, step, category) == (Status.FAIL, "asset", Category.EMAIL_AUTH_FAIL), reason
    assert reason.startswith(f"receivers distrust the delivery email: {MX} reports ") and says in reason, reason
    assert evidence["content_verdict"]["ok"] is True


def test_spf_softfail_with_a_dkim_pass_is_trusted(tmp_path):
    token = new_token()
    deliver(tmp_path, email(f"qa+{token}@example.com", f"{MX}; spf=softfail; dkim=pass header.d=acme.test; dmarc=pass"))
    assert run_asset(MaildirInbox(tmp_path), token)[0] is Status.PASS


def test_missing_authentication_results_is_shown_as_not_reported_never_a_failure(tmp_path):
    token = new_token()
    deliver(tmp_path, email(f"qa+{token}@example.com"))
    status, _, _, reason, evidence = run_asset(MaildirInbox(tmp_path), token)
    assert status is Status.PASS, reason
    assert evidence["email"]["auth"] == NOT_REPORTED == "not reported by the receiving server"


def test_a_forged_header_below_the_receivers_is_ignored(dovecot):
    token = new_token()
    forged = "mx.funnelwatch.test; spf=pass; dkim=pass header.d=acme.test; dmarc=pass"
    honest = f"{MX}; spf=pass; dkim=fail header.d=acme.test; dmarc=fail header.from=acme.test"
    dovecot.deliver(email(dovecot.address(token), honest, forged), dovecot.address(token))
    assert through_imap(dovecot, token)[2] is Category.EMAIL_AUTH_FAIL
    other = new_token()
    dovecot.deliver(email(dovecot.address(other), PASSING, "mx.funnelwatch.test; dkim=fail; dmarc=fail"), dovecot.address(other))
    assert through_imap(dovecot, other)[0] is Status.PASS


def test_with_trusted_authserv_id_only_the_top_most_header_of_that_server_counts(tmp_path):
    token = new_token()
    relay = "relay.forwarder.test; dkim=fail header.d=acme.test; dmarc=fail"  # a later hop: not the trusted server
    forged = f"{MX}; spf=fail; dkim=fail; dmarc=fail"  # written before the mail reached the trusted server
    deliver(tmp_path, email(f"qa+{token}@example.com", relay, PASSING, forged))
    status, _, _, reason, evidence = run_asset(MaildirInbox(tmp_path), token, trusted=MX.upper())
    assert status is Status.PASS, reason
    assert evidence["email"]["auth"]["authserv_id"] == MX
    assert run_asset(MaildirInbox(tmp_path), token)[2] is Category.EMAIL_AUTH_FAIL  # untrusted: the top-most one


def test_arc_sealed_verdicts_of_the_trusted_server_count_for_a_forwarding_mailbox(tmp_path):
    token = new_token()
    sealed = ("ARC-Authentication-Results: i=1; mx.funnelwatch.test; spf=pass; "
              "dkim=fail header.d=acme.test; dmarc=fail header.from=acme.test")
    deliver(tmp_path, email(f"qa+{token}@example.com", "mail.forwardee.test; dkim=pass header.d=forwarder.test; arc=pass",
                            extra=(sealed,)))
    status, _, category, reason, evidence = run_asset(MaildirInbox(tmp_path), token, trusted=MX)
    assert (status, category) == (Status.FAIL, Category.EMAIL_AUTH_FAIL), reason
    assert "sealed in ARC i=1" in reason and "signed by acme.test" in reason
    assert evidence["email"]["arc"] == [{"i": 1, "authserv_id": MX, "spf": "pass", "dkim": "fail", "dmarc": "fail"}]


def test_authentication_results_are_parsed_as_rfc_8601_writes_them():
    found = parse('example.com 1; (a comment; with a semicolon) spf=pass (sender SPF authorized) smtp.mailfrom="a;b@x.test";\r\n'
                  '\tdkim/1=pass reason="good sig" header.d=x.test header.s=sel; dkim=fail header.i=@y.test; dmarc=pass')
    assert found is not None and found.authserv_id == "example.com"
    assert [r.shown() for r in found.results] == ["spf=pass", "dkim=pass", "dkim=fail", "dmarc=pass"]
    assert found.results[0].props["smtp.mailfrom"] == "a;b@x.test" and found.results[1].reason == "good sig"
    assert found.dkim == "pass" and found.signing_domain == "x.test"
    nothing = parse("example.org; none")
    assert nothing is not None and nothing.results == [] and nothing.dkim is None
    assert receiver_verdicts([("Received", "x")]) is None


def test_junk_folders_are_found_by_special_use_flag_or_usual_name():
    listed = [("INBOX", ()), ("Bulk", ("\\HasNoChildren", "\\Junk")), ("Spam", ()), ("Junk E-mail", ()), ("Archive", ()),
              ("Old Spam", ("\\Spam",))]
    assert junk.pick(listed, "auto", "INBOX") == (["Bulk", "Spam", "Junk E-mail", "Old Spam"], [])
    assert junk.pick(listed, ["archive", "Nope"], "INBOX") == (["Archive"], ["Nope"])
    assert junk.parse_list([b'(\\HasNoChildren \\Junk) "/" "Junk Mail"', (b'() "/" {6}', b'Sp"am!')]) == [
        ("Junk Mail", ("\\HasNoChildren", "\\Junk")), ('Sp"am!', ())]


def test_spam_folders_and_trusted_authserv_id_are_config_keys(project):
    project.config(BASE_CONFIG + "inbox:\n  maildir: {path: inbox, spam_folders: Junk}\n  trusted_authserv_id: mx.example.com\n")
    settings = project.load().settings
    assert settings.inbox.maildir.spam_folders == ["Junk"]  # type: ignore[attr-defined]
    assert settings.inbox.trusted_authserv_id == "mx.example.com"


def test_a_spam_folders_value_that_is_neither_auto_nor_a_list_says_what_to_write():
    from funnelwatch.config import validate_text

    problems = [str(p) for p in validate_text("inbox:\n  imap:\n    host: h\n    username: u\n    password: p\n"
                                              "    spam_folders: {Junk: yes}\n", Settings, "config/funnelwatch.yaml")]
    assert problems == ["config/funnelwatch.yaml:6: inbox.imap.spam_folders: write auto, a list of folder names like "
                        "[Junk, Spam], or [] to look into the inbox folder only"]


# --- follow-ups and whole funnels -------------------------------------------------------------


def test_followup_reply_in_junk_settles_with_its_latency_and_fails_as_email_in_spam(project, site, sales):
    sales.reply_after_s, sales.reply_folder = 1800, "Junk"
    project.check("demo", demo_check(site))
    assert project.run_one(report=False).status is Status.PENDING
    project.clock = FixedClock(sales.submissions[-1][0] + 3600)
    [result] = project.run(settle_only=True, report=False).results
    assert (result.status, result.step, result.category) == (Status.FAIL, "followup", Category.EMAIL_IN_SPAM), result.reason
    assert result.latency_s == pytest.approx(1800, abs=1.01)  # the sales rep did answer
    assert result.reason.startswith("the first human follow-up arrived in Junk, not INBOX: the prospect would not see it")
    assert result.evidence["followup"]["state"] == "passed"
    assert result.evidence["followup"]["reply"]["email"]["folder"] == "Junk"


def test_followup_reply_that_receivers_distrust_settles_with_its_latency_and_fails_as_email_auth_fail(project, site, sales):
    project.check("demo", demo_check(site))
    assert project.run_one(report=False).status is Status.PENDING
    t0 = sales.submissions[-1][0]
    sales.send(sales.last_address, "Re: your demo", t0 + 600, sales.reply_from,
               {"Authentication-Results": f"{MX}; spf=softfail smtp.mailfrom=acme.test; dkim=none"})
    project.clock = FixedClock(t0 + 1200)
    [result] = project.run(settle_only=True, report=False).results
    assert (result.status, result.step, result.category) == (Status.FAIL, "followup", Category.EMAIL_AUTH_FAIL), result.reason
    assert result.latency_s == pytest.approx(600, abs=1.01)
    assert result.reason.startswith(f"receivers distrust the first human follow-up: {MX} reports spf=softfail")


def test_whole_funnel_whose_email_lands_in_junk_shows_folder_and_badges_on_its_page(project, site, dovecot):
    site.page("/lp/junk", """<title>Checklist</title><h1>Get the checklist</h1>
<form method="post" action="/lead/junk"><input type="email" name="email"><button type="submit">Send</button></form>""")

    def lead(request):  # type: ignore[no-untyped-def]
        to = request.form()["email"]
        dovecot.file_into("Junk", email(to, f"{MX}; spf=softfail smtp.mailfrom=acme.test; dkim=fail header.d=acme.test; dmarc=fail"))
        from funnelwatch.demo.server import Response

        return Response(200, "<title>Thanks</title><h1>Thank you!</h1>")

    site.route("/lead/junk", lead)
    project.config(BASE_CONFIG + dovecot.config_yaml())
    project.check("junk", f"""
        name: Checklist in junk
        landing:
          url: {site.url('/lp/junk')}
        form:
          fill:
            email: "{{inbox}}"
          success:
            text: Thank you
        asset:
          email:
            subject_contains: HIPAA
            within: 6s
          attachment: true
          expect:
            type: pdf
    """)
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "asset", Category.EMAIL_IN_SPAM), result.reason
    page = (Path(project.root) / str(result.report)).read_text(encoding="utf-8")
    assert "Where the email landed, and whether receivers trust it" in page and "a junk folder" in page
    assert '<span class="badge st-fail">DKIM fail</span>' in page and '<span class="badge st-fail">SPF softfail</span>' in page
    assert "email landed in the spam folder" in page
