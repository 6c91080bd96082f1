"""The heartbeat: pinged after every complete run, saying up or down; the failure URL when funnelwatch could not do its job.

Against the real local HTTP receiver, through real runs (no browser needed:
a broken check file is a complete run whose every check is `error`).
"""

from __future__ import annotations

import pytest

import funnelwatch.alerts
from funnelwatch.errors import FunnelwatchError
from funnelwatch.results import Status


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch):
    monkeypatch.setattr(funnelwatch.alerts, "HEARTBEAT_RETRY_S", 0.05)


def settings(receiver, extra: str = "") -> str:
    return (f"database: data/history.db\ndefaults:\n  retries: 0\n"
            f"heartbeat: {receiver.http_url('/ping/abc')}?status={{status}}&code={{exit_code}}\n{extra}")


def test_a_run_where_every_check_errored_still_pings_and_says_down(project, receiver):
    project.config(settings(receiver))
    project.check("broken", "name: Broken\nlanding:\n  urll: https://example.com/\n")
    outcome = project.run(alerts=True)
    assert [r.status for r in outcome.results] == [Status.ERROR] and outcome.exit_code == 2
    assert outcome.problems == []
    assert receiver.pings == ["/ping/abc?status=down&code=2"]


def test_a_run_that_did_its_job_says_up_with_its_exit_code(project, receiver, site):
    site.page("/lp/beat-ok", "<h1>Fine</h1>")
    site.page("/lp/beat-broken", "<h1>Oops</h1>", status=500)
    project.config(settings(receiver))
    project.check("ok", f"name: Fine\nlanding:\n  url: {site.url('/lp/beat-ok')}\n")
    assert project.run(alerts=True).exit_code == 0
    project.check("broken", f"name: Broken\nlanding:\n  url: {site.url('/lp/beat-broken')}\n")
    assert project.run(alerts=True).exit_code == 1
    assert receiver.pings == ["/ping/abc?status=up&code=0", "/ping/abc?status=up&code=1"]


def test_heartbeat_fail_is_pinged_instead_when_funnelwatch_could_not_do_its_job(project, receiver):
    project.config(settings(receiver, f"heartbeat_fail: {receiver.http_url('/ping/abc/fail')}\n"))
    project.check("broken", "name: Broken\nlanding:\n  urll: https://example.com/\n")
    project.run(alerts=True)
    assert receiver.pings == ["/ping/abc/fail"]


def test_a_run_that_cannot_open_its_history_pings_the_failure_url(project, receiver):
    project.config(settings(receiver, f"heartbeat_fail: {receiver.http_url('/ping/abc/fail')}\n"))
    project.check("ok", "name: Fine\nlanding:\n  url: https://example.com/\n")
    (project.root / "data" / "history.db").mkdir(parents=True)  # a folder where the database should be
    with pytest.raises(FunnelwatchError, match="cannot use the history database"):
        project.run(alerts=True)
    assert receiver.pings == ["/ping/abc/fail"]


def test_the_heartbeat_is_retried_once(project, receiver):
    project.config(settings(receiver))
    project.check("broken", "name: Broken\nlanding:\n  urll: https://example.com/\n")
    receiver.fail_next = 1
    assert project.run(alerts=True).problems == []
    assert receiver.pings == ["/ping/abc?status=down&code=2"]
    receiver.fail_next = 2
    assert project.run(alerts=True).problems == ["heartbeat http://*** answered HTTP 500 (tried twice)"]
    assert receiver.pings == ["/ping/abc?status=down&code=2"]
