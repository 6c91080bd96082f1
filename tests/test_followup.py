"""Demo follow-up timing: the pending ledger, settling, `every`, auto-replies.

Real Chromium submits a real form on a local site whose "sales team" writes
into a real Maildir; the run's clock (`funnelwatch.run(config, clock=...)`) is moved instead
of sleeping, and replies carry the `Date:` they would have arrived at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from funnelwatch import Status
from funnelwatch.clock import FixedClock
from funnelwatch.followup_rules import FollowupRules, judge
from funnelwatch.inbox.base import ReceivedEmail
from funnelwatch.plan import make_plan
from funnelwatch.results import Category
from funnelwatch.steps import followup
from funnelwatch.steps.followup import FollowupSection
from funnelwatch.store import Store
from tests.fixtures.sales import demo_check


def at(project, base: float, seconds: float) -> None:
    """Run the project's next runs at `seconds` after `base`."""
    project.clock = FixedClock(base + seconds)


def settle(project):
    return project.run(settle_only=True, report=False).results


def open_probes(project) -> list:
    store = Store(project.load().database_path)
    try:
        return store.ledger.open_probes()
    finally:
        store.close()


def test_demo_request_stays_pending_across_runs_until_a_human_replies_in_time(project, site, sales, monkeypatch):
    project.check("demo", demo_check(site))
    first = project.run_one(report=False)
    assert first.status is Status.PENDING, first.reason
    assert first.step == "followup" and "waiting up to 1h" in first.reason
    assert first.evidence["followup"]["state"] == "pending"
    t0 = sales.submissions[-1][0]

    at(project, t0, 600)
    assert settle(project) == []  # inside the SLA, nothing human yet: nothing to report, nothing alerted

    sales.send(sales.last_address, "Re: your demo request", t0 + 900, sales.reply_from)
    at(project, t0, 1200)
    [result] = settle(project)
    assert (result.status, result.step, result.check) == (Status.PASS, "followup", "Demo request")
    assert result.latency_s == pytest.approx(900, abs=1.01)
    assert result.to_json()["latency_s"] == pytest.approx(900, abs=1.01)
    assert result.to_json()["tags"] == ["sales"], "a settled follow-up carries its check's tags"
    evidence = result.evidence["followup"]
    assert "sam@acme.test" in evidence["reply"]["from"]
    assert "When suits you?" in evidence["reply"]["text"]  # the reply as the prospect read it, for the funnel page
    assert [i["why"] for i in evidence["ignored"]] == ["auto-reply (Auto-Submitted: auto-replied)"]
    assert settle(project) == []  # settled exactly once
    from funnelwatch.report.evidence import Kit
    from funnelwatch.steps import KINDS

    shown = KINDS["followup"].evidence(evidence, Kit())
    email = next(s for s in shown if s.kind == "email")
    assert email.title == "The follow-up email as received" and "When suits you?" in email.email["text"]


def test_reply_after_the_sla_is_reported_as_late_followup_with_its_latency(project, site, sales, monkeypatch):
    sales.reply_after_s = 2 * 3600
    project.check("demo", demo_check(site))
    assert project.run_one(report=False).status is Status.PENDING
    at(project, sales.submissions[-1][0], 3 * 3600)
    [result] = settle(project)
    assert (result.status, result.step, result.category) == (Status.FAIL, "followup", Category.LATE_FOLLOWUP)
    assert result.latency_s == pytest.approx(7200, abs=1.01)
    assert "2h 0m" in result.reason and "sam@acme.test" in result.reason and "SLA is 1h 0m" in result.reason


def test_no_reply_is_missing_followup_at_the_breach_and_a_later_reply_is_recorded_late(project, site, sales, monkeypatch):
    project.check("demo", demo_check(site))
    project.run_one(report=False)
    t0 = sales.submissions[-1][0]

    at(project, t0, 3601)
    [missing] = settle(project)
    assert (missing.status, missing.step, missing.category) == (Status.FAIL, "followup", Category.MISSING_FOLLOWUP)
    assert "no human follow-up" in missing.reason and "within 1h 0m" in missing.reason
    assert "ignored 1 message: auto-reply (Auto-Submitted: auto-replied)" in missing.reason
    assert missing.latency_s is None

    at(project, t0, 3700)
    assert settle(project) == []  # the breach is reported once; the probe is still watched
    assert [p.state for p in open_probes(project)] == ["overdue"]

    sales.send(sales.last_address, "Your demo", t0 + 5 * 3600, sales.reply_from)
    at(project, t0, 6 * 3600)
    [late] = settle(project)
    assert (late.status, late.category) == (Status.FAIL, Category.LATE_FOLLOWUP)
    assert late.latency_s == pytest.approx(5 * 3600, abs=1.01)
    assert open_probes(project) == []

    store = Store(project.load().database_path)
    stats = store.ledger.stats("Demo request")
    store.close()
    assert (stats.probes, stats.replied, stats.within_sla_share) == (1, 1, 0.0)
    assert stats.last_latency_s == pytest.approx(5 * 3600, abs=1.01)


def test_probe_without_reply_until_give_up_is_closed_as_missing(project, site, sales, monkeypatch):
    project.check("demo", demo_check(site, "within: 1h\ngive_up: 2d\nsubject_contains: demo"))
    project.run_one(report=False)
    at(project, sales.submissions[-1][0], 3 * 86400)
    [result] = settle(project)  # never settled before: reported missing now, and no longer watched
    assert (result.status, result.category) == (Status.FAIL, Category.MISSING_FOLLOWUP)
    assert "gave up watching" in result.reason
    assert open_probes(project) == []


def test_every_spares_the_sales_team_and_subset_runs_still_settle(project, site, sales, monkeypatch):
    sales.reply_after_s = 60
    site.page("/other", "<title>Other</title><h1>Other page</h1>")
    project.check("demo", demo_check(site))
    project.check("other", f"name: Other\ntags: [web]\nlanding:\n  url: {site.url('/other')}\n")
    project.run(checks=["Demo request"], report=False)
    t0 = sales.submissions[-1][0]

    at(project, t0, 3 * 86400)
    outcome = project.run(report=False)
    assert len(sales.submissions) == 1  # no second demo request inside `every`
    settled = [r for r in outcome.results if r.status is Status.PASS and r.step == "followup"]
    assert len(settled) == 1 and settled[0].latency_s == pytest.approx(60, abs=1.01)
    waiting = [r for r in outcome.results if r.check == "Demo request" and r.status is Status.PENDING]
    assert len(waiting) == 1 and waiting[0].evidence["followup"]["state"] == "waiting"
    assert "no demo request this run" in waiting[0].reason and "every: 7d 0h allows the next" in waiting[0].reason

    at(project, t0, 8 * 86400)
    project.run(report=False)
    assert len(sales.submissions) == 2  # the window reopened

    # A --tag subset without the demo check still settles its open probe.
    subset = project.run(tags=["web"], report=False).results
    assert {(r.check, r.status, r.step) for r in subset} == {("Other", Status.PASS, None), ("Demo request", Status.PASS, "followup")}


def test_a_retry_never_resubmits_a_demo_request(project, site, sales):
    project.check("demo", demo_check(site, success="/welcome", top="retries: 2"))
    result = project.run_one(report=False)
    assert result.status is Status.FAIL and result.step == "form"
    assert result.attempts == 1 and len(sales.submissions) == 1
    again = project.run_one(report=False)  # the request did go out: `every` counts it
    assert again.status is Status.PENDING and "no demo request this run" in again.reason
    assert len(sales.submissions) == 1


def test_probes_survive_a_restart_between_submit_and_settle(project, site, sales):
    sales.reply_after_s = 2
    project.check("demo", demo_check(site))
    assert project.run_one(report=False).status is Status.PENDING
    script = (
        "import json, funnelwatch; "
        f"r = funnelwatch.run(funnelwatch.load_config({str(project.root)!r}), settle_only=True, report=False, alerts=False); "
        "print(json.dumps(r.to_json()))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    [result] = json.loads(done.stdout)["results"]
    assert (result["status"], result["step"], result["latency_s"]) == ("pass", "followup", pytest.approx(2, abs=1.01))
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(again.stdout)["results"] == []


def test_overlapping_runs_submit_once_and_settle_once(project, site, sales):
    project.check("demo", demo_check(site))
    config = project.load()
    item = make_plan(config).items[0]
    now = datetime.now(timezone.utc)
    made = Store(config.database_path)  # the history exists before the runs race; probes name real runs (foreign keys)
    racing = [made.begin_run("all checks")[0] for _ in range(6)]
    settling = [made.begin_run("all checks")[0] for _ in range(6)]
    made.close()
    claims: list = []
    barrier = threading.Barrier(6, timeout=30)

    def claim(run_id: int) -> None:
        store = Store(config.database_path)
        barrier.wait()
        claims.append(followup.claim_submission(store.ledger, item, run_id, now))
        store.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in racing]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(c is None for c in claims) == 1
    assert all("another run is submitting" in c.reason for c in claims if c is not None)

    store = Store(config.database_path)
    granted = next(r["run_id"] for r in store.ledger.rows("state = 'reserved'"))
    store.ledger.record("Demo request", "desktop", granted, followup.probe_values(
        item.check.spec.followup, now, "fwoverlap01", "qa+fwoverlap01@example.com", "checks/demo.yaml"))
    store.close()
    sales.send("qa+fwoverlap01@example.com", "Your demo", now.timestamp() + 30, sales.reply_from)
    inbox_messages = _messages(project, "fwoverlap01")
    settled: list = []

    def settle_one(run_id: int) -> None:
        store = Store(config.database_path)
        [probe] = store.ledger.open_probes()
        barrier.wait()
        settled.append(followup.settle_probe(store.ledger, probe, inbox_messages, now + timedelta(minutes=5), run_id))
        store.close()

    threads = [threading.Thread(target=settle_one, args=(n,)) for n in settling]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in settled if r is not None] == [Status.PASS]


def test_unreadable_inbox_leaves_the_probe_pending_and_sends_no_new_request(project, site, sales):
    project.check("demo", demo_check(site, "within: 1h\nevery: 1s"))
    project.run_one(report=False)
    shutil.rmtree(sales.maildir)
    sales.maildir.write_text("not a maildir")
    unchecked, unsent = project.run(report=False).results
    assert (unchecked.status, unchecked.step, unchecked.category) == (Status.ERROR, "followup", Category.INBOX)
    assert "could not check the follow-up" in unchecked.reason and "Maildir" in unchecked.reason
    assert (unsent.status, unsent.step, unsent.category) == (Status.ERROR, "followup", Category.INBOX)
    assert unsent.reason.startswith("no demo request sent: its follow-up could not be watched")
    assert len(sales.submissions) == 1
    assert [p.state for p in open_probes(project)] == ["pending"]


def test_auto_replies_and_marketing_sends_never_count_and_say_why():
    rules = FollowupRules(subject_contains="demo", sender="*@acme.test")
    cases = {
        "auto-reply (Auto-Submitted: auto-replied)": {"Auto-Submitted": "auto-replied"},
        "auto-reply (X-Autoreply: yes)": {"X-Autoreply": "yes"},
        "auto-reply (X-Autorespond: on)": {"X-Autorespond": "on"},
        "auto-reply (Precedence: junk)": {"Precedence": "junk"},
        "auto-reply (Precedence: auto_reply)": {"Precedence": "auto_reply"},
        "auto-generated (X-Auto-Response-Suppress: All)": {"X-Auto-Response-Suppress": "All"},
        "marketing send (List-Unsubscribe with Precedence: bulk)": {"Precedence": "bulk", "List-Unsubscribe": "<https://x>"},
    }
    for why, headers in cases.items():
        assert judge(_email("Your demo", "sam@acme.test", headers), rules) == why
    assert judge(_email("Your demo", "sam@acme.test", {"Auto-Submitted": "no"}), rules) is None
    assert judge(_email("Hello", "sam@acme.test"), rules) == "subject does not contain 'demo'"
    assert judge(_email("Your demo", "bot@other.test"), rules) == "sender does not match '*@acme.test'"
    assert judge(_email("Re: DEMO", "Sam <sam@acme.test>"), rules) is None


def test_evidence_lists_every_ignored_message_with_its_reason(project, site, sales, monkeypatch):
    project.check("demo", demo_check(site, "within: 1h\nsubject_contains: demo\nfrom: '*@acme.test'"))
    project.run_one(report=False)
    t0, to = sales.submissions[-1]
    sales.send(to, "Our newsletter: demo days", t0 + 5, "News <news@acme.test>", {"Precedence": "bulk", "List-Unsubscribe": "<https://x>"})
    sales.send(to, "Your demo", t0 + 10, "Partner <bob@reseller.test>")
    sales.send(to, "Your demo", t0 + 20, "Sam <sam@acme.test>")
    at(project, t0, 60)
    [result] = settle(project)
    assert result.status is Status.PASS and result.latency_s == pytest.approx(20, abs=1.01)
    assert [i["why"] for i in result.evidence["followup"]["ignored"]] == [
        "auto-reply (Auto-Submitted: auto-replied)",
        "marketing send (List-Unsubscribe with Precedence: bulk)",
        "sender does not match '*@acme.test'",
    ]


def test_business_hours_sla_counts_only_open_hours_across_a_weekend(project, site, sales):
    project.check("demo", demo_check(site))
    store = Store(project.load().database_path)
    section = FollowupSection(within=4 * 3600, hours="Mon-Fri 09:00-17:00 Europe/Berlin", subject_contains="demo")
    friday_4pm = datetime(2026, 3, 27, 15, 0, tzinfo=timezone.utc)  # 16:00 CET, the Friday before the DST change
    values = followup.probe_values(section, friday_4pm, "fwhours001", "qa+fwhours001@example.com", "checks/demo.yaml")
    assert values["sla_deadline"] == "2026-03-30T10:00:00.000Z"  # Mon 12:00 CEST: 1h Friday + 3h Monday
    submitting, _ = store.begin_run("all checks")  # probes name real runs (foreign keys)
    settling, _ = store.begin_run("all checks")
    store.ledger.record("Demo request", "desktop", submitting, values)
    monday_11am = datetime(2026, 3, 30, 9, 0, tzinfo=timezone.utc)  # 11:00 CEST
    sales.send("qa+fwhours001@example.com", "Your demo", monday_11am.timestamp(), sales.reply_from)
    [probe] = store.ledger.open_probes()
    result = followup.settle_probe(store.ledger, probe, _messages(project, "fwhours001"), monday_11am + timedelta(hours=1), settling)
    assert result.status is Status.PASS
    assert result.latency_s == 66 * 3600  # elapsed time (67h on Berlin wall clocks: they sprang forward)
    assert result.evidence["followup"]["reply"]["business_latency_s"] == 3 * 3600
    assert store.ledger.stats("Demo request").business_median_latency_s == 3 * 3600
    store.close()


def test_followup_stats_give_last_median_p90_and_share_within_sla(project, site, sales):
    project.check("demo", demo_check(site))
    store = Store(project.load().database_path)
    section = FollowupSection(within=600)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    for n, latency in enumerate([60, 120, 300, 900, None, 240, 30, 1200, 180, 90]):
        submitted = start + timedelta(days=n)
        token = f"fwstats{n:03d}"
        run_id, _ = store.begin_run("all checks")  # probes name real runs (foreign keys)
        store.ledger.record("Demo request", "desktop", run_id, followup.probe_values(section, submitted, token, f"qa+{token}@x.test", "c"))
        probe = next(p for p in store.ledger.open_probes() if p.token == token)
        if latency is not None:
            sales.send(f"qa+{token}@x.test", "demo", submitted.timestamp() + latency, sales.reply_from)
        assert followup.settle_probe(store.ledger, probe, _messages(project, token), submitted + timedelta(hours=1), run_id)
    stats = store.ledger.stats("Demo request")
    store.close()
    assert (stats.probes, stats.replied, stats.missing) == (10, 9, 1)
    assert stats.last_latency_s == 90 and stats.last_state == "passed"
    assert stats.median_latency_s == 180
    assert stats.p90_latency_s == 1200
    assert stats.within_sla_share == pytest.approx(0.7)  # 900 and 1200 late, one missing
    assert followup.describe_stats(stats) == (
        "follow-up over the last 10 demo requests: last 1m 30s, median 3m 0s, p90 20m 0s, 70% within SLA (1 without a reply)"
    )


def _messages(project, token: str) -> list[ReceivedEmail]:
    from funnelwatch.inbox.maildir import MaildirInbox

    return MaildirInbox(project.root / "inbox").messages_for(token)


def _email(subject: str, sender: str, headers: dict[str, str] | None = None) -> ReceivedEmail:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "qa+fw1@example.com", subject
    message["Date"] = "Mon, 30 Mar 2026 09:00:00 +0000"
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content("hello")
    return ReceivedEmail.parse(message.as_bytes())
