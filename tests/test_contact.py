"""Deaf ears: do the published inboxes answer a prospect in time? (`contact:` checks, `outbox:`)

A real SMTP submission server (aiosmtpd, STARTTLS or implicit TLS with a real
certificate, a login) receives each probe; behind it, published inboxes answer
as people do (tests/fixtures/published_inboxes.py) into the real Maildir or the
real Dovecot. The run's clock (`FixedClock`) is moved instead of sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from funnelwatch import Status
from funnelwatch.clock import FixedClock
from funnelwatch.results import Category
from funnelwatch.steps.contact import ContactSection, contact_values, sla_text
from funnelwatch.store import Store
from tests.fixtures.published_inboxes import HOUR, SMTP_PASSWORD, PublishedInboxes

MAILDIR_INBOX = "inbox:\n  maildir:\n    path: inbox\n  address: qa+{token}@example.com\n"
BASE = """\
database: reports/history.db
reports_dir: reports
defaults:
  retries: 0
"""
ADDRESSES = ["sales", "support", "info", "hello", "help", "gone", "quiet"]


def contact_check(local: str, extra: str = "") -> str:
    return (
        f"name: {local}@ answers\ntags: [channels]\ncontact:\n  email: {local}@acme.test\n"
        '  subject: "Pricing for 50 seats? ({token})"\n'
        "  body: |\n    Hi, does the Team plan include SSO? Thanks, Funnel Tester\n"
        + extra
    )


SERVERS: list[PublishedInboxes] = []


def configure(project, published: PublishedInboxes, inbox: str = MAILDIR_INBOX, on_overlap: str = "") -> None:
    SERVERS.append(published)
    project.config(BASE + inbox + published.outbox_yaml() + on_overlap)


def settle_at(project, t0: float, seconds: float, published: PublishedInboxes | None = None) -> list:
    """Move the clock to `seconds` after t0, let the answers due by then arrive, and settle."""
    (published or SERVERS[-1]).arrive(t0 + seconds)
    project.clock = FixedClock(t0 + seconds)
    return project.run(settle_only=True, report=False).results


def send_all(project, names: list[str]) -> float:
    for local in names:
        project.check(local, contact_check(local))
    t0 = time.time()
    project.clock = FixedClock(t0)
    sent = project.run(report=False).results
    assert {(r.status, r.step) for r in sent} == {(Status.PENDING, "contact")}, [r.reason for r in sent]
    return t0


#: Every twin: (when settled, status, category, latency) as the ledger decides it.
EXPECTED = {
    "sales@ answers": [(4 * HOUR, Status.PASS, None, 2 * HOUR)],
    "hello@ answers": [(4 * HOUR, Status.PASS, None, 3 * HOUR)],
    "help@ answers": [(4 * HOUR, Status.PASS, None, 1 * HOUR)],
    "gone@ answers": [(90, Status.FAIL, Category.BOUNCED, None)],
    "info@ answers": [(25 * HOUR, Status.FAIL, Category.MISSING_REPLY, None)],
    "quiet@ answers": [(25 * HOUR, Status.FAIL, Category.MISSING_REPLY, None)],
    "support@ answers": [(25 * HOUR, Status.FAIL, Category.MISSING_REPLY, None), (31 * HOUR, Status.FAIL, Category.LATE_REPLY, 30 * HOUR)],
}


def _judge_every_twin(project, t0: float) -> dict:
    seen: dict[str, list] = {}
    for seconds in (90, 4 * HOUR, 25 * HOUR, 31 * HOUR):
        for result in settle_at(project, t0, seconds):
            assert result.step == "contact", result.to_json()
            seen.setdefault(result.check, []).append(
                (seconds, result.status, result.category, round(result.latency_s / 60) * 60 if result.latency_s else None))
    return seen


def test_each_published_inbox_is_judged_as_it_answered_in_the_maildir(project, published):
    configure(project, published)
    t0 = send_all(project, ADDRESSES)
    assert sorted(str(m["To"]) for m in published.received) == sorted(f"{a}@acme.test" for a in ADDRESSES)
    assert _judge_every_twin(project, t0) == EXPECTED


def test_each_published_inbox_is_judged_as_it_answered_in_dovecot(project, smtp_env, dovecot):
    server = PublishedInboxes(lambda raw, to: dovecot.deliver(raw, to)).start()
    try:
        configure(project, server, inbox=dovecot.config_yaml())
        t0 = send_all(project, ADDRESSES)
        assert _judge_every_twin(project, t0) == EXPECTED
    finally:
        server.stop()


def test_probe_has_its_own_reply_address_and_message_id_and_fills_the_token_in_the_subject(project, published):
    configure(project, published)
    t0 = send_all(project, ["sales"])
    [probe] = published.received
    token = probe["From"].addresses[0].username.split("+")[1]
    assert str(probe["From"]) == f"Funnel Tester <qa+{token}@example.com>"
    assert str(probe["Subject"]) == f"Pricing for 50 seats? ({token})"
    assert token in str(probe["Message-ID"]) and probe["Message-ID"].endswith("@example.com>")
    assert "does the Team plan include SSO" in probe.get_body().get_content()
    assert published.logins == ["funnel-tester"]
    [result] = settle_at(project, t0, 3 * HOUR)
    evidence = result.evidence["contact"]
    assert evidence["question"]["subject"] == str(probe["Subject"])
    assert evidence["reply"]["subject"].startswith("Re: Pricing") and "SSO" in evidence["reply"]["html"]
    assert evidence["channel"] == "sales@acme.test"


def test_auto_reply_is_ignored_with_why_and_shown_then_the_late_human_reply_is_late_reply(project, published):
    configure(project, published)
    t0 = send_all(project, ["support"])
    [late] = [r for s in (25 * HOUR, 31 * HOUR) for r in settle_at(project, t0, s)][1:]
    assert (late.status, late.step, late.category) == (Status.FAIL, "contact", Category.LATE_REPLY)
    assert late.reason.startswith("support@acme.test took 30h 0m to answer (first human reply from Support team <support@acme.test>)")
    assert late.reason.endswith("the SLA is 1 day")
    evidence = late.evidence["contact"]
    assert [i["why"] for i in evidence["ignored"]] == ["auto-reply (Auto-Submitted: auto-replied)"]
    assert evidence["auto_reply"]["subject"].startswith("Automatic reply:")
    assert "We answer within 24 hours" in evidence["auto_reply"]["text"]


def test_only_an_auto_reply_is_missing_reply_naming_what_was_ignored(project, published):
    configure(project, published)
    t0 = send_all(project, ["info"])
    assert settle_at(project, t0, 23 * HOUR) == []  # inside the SLA: nothing to report yet
    [missing] = settle_at(project, t0, 25 * HOUR)
    assert (missing.status, missing.step, missing.category) == (Status.FAIL, "contact", Category.MISSING_REPLY)
    assert missing.reason.startswith("info@acme.test did not answer the question of ")
    assert "within 1 day; ignored 1 message: auto-reply (X-Autoreply: yes)" in missing.reason
    assert settle_at(project, t0, 26 * HOUR) == []  # the breach is reported once


def test_a_bounce_fails_the_probe_at_once_quoting_status_and_diagnostic(project, published):
    configure(project, published)
    t0 = send_all(project, ["gone"])
    [bounced] = settle_at(project, t0, 60)
    assert (bounced.status, bounced.step, bounced.category) == (Status.FAIL, "contact", Category.BOUNCED)
    assert bounced.reason == ("gone@acme.test bounced the question: 550 5.1.1 <gone@acme.test>: user unknown: "
                              "gone@acme.test no longer exists (status 5.1.1) — the published address takes no mail")
    assert bounced.evidence["contact"]["bounce"]["status"] == "5.1.1"
    assert settle_at(project, t0, 2 * 86400) == []


def test_implicit_tls_submission_works_with_a_real_certificate(project, smtp_env):
    from funnelwatch.inbox.maildir import deliver

    server = PublishedInboxes(lambda raw, to: deliver(project.root / "inbox", raw), security="ssl").start()
    try:
        configure(project, server)
        t0 = send_all(project, ["sales"])
        assert len(server.received) == 1
        [result] = settle_at(project, t0, 3 * HOUR)
        assert result.status is Status.PASS
    finally:
        server.stop()


def test_an_untrusted_certificate_is_an_outbox_error_not_a_funnel_failure(project, published):
    configure(project, published)
    text = (project.root / "config" / "funnelwatch.yaml").read_text()
    (project.root / "config" / "funnelwatch.yaml").write_text("\n".join(line for line in text.splitlines() if "ca_file" not in line) + "\n")
    project.check("sales", contact_check("sales"))
    result = project.run_one(report=False)
    assert (result.status, result.step, result.category) == (Status.ERROR, "contact", Category.OUTBOX)
    assert "certificate is not trusted" in result.reason and "outbox.smtp.ca_file" in result.reason
    assert published.received == []
    again = project.run_one(report=False)  # nothing went out: the window is free, the next run tries again
    assert again.category is Category.OUTBOX


def test_a_refused_login_is_error_with_the_servers_words_redacted(project, published, capsys):
    published.refuse_login_with = "535 5.7.8 {user}: password {password} is not valid here"
    configure(project, published)
    project.check("sales", contact_check("sales"))
    result = project.run_one(report=False)
    assert (result.status, result.step, result.category) == (Status.ERROR, "contact", Category.OUTBOX)
    assert result.reason.startswith(f"the SMTP server 127.0.0.1:{published.port} refused the login for '***': 535 5.7.8 ***: password *** is not valid here")
    assert SMTP_PASSWORD not in json.dumps(result.to_json()) and published.received == []


def test_an_unreachable_smtp_server_is_an_outbox_error(project, published):
    configure(project, published)
    published.stop()
    project.check("sales", contact_check("sales"))
    result = project.run_one(report=False)
    assert (result.status, result.step, result.category) == (Status.ERROR, "contact", Category.OUTBOX)
    assert "connection refused" in result.reason


def test_the_smtp_password_never_reaches_database_report_logs_or_exceptions(project, published):
    configure(project, published)
    for local in ("sales", "gone"):
        project.check(local, contact_check(local))
    t0 = time.time()
    project.clock = FixedClock(t0)
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "run", "--json"], cwd=project.root, capture_output=True,
                          text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    published.refuse_login_with = "535 5.7.8 {password} rejected"
    project.check("quiet", contact_check("quiet"))
    refused = subprocess.run([sys.executable, "-m", "funnelwatch", "run", "--json"], cwd=project.root, capture_output=True,
                             text=True, timeout=120, env={**os.environ})
    assert refused.returncode == 2 and "535 5.7.8 ***" in refused.stdout
    settle_at(project, t0, 3 * HOUR)
    project.run(settle_only=True)  # builds the report too
    written = [done.stdout, done.stderr, refused.stdout, refused.stderr]
    written += [p.read_bytes().decode("utf-8", "replace") for p in (project.root / "reports").rglob("*") if p.is_file()]
    assert all(SMTP_PASSWORD not in text for text in written)


def test_a_probe_is_sent_once_per_every_when_two_runs_overlap(project, published):
    configure(project, published, on_overlap="on_overlap: wait\n")
    project.check("sales", contact_check("sales", "  every: 7d\n"))
    command = [sys.executable, "-m", "funnelwatch", "run", "--json"]
    runs = [subprocess.Popen(command, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    reasons = sorted(r["reason"].split(";")[0] for out in outputs for r in out["results"])
    assert len(published.received) == 1
    assert reasons[0].startswith("no question this run: the last question went out")
    assert reasons[1].startswith("question sent to sales@acme.test")


def test_two_processes_reserving_the_same_window_at_once_grant_it_once(project, published):
    configure(project, published)
    project.check("sales", contact_check("sales"))
    Store(project.load().database_path).close()
    go = project.root / "go"
    script = (
        "import sys, time, pathlib, funnelwatch\n"
        "from funnelwatch.plan import make_plan\nfrom funnelwatch.store import Store\n"
        "from funnelwatch.steps.contact import PROBES\nfrom funnelwatch.steps.probes import claim_submission\n"
        f"config = funnelwatch.load_config({str(project.root)!r}); item = make_plan(config).items[0]\n"
        "store = Store(config.database_path)\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.005)\n"
        "claim = claim_submission(store.ledger, item, int(sys.argv[1]), store.clock.now(), PROBES)\n"
        "print('granted' if claim is None else claim.reason)\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(n)], stdout=subprocess.PIPE, text=True) for n in (1, 2)]
    time.sleep(1.0)
    go.write_text("go")
    said = sorted(run.communicate(timeout=60)[0].strip() for run in runs)
    assert said[0] == "granted" and said[1].startswith("no question this run: another run is sending this question right now")


def test_business_hours_turn_whole_days_into_business_days():
    section = ContactSection(email="sales@acme.test", subject="s", body="b", hours="Mon-Fri 09:00-17:00 Europe/Berlin")
    assert sla_text(section) == "1 business day"
    from datetime import datetime, timezone
    from email.message import EmailMessage

    message = EmailMessage()
    message["Message-ID"] = "<x@example.com>"
    message.set_content("b")
    friday_4pm = datetime(2026, 3, 27, 15, 0, tzinfo=timezone.utc)  # 16:00 CET
    values = contact_values(section, friday_4pm, "fwdays0001", "qa+fwdays0001@example.com", "checks/sales.yaml", message)
    assert values["sla_deadline"] == "2026-03-30T14:00:00.000Z"  # Monday 16:00 CEST: 1h Friday + 7h Monday
    assert sla_text(ContactSection(email="a@b.c", subject="s", body="b", within="4h", hours="Mon-Fri 09:00-17:00")) == "4h 0m business time"


def test_history_and_report_show_response_times_by_channel(project, published):
    configure(project, published)
    t0 = send_all(project, ["sales", "support"])
    for seconds in (25 * HOUR, 31 * HOUR):
        settle_at(project, t0, seconds)
    project.run(settle_only=True)
    index = (project.root / "reports" / "index.html").read_text()
    table = index.split("Response times by channel", 1)[1].split("</table>", 1)[0]
    assert "sales@acme.test" in table and "support@acme.test" in table
    assert "2h 0m" in table and "30h 0m" in table and 'class="late"' in table
    page = (project.root / "reports" / "funnels" / "support.html").read_text()
    assert "The question sent" in page and "The auto-reply" in page and "The first human reply" in page
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "history", "support@ answers"], cwd=project.root,
                          capture_output=True, text=True, timeout=60)
    assert ("response time over 30 days (support@acme.test): SLA 1 day, last 30h 0m, median 30h 0m, p90 30h 0m, "
            "0% within SLA of 1 settled") in done.stdout
    assert "reply over the last 1 question: last 30h 0m" in done.stdout


def test_validate_checks_the_outbox_block(project, published):
    from funnelwatch.config import validate_text
    from funnelwatch.schema import Settings

    def problems(text: str) -> list[str]:
        return [d.message for d in validate_text(text, Settings, "config/funnelwatch.yaml")]

    assert problems("outbox:\n  smtp: {host: smtp.example.com, starttls: true}\n  from: qa@example.com\n") == [
        'from must contain {token} (e.g. "Funnel Tester <qa+{token}@example.com>") so every probe has its own reply address']
    assert "plain SMTP only goes to a relay on this machine" in problems(
        "outbox:\n  smtp: {host: smtp.example.com, plain: true}\n  from: qa+{token}@example.com\n")[0]
    assert "say how to encrypt" in problems("outbox:\n  smtp: {host: 127.0.0.1}\n  from: qa+{token}@example.com\n")[0]
    assert problems("outbox:\n  smtp: {host: 127.0.0.1, port: 2525, plain: true}\n  from: qa+{token}@example.com\n") == []
    assert "port 465 speaks TLS" in problems("outbox:\n  smtp: {host: h, port: 465, starttls: true}\n  from: qa+{token}@x.com\n")[0]
    project.config(BASE + MAILDIR_INBOX)
    project.check("sales", contact_check("sales"))
    [broken] = project.load().broken
    assert "needs outbox: in config/funnelwatch.yaml" in str(broken.diagnostics[0])
    project.config(BASE + MAILDIR_INBOX.replace("qa+{token}", "other+{token}") + published.outbox_yaml())
    [broken] = project.load().broken
    assert "make them the same address" in str(broken.diagnostics[0])


def test_a_late_reply_alerts_like_a_broken_funnel(project, published, receiver):
    configure(project, published)
    project.config((project.root / "config" / "funnelwatch.yaml").read_text()
                   + f"alerts:\n  - url: {receiver.apprise_url('/hook/contact')}\n")
    t0 = send_all(project, ["support"])
    published.arrive(t0 + 31 * HOUR)
    project.clock = FixedClock(t0 + 31 * HOUR)
    project.run(settle_only=True, report=False, alerts=True)
    [message] = receiver.wait_for(1)
    assert message["title"] == "funnelwatch: 1 funnel broken"
    assert ("support@ answers — Published inbox: reply came late: support@acme.test took 30h 0m to answer (first human reply from "
            "Support team <support@acme.test>); the SLA is 1 day") in message["message"]
    assert SMTP_PASSWORD not in json.dumps(message)


def test_a_reply_in_the_maildir_junk_folder_keeps_its_latency_and_fails_as_email_in_spam(project, smtp_env):
    from funnelwatch.inbox.maildir import deliver

    server = PublishedInboxes(lambda raw, to: deliver(project.root / "inbox", raw, folder="Junk")).start()
    try:
        configure(project, server)
        t0 = send_all(project, ["help"])  # help@ answers the bare address: found only by In-Reply-To/References
        [result] = settle_at(project, t0, 4 * HOUR, server)
    finally:
        server.stop()
    assert (result.status, result.step, result.category) == (Status.FAIL, "contact", Category.EMAIL_IN_SPAM)
    assert round(result.latency_s / 60) * 60 == 1 * HOUR
    assert result.reason.startswith("the first human reply arrived in Junk, not INBOX: the prospect would not see it "
                                    "(it came after 1h 0m, on time, from Help team <help@acme.test>)")
    assert result.evidence["contact"]["reply"]["email"]["folder"] == "Junk"


def test_a_reply_filed_into_dovecots_junk_is_found_by_its_references_and_fails_as_email_in_spam(project, smtp_env, dovecot):
    server = PublishedInboxes(lambda raw, to: dovecot.file_into("Junk", raw)).start()
    try:
        configure(project, server, inbox=dovecot.config_yaml())
        t0 = send_all(project, ["help"])
        [result] = settle_at(project, t0, 4 * HOUR, server)
    finally:
        server.stop()
    assert (result.status, result.step, result.category) == (Status.FAIL, "contact", Category.EMAIL_IN_SPAM)
    assert result.reason.startswith("the first human reply arrived in Junk, not INBOX")
