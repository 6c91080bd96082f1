"""Inbox backends against real servers: Dovecot IMAP, funnelwatch's SMTP receiver, a Maildir.

Each finds a submission's mail by its token, leaves everyone else's mail
alone, and turns an unreachable or refusing inbox into a monitor problem
(status error) that names the host and what went wrong, never the password.
"""

from __future__ import annotations

import asyncio
import secrets
import smtplib
import ssl
import sys
import threading

import pytest
from imap_tools import MailBoxUnencrypted

from funnelwatch import Category, Status
from funnelwatch.demo.documents import make_pdf
from funnelwatch.demo.server import Response
from funnelwatch.errors import MonitorProblem
from funnelwatch.inbox.base import wait_for
from funnelwatch.inbox.imap import ImapInbox, ImapSettings
from funnelwatch.inbox.maildir import MaildirInbox, deliver
from funnelwatch.inbox.smtp import SmtpInbox, SmtpSettings
from tests.fixtures.dovecot import free_port
from tests.fixtures.emails import confirm_email, hubspot_email, plain_email, tracked
from tests.fixtures.projects import BASE_CONFIG

PDF = make_pdf("HIPAA Compliance Checklist 2026", ["Security Rule safeguards"], pad_to=24_000)


def new_token() -> str:
    return "fw" + secrets.token_hex(5)


def imap_inbox(dovecot, password: str | None = None, port: int | None = None, folder: str = "INBOX") -> ImapInbox:  # type: ignore[no-untyped-def]
    settings = ImapSettings(host="127.0.0.1", port=port or dovecot.imap_port, ssl=False, username=dovecot.user,
                            password=password or dovecot.password, folder=folder)
    return ImapInbox(settings, address="qa+{token}@example.com", timeout_s=5)


# --- imap (Dovecot) -------------------------------------------------------------------


def test_imap_finds_only_this_submissions_mail(dovecot):
    token, other = new_token(), new_token()
    dovecot.deliver(plain_email(dovecot.address(other), "Your HIPAA checklist", "not yours"), dovecot.address(other))
    dovecot.deliver(confirm_email(dovecot.address(token)), dovecot.address(token))
    dovecot.deliver(hubspot_email(dovecot.address(token), "Your HIPAA checklist", "http://x/dl"), dovecot.address(token))
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        found = inbox.messages_for(token)
        assert sorted(m.subject for m in found) == ["Please confirm your subscription", "Your HIPAA checklist"]
        assert all(m.key.startswith("imap:") for m in found)
        assert inbox.messages_for(token)[0].raw == found[0].raw  # served from the cache the second time
    finally:
        inbox.close()


def test_imap_never_marks_mail_as_read(dovecot):
    token = new_token()
    dovecot.deliver(plain_email(dovecot.address(token), "Unread stays unread", "hello"), dovecot.address(token))
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        assert len(inbox.messages_for(token)) == 1
    finally:
        inbox.close()
    with MailBoxUnencrypted("127.0.0.1", dovecot.imap_port).login(dovecot.user, dovecot.password) as box:
        flags = [m.flags for m in box.fetch(f'TO "{token}"', mark_seen=False)]
    assert len(flags) == 1 and "\\Seen" not in flags[0]


def test_imap_sees_mail_that_arrives_while_waiting(dovecot):
    token = new_token()
    inbox = imap_inbox(dovecot)
    inbox.open()
    raw = hubspot_email(dovecot.address(token), "Your HIPAA checklist", "http://x/dl")
    timer = threading.Timer(0.6, dovecot.deliver, (raw, dovecot.address(token)))
    try:
        assert inbox.messages_for(token) == []
        timer.start()
        wait = asyncio.run(wait_for(inbox, token, lambda m: "HIPAA" in m.subject, within_s=10, max_poll_s=0.5))
        assert wait.match is not None and wait.match.subject == "Your HIPAA checklist"
    finally:
        timer.cancel()
        inbox.close()


def test_imap_reconnects_when_the_server_drops_the_connection(dovecot):
    token = new_token()
    dovecot.deliver(plain_email(dovecot.address(token), "After a drop", "hello"), dovecot.address(token))
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        inbox.mailbox.client.shutdown()
        assert [m.subject for m in inbox.messages_for(token)] == ["After a drop"]
    finally:
        inbox.close()


def test_imap_down_is_a_monitor_problem_naming_the_host():
    port = free_port()
    inbox = ImapInbox(ImapSettings(host="127.0.0.1", port=port, ssl=False, username="qa", password="s3cret-pw"), timeout_s=3)
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    assert caught.value.category is Category.INBOX
    assert f"127.0.0.1:{port}" in caught.value.reason and "connection refused" in caught.value.reason


def test_bad_imap_password_is_a_monitor_problem_without_the_password(dovecot):
    inbox = imap_inbox(dovecot, password="wrong-password-123")
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    reason = caught.value.reason
    assert caught.value.category is Category.INBOX
    assert f"127.0.0.1:{dovecot.imap_port}" in reason and "refused the login for 'qa'" in reason
    assert "wrong-password-123" not in reason and dovecot.password not in reason


def test_missing_imap_folder_is_a_monitor_problem_naming_it(dovecot):
    inbox = imap_inbox(dovecot, folder="Funnelwatch")
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    assert caught.value.category is Category.INBOX and "'Funnelwatch'" in caught.value.reason


def test_tls_to_a_plain_server_is_a_monitor_problem(dovecot):
    settings = ImapSettings(host="127.0.0.1", port=dovecot.imap_port, ssl=True, username="qa", password="x")
    with pytest.raises(MonitorProblem) as caught:
        ImapInbox(settings, timeout_s=3).open()
    assert caught.value.category is Category.INBOX and "TLS" in caught.value.reason


# --- imap: encryption (security: ssl | starttls | none) and OAuth2 (Dovecot with a real certificate) ---


def secure_inbox(server, **given) -> ImapInbox:  # type: ignore[no-untyped-def]
    options = {"host": "127.0.0.1", "security": "starttls", "port": server.imap_port, "username": server.user,
               "password": server.password, "ca_file": str(server.ca_file), **given}
    return ImapInbox(ImapSettings(**{k: v for k, v in options.items() if v is not None}), address="qa+{token}@example.com", timeout_s=5)


def delivered(server) -> str:  # type: ignore[no-untyped-def]
    token = new_token()
    server.deliver(plain_email(server.address(token), "Encrypted all the way", "hello"), server.address(token))
    return token


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_with_a_trusted_certificate_reads_mail_over_tls(dovecot_secure, security):
    token = delivered(dovecot_secure)
    port = dovecot_secure.imaps_port if security == "ssl" else dovecot_secure.imap_port
    inbox = secure_inbox(dovecot_secure, security=security, port=port)
    inbox.open()
    try:
        assert isinstance(inbox.mailbox.client.sock, ssl.SSLSocket)  # encrypted before the password was sent
        assert [m.subject for m in inbox.messages_for(token)] == ["Encrypted all the way"]
    finally:
        inbox.close()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_certificate_the_client_does_not_trust_is_an_inbox_error_that_says_so(dovecot_secure, security):
    port = dovecot_secure.imaps_port if security == "ssl" else dovecot_secure.imap_port
    inbox = secure_inbox(dovecot_secure, security=security, port=port, ca_file=None)
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    reason = caught.value.reason
    assert caught.value.category is Category.INBOX
    assert "certificate is not trusted" in reason and "ca_file" in reason and f"127.0.0.1:{port}" in reason
    assert dovecot_secure.password not in reason


def test_ssl_cert_file_is_trusted_like_in_every_openssl_program(dovecot_secure, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_secure.ca_file))
    inbox = secure_inbox(dovecot_secure, ca_file=None)
    inbox.open()
    inbox.close()


def test_a_relative_ca_file_is_read_from_the_project_folder(project, dovecot_secure):
    from funnelwatch.inbox import make_inbox

    (project.root / "config" / "imap-ca.pem").write_bytes(dovecot_secure.ca_file.read_bytes())
    project.config(BASE_CONFIG + f"""inbox:
  imap:
    host: 127.0.0.1
    port: {dovecot_secure.imap_port}
    security: starttls
    ca_file: config/imap-ca.pem
    username: {dovecot_secure.user}
    password: {dovecot_secure.password}
""")
    inbox = make_inbox(project.load())
    assert inbox is not None
    inbox.open()
    inbox.close()


def test_ssl_true_and_false_still_mean_security_ssl_and_none(dovecot):
    assert ImapSettings(host="h", ssl=True, username="u", password="p").security == "ssl"
    plain = ImapSettings(host="h", ssl=False, username="u", password="p")
    assert plain.security == "none" and plain.port == 143
    assert ImapSettings(host="h", security="starttls", username="u", password="p").port == 143
    assert ImapSettings(host="h", username="u", password="p").port == 993


@pytest.mark.parametrize("keys, says", [
    ("ssl: false, security: ssl", "ssl: false means security: none, but security: ssl is given too"),
    ("ssl: true, security: starttls", "ssl: true means security: ssl, but security: starttls is given too"),
    ("security: starttls, port: 993", "port 993 speaks TLS from the first byte"),
    ("security: tls", "security"),
])
def test_inconsistent_imap_security_is_a_config_error_naming_the_line(keys, says):
    from funnelwatch.config import validate_text
    from funnelwatch.schema import Settings

    text = f"inbox:\n  imap: {{host: h, {keys}, username: u, password: p}}\n"
    problems = [str(p) for p in validate_text(text, Settings, "config/funnelwatch.yaml")]
    assert len(problems) == 1 and problems[0].startswith("config/funnelwatch.yaml:2: inbox.imap") and says in problems[0], problems


def token_printer(token: str) -> list[str]:
    return [sys.executable, "-c", f"print({token!r})"]


def test_oauth2_logs_in_with_the_access_token_its_command_prints(dovecot_secure):
    access = dovecot_secure.issue_token()
    token = delivered(dovecot_secure)
    inbox = secure_inbox(dovecot_secure, auth="oauth2", password=None, token_command=token_printer(access))
    inbox.open()
    try:
        assert [m.subject for m in inbox.messages_for(token)] == ["Encrypted all the way"]
    finally:
        inbox.close()
    assert access in dovecot_secure.introspection.asked  # the token went to the server over SASL XOAUTH2
    assert "method=XOAUTH2" in dovecot_secure.log()
    assert inbox.redactor.redact(f"token {access}") == "token ***"  # a secret from the moment it was printed


def test_a_refused_access_token_is_an_inbox_error_that_points_at_token_command(dovecot_secure):
    stale = "fw-access-stale-" + new_token()
    inbox = secure_inbox(dovecot_secure, auth="oauth2", password=None, token_command=token_printer(stale))
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    reason = caught.value.reason
    assert caught.value.category is Category.INBOX and "refused the login for 'qa'" in reason
    assert "token_command" in reason and stale not in reason


@pytest.mark.parametrize("script, says", [
    ("import sys; sys.stderr.write('no refresh token cached\\n'); sys.exit(3)", "failed with exit code 3: no refresh token cached"),
    ("print('')", "must print exactly one access token, it printed nothing"),
    ("import time; time.sleep(10)", "printed no token within 1s"),
])
def test_a_token_command_that_fails_is_an_inbox_error_naming_it(dovecot_secure, monkeypatch, script, says):
    from funnelwatch.inbox import imap

    monkeypatch.setattr(imap, "TOKEN_COMMAND_TIMEOUT_S", 1.0)
    inbox = secure_inbox(dovecot_secure, auth="oauth2", password=None, token_command=[sys.executable, "-c", script])
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    assert caught.value.category is Category.INBOX and "inbox.imap.token_command" in caught.value.reason
    assert says in caught.value.reason, caught.value.reason


def test_a_refused_password_no_longer_sends_microsoft_365_users_to_app_passwords(dovecot):
    inbox = imap_inbox(dovecot, password="wrong-password-123")
    with pytest.raises(MonitorProblem) as caught:
        inbox.open()
    assert "auth: oauth2" in caught.value.reason and "Microsoft 365 need an app password" not in caught.value.reason


def test_whole_funnel_with_an_oauth2_mailbox_passes_and_never_shows_the_token(project, site, dovecot_secure, tmp_path):
    site.file("/hubfs/oauth-e2e.pdf", PDF, "application/pdf")
    access = dovecot_secure.issue_token()
    (project.root / "token.sh").write_text(f"#!/bin/sh\necho {access}\n")
    (project.root / "token.sh").chmod(0o755)

    def send(to: str) -> None:
        dovecot_secure.deliver(hubspot_email(to, "Your HIPAA checklist", site.url("/hubfs/oauth-e2e.pdf")), to)

    lead_page(site, "oauth-e2e", send)
    project.config(BASE_CONFIG + f"""inbox:
  imap:
    host: 127.0.0.1
    port: {dovecot_secure.imaps_port}
    security: ssl
    ca_file: {dovecot_secure.ca_file}
    auth: oauth2
    username: {dovecot_secure.user}
    token_command: ./token.sh
  address: qa+{{token}}@example.com
""")
    project.check("oauth", check_file("oauth-e2e", site.url("/lp/oauth-e2e")))
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert access not in str(result.to_json())


# --- smtp receiver ------------------------------------------------------------------------


def test_smtp_receiver_collects_real_smtp_by_token():
    """Sent with bare LF line ends, as hand-rolled staging mailers do; a dot-stuffed link survives."""
    port = free_port()
    inbox = SmtpInbox(SmtpSettings(host="127.0.0.1", port=port))
    inbox.open()
    token = new_token()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.sendmail("content@acme.test", [f"qa+{token}@example.com"],
                            hubspot_email(f"qa+{token}@example.com", "Your HIPAA checklist", "http://x/dl"))
            client.sendmail("content@acme.test", ["qa+fwother@example.com"], plain_email("qa+fwother@example.com", "x", "y"))
            client.sendmail("content@acme.test", [f"qa+{token}@example.com"],  # Bcc: only the envelope knows
                            plain_email("list@acme.test", "Sent by Bcc", "hello\n.starts with a dot\n..and two\n"))
        found = sorted(inbox.messages_for(token), key=lambda m: m.subject)
        assert [m.subject for m in found] == ["Sent by Bcc", "Your HIPAA checklist"]
        assert found[0].message.get_content().startswith("hello\n.starts with a dot\n..and two\n")
    finally:
        inbox.close()


def test_smtp_port_in_use_is_a_monitor_problem_naming_it():
    port = free_port()
    first = SmtpInbox(SmtpSettings(host="127.0.0.1", port=port))
    first.open()
    try:
        with pytest.raises(MonitorProblem) as caught:
            SmtpInbox(SmtpSettings(host="127.0.0.1", port=port)).open()
        assert caught.value.category is Category.INBOX and f"127.0.0.1:{port}" in caught.value.reason
    finally:
        first.close()


# --- maildir ----------------------------------------------------------------------------------


def test_maildir_matches_display_name_recipients_and_skips_others(tmp_path):
    token = new_token()
    deliver(tmp_path, hubspot_email(f"qa+{token}@example.com", "Yours", "http://x"))
    deliver(tmp_path, hubspot_email("qa+fwnotyours@example.com", "Not yours", "http://x"))
    inbox = MaildirInbox(tmp_path)
    inbox.open()
    assert [m.subject for m in inbox.messages_for(token)] == ["Yours"]


def test_unwritable_maildir_is_a_monitor_problem(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MonitorProblem) as caught:
        MaildirInbox(blocker / "Maildir").open()
    assert caught.value.category is Category.INBOX and str(blocker) in caught.value.reason


# --- whole funnels through funnelwatch.run with a real inbox ------------------------------------


def lead_page(site, slug: str, send) -> None:  # type: ignore[no-untyped-def]
    site.page(f"/lp/{slug}", f"""<title>{slug}</title><h1>Get the checklist</h1>
<form method="post" action="/lead/{slug}"><input type="email" name="email"><button type="submit">Send</button></form>""")

    def lead(request):  # type: ignore[no-untyped-def]
        send(request.form()["email"])
        return Response(200, "<title>Thanks</title><h1>Thank you!</h1><p>Check your inbox.</p>")

    site.route(f"/lead/{slug}", lead)


def check_file(slug: str, url: str) -> str:
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
          email:
            subject_contains: HIPAA
            within: 8s
          link_text: Download
          expect:
            type: pdf
            title_contains: HIPAA Compliance Checklist 2026
    """


def test_whole_funnel_with_dovecot_passes(project, site, dovecot):
    link = tracked(site, "imap-e2e", "/hubfs/imap-e2e.pdf")
    site.file("/hubfs/imap-e2e.pdf", PDF, "application/pdf")

    def send(to: str) -> None:
        dovecot.deliver(confirm_email(to), to)
        dovecot.deliver(hubspot_email(to, "Your HIPAA Compliance Checklist", link), to)

    lead_page(site, "imap-e2e", send)
    project.config(BASE_CONFIG + dovecot.config_yaml())
    project.check("imap", check_file("imap-e2e", site.url("/lp/imap-e2e")))
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    assert result.evidence["asset"]["asset"]["title"] == "HIPAA Compliance Checklist 2026"


def test_whole_funnel_with_imap_down_is_an_error_at_the_asset_step(project, site):
    lead_page(site, "imap-down", lambda to: None)
    port = free_port()
    project.config(BASE_CONFIG + f"""inbox:
  imap: {{host: 127.0.0.1, port: {port}, ssl: false, username: qa, password: pw-down-1}}
  address: qa+{{token}}@example.com
""")
    project.check("down", check_file("imap-down", site.url("/lp/imap-down")))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.ERROR, "asset", Category.INBOX), result.reason
    assert f"127.0.0.1:{port}" in result.reason


def test_whole_funnel_with_bad_imap_password_is_an_error_without_the_password(project, site, dovecot, monkeypatch):
    monkeypatch.setenv("FW_TEST_IMAP_PASSWORD", "not-the-password-42")
    lead_page(site, "imap-badpw", lambda to: None)
    project.config(BASE_CONFIG + dovecot.config_yaml(password="${FW_TEST_IMAP_PASSWORD}"))
    project.check("badpw", check_file("imap-badpw", site.url("/lp/imap-badpw")))
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.ERROR, "asset", Category.INBOX), result.reason
    assert "refused the login" in result.reason and "not-the-password-42" not in result.reason


def test_whole_funnel_with_smtp_receiver_passes(project, site):
    port = free_port()
    site.file("/hubfs/smtp-e2e.pdf", PDF, "application/pdf")

    def send(to: str) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.sendmail("content@acme.test", [to], hubspot_email(to, "Your HIPAA checklist", site.url("/hubfs/smtp-e2e.pdf")))

    lead_page(site, "smtp-e2e", send)
    project.config(BASE_CONFIG + f"inbox:\n  smtp: {{host: 127.0.0.1, port: {port}}}\n  address: qa+{{token}}@example.com\n")
    project.check("smtp", check_file("smtp-e2e", site.url("/lp/smtp-e2e")))
    result = project.run_one()
    assert result.status is Status.PASS, result.reason


def test_a_run_of_several_email_funnels_logs_in_to_the_imap_server_once(project, site, dovecot):
    def logins() -> int:
        return (dovecot.root / "log" / "dovecot.log").read_text(errors="replace").count(f"Login: user=<{dovecot.user}>")

    for slug in ("imap-once-a", "imap-once-b"):
        link = tracked(site, slug, f"/hubfs/{slug}.pdf")
        site.file(f"/hubfs/{slug}.pdf", PDF, "application/pdf")
        lead_page(site, slug, lambda to, link=link: dovecot.deliver(hubspot_email(to, "Your HIPAA Compliance Checklist", link), to))
        project.check(slug, check_file(slug, site.url(f"/lp/{slug}")))
    project.config(BASE_CONFIG + dovecot.config_yaml())
    before = logins()
    results = project.run().results
    assert [r.status for r in results] == [Status.PASS, Status.PASS], [r.reason for r in results]
    assert logins() - before == 1
