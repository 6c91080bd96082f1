"""Maintenance windows: inside one, checks run and are stored, marked; alerts wait; uptime leaves them out."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from funnelwatch.clock import FixedClock
from funnelwatch.config import validate_text
from funnelwatch.schema import CheckSpec, Settings
from funnelwatch.store import Store

ROOT = Path(__file__).resolve().parent.parent
# Sunday 2026-11-22 01:30 in Berlin (UTC+1) is 00:30 UTC.
SUNDAY_NIGHT = datetime(2026, 11, 22, 0, 30, tzinfo=timezone.utc)


def settings(receiver, maintenance: str = "") -> str:
    return (f"database: data/history.db\nbrowser:\n  timeout: 5s\ndefaults:\n  retries: 0\n"
            f"alerts:\n  - url: {receiver.apprise_url('/maint')}\n{maintenance}")


def broken_site(site, path: str) -> str:
    site.page(path, "<h1>Deploying</h1>", status=503)
    return site.url(path)


def stored(project) -> list[tuple[str, str, str | None]]:
    store = Store(project.load().database_path)
    try:
        return [(r["check_name"], r["status"], r["maintenance"]) for r in store.db.query("select * from results order by id")]
    finally:
        store.close()


@pytest.mark.parametrize("text, problem", [
    ("  - Sun 25:00-26:00\n", "maintenance[0]: '25:00' is not a time of day"),
    ("  - start: 2026-12-24T18:00+01:00\n", "maintenance[0]: give weekly: (like 'Sun 01:00-03:00 Europe/Berlin') or both start: and end:"),
    ("  - start: 2026-12-24T18:00+01:00\n    end: 2026-12-24T17:00+01:00\n", "maintenance[0]: end 2026-12-24T17:00+01:00 is not after start"),
    ("  - start: Christmas\n    end: 2026-12-27\n", "maintenance[0]: 'Christmas' is not a time; write it like 2026-12-24T18:00+01:00"),
])
def test_a_bad_window_is_a_validation_error_naming_it(text, problem):
    found = validate_text("maintenance:\n" + text, Settings, "config/funnelwatch.yaml")
    assert len(found) == 1 and str(found[0]).startswith(f"config/funnelwatch.yaml:2: {problem}"), found


def test_windows_validate_in_both_shapes_and_a_check_keeps_its_own_windows_to_itself():
    good = ("maintenance:\n  - Sun 01:00-03:00 Europe/Berlin\n  - start: 2026-12-24T18:00+01:00\n"
            "    end: 2026-12-27T08:00+01:00\n    tags: [google-ads]\n    note: holiday freeze\n")
    assert validate_text(good, Settings) == []
    check = "name: x\nlanding:\n  url: https://example.com/\nmaintenance:\n  - weekly: Sun 01:00-03:00\n    tags: [a]\n"
    (found,) = validate_text(check, CheckSpec, "checks/x.yaml")
    assert str(found).startswith("checks/x.yaml:4: maintenance: a check's own maintenance windows cover that check")


def test_inside_a_weekly_window_checks_run_but_alerts_wait_until_it_is_over(project, receiver, site):
    url = broken_site(site, "/lp/maint-weekly")
    project.config(settings(receiver, "maintenance:\n  - Sun 01:00-03:00 Europe/Berlin\n"))
    project.check("spring", f"name: Spring offer\nlanding:\n  url: {url}\n")
    project.clock = FixedClock(SUNDAY_NIGHT.timestamp())
    inside = project.run(alerts=True)
    assert inside.exit_code == 1 and inside.results[0].maintenance == "Sun 01:00-03:00 Europe/Berlin"
    assert receiver.wait_for(1, timeout_s=0.5) == []
    project.clock = FixedClock((SUNDAY_NIGHT + timedelta(hours=2)).timestamp())  # 03:30 in Berlin
    after = project.run(alerts=True)
    assert after.results[0].maintenance is None
    assert [m["title"] for m in receiver.wait_for(1)] == ["funnelwatch: 1 funnel broken"]
    assert stored(project) == [("Spring offer", "fail", "Sun 01:00-03:00 Europe/Berlin"), ("Spring offer", "fail", None)]


def test_a_tagged_one_off_window_holds_only_the_checks_with_that_tag(project, receiver, site):
    url = broken_site(site, "/lp/maint-tag")
    now = datetime.now(timezone.utc)
    window = (f"maintenance:\n  - start: {(now - timedelta(hours=1)).isoformat()}\n    end: {(now + timedelta(hours=1)).isoformat()}\n"
              "    tags: [google-ads]\n")
    project.config(settings(receiver, window))
    project.check("ads", f"name: Ads offer\ntags: [google-ads]\nlanding:\n  url: {url}\n")
    project.check("organic", f"name: Organic offer\ntags: [seo]\nlanding:\n  url: {url}\n")
    outcome = project.run(alerts=True)
    assert {r.check: bool(r.maintenance) for r in outcome.results} == {"Ads offer": True, "Organic offer": False}
    (message,) = receiver.wait_for(1)
    assert message["title"] == "funnelwatch: 1 funnel broken" and "Organic offer" in message["message"]
    assert "Ads offer" not in message["message"]


def test_a_check_files_own_window_covers_that_check(project, receiver, site):
    url = broken_site(site, "/lp/maint-own")
    project.config(settings(receiver))
    project.check("own", f"name: Own window\nlanding:\n  url: {url}\nmaintenance:\n  - Sun 01:00-03:00 Europe/Berlin\n")
    project.clock = FixedClock(SUNDAY_NIGHT.timestamp())
    assert project.run(alerts=True).results[0].maintenance == "Sun 01:00-03:00 Europe/Berlin"
    assert receiver.wait_for(1, timeout_s=0.5) == []


def test_uptime_leaves_maintenance_results_out(project, receiver, site):
    url = broken_site(site, "/lp/maint-uptime")
    site.page("/lp/maint-fine", "<h1>Fine</h1>")
    project.config(settings(receiver, "maintenance:\n  - Sun 01:00-03:00 Europe/Berlin\n"))
    project.check("spring", f"name: Spring offer\nlanding:\n  url: {url}\n")
    project.clock = FixedClock(SUNDAY_NIGHT.timestamp())
    project.run()
    project.check("spring", f"name: Spring offer\nlanding:\n  url: {site.url('/lp/maint-fine')}\n")
    project.clock = FixedClock((SUNDAY_NIGHT + timedelta(hours=3)).timestamp())
    project.run()
    store = Store(project.load().database_path)
    try:
        counts = store.window_counts("2026-11-01T00:00:00Z")
    finally:
        store.close()
    assert [(c["status"], c["n"]) for c in counts] == [("pass", 1)]
    page = (project.root / "reports" / "funnels" / "spring.html").read_text()
    assert page.count("(maintenance: alerts held)") == 1


def cli(project, *args):
    return subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_maintenance_start_opens_an_ad_hoc_window_for_a_deploy(project, receiver, site):
    url = broken_site(site, "/lp/maint-adhoc")
    project.config(settings(receiver))
    project.check("ads", f"name: Ads offer\ntags: [google-ads]\nlanding:\n  url: {url}\n")
    project.check("organic", f"name: Organic offer\nlanding:\n  url: {url}\n")
    started = cli(project, "maintenance", "start", "--for", "2h", "--tag", "google-ads", "--note", "deploy 4.2")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("maintenance window open: ad-hoc ")
    assert "for tag google-ads (deploy 4.2) — checks still run; alerts wait until it ends" in started.stdout
    listed = cli(project, "maintenance", "list")
    assert "— open now" in listed.stdout and "deploy 4.2" in listed.stdout
    outcome = project.run(alerts=True)
    assert {r.check: bool(r.maintenance) for r in outcome.results} == {"Ads offer": True, "Organic offer": False}
    assert "Ads offer" not in receiver.wait_for(1)[0]["message"]
    ended = cli(project, "maintenance", "end")
    assert ended.stdout.strip() == "ended 1 maintenance window"
    assert cli(project, "maintenance", "list").stdout.strip() == "no maintenance windows"
    again = project.run(alerts=True)
    assert not any(r.maintenance for r in again.results)
    assert receiver.wait_for(2)[1]["title"] == "funnelwatch: 1 funnel broken"
    bad = cli(project, "maintenance", "start", "--for", "soon")
    assert bad.returncode == 2 and "--for" in bad.stderr and "Traceback" not in bad.stderr
