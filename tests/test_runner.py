"""Runs, retries and statuses: pass, fail, flaky, error; exit codes 0/1/2."""

from __future__ import annotations

import pytest

from funnelwatch import Category, Status
from funnelwatch.demo.server import Response

RETRY_CONFIG = "database: reports/history.db\nbrowser:\n  timeout: 5s\ndefaults:\n  retries: 1\n  retry_delay: 0s\n"


def landing(project, name, url, must_show="[]"):
    project.check(name, f"name: {name}\nlanding:\n  url: {url}\n  must_show: {must_show}\n")


def test_fail_then_pass_on_retry_is_flaky(project, site):
    project.config(RETRY_CONFIG)
    hits = []

    @site.route("/lp/cold")
    def cold(_):
        hits.append(1)
        if len(hits) == 1:
            return Response(503, "<h1>Service Unavailable</h1>", {"Retry-After": "1"})
        return Response(200, "<title>Offer</title><h1>Offer</h1>")

    landing(project, "cold", site.url("/lp/cold"), "[Offer]")
    result = project.run_one()
    assert (result.status, result.attempts) == (Status.FLAKY, 2)
    assert (result.step, result.category) == ("landing", Category.HTTP_STATUS)
    assert "HTTP 503" in result.reason


def test_failing_twice_is_fail_after_all_retries(project, site):
    project.config(RETRY_CONFIG)
    site.page("/lp/down", "<h1>Bad Gateway</h1>", status=502)
    landing(project, "down", site.url("/lp/down"))
    outcome = project.run()
    (result,) = outcome.results
    assert (result.status, result.attempts, result.category) == (Status.FAIL, 2, Category.HTTP_STATUS)
    assert outcome.exit_code == 1


def test_all_passing_exits_0(project, site):
    site.page("/lp/a", "<title>A</title><p>A</p>")
    landing(project, "a", site.url("/lp/a"))
    assert project.run().exit_code == 0


def test_bad_check_file_is_an_error_result_and_the_others_still_run(project, site):
    site.page("/lp/a", "<title>A</title><p>A</p>")
    landing(project, "a", site.url("/lp/a"))
    project.check("broken", "name: Broken one\nlanding:\n  urll: x\n")
    outcome = project.run()
    statuses = {r.check: (r.status, r.category) for r in outcome.results}
    assert statuses == {"a": (Status.PASS, None), "Broken one": (Status.ERROR, Category.CONFIG)}
    broken = next(r for r in outcome.results if r.check == "Broken one")
    assert broken.reason.startswith("checks/broken.yaml:3: landing.urll: unknown key")
    assert outcome.exit_code == 2


def test_results_are_stored_with_the_run(project, site):
    from funnelwatch.store import Store

    site.page("/lp/a", "<title>A</title><p>A</p>")
    landing(project, "a", site.url("/lp/a"))
    first = project.run()
    second = project.run()
    store = Store(project.root / "reports" / "history.db")
    try:
        assert [r.status for r in store.history("a")] == [Status.PASS, Status.PASS]
        assert store.run(first.run_id)["state"] == store.run(second.run_id)["state"] == "complete"
    finally:
        store.close()


def test_tag_and_name_filters_select_checks(project, site):
    site.page("/lp/a", "<title>A</title><p>A</p>")
    project.check("a", f"name: Alpha\ntags: [google-ads]\nlanding:\n  url: {site.url('/lp/a')}\n")
    project.check("b", f"name: Beta\ntags: [meta-ads]\nlanding:\n  url: {site.url('/lp/a')}\n")
    assert [r.check for r in project.run(tags=["meta-ads"]).results] == ["Beta"]
    assert [r.check for r in project.run(checks=["Alpha"]).results] == ["Alpha"]
    assert [r.check for r in project.run(checks=["b"]).results] == ["Beta"]


def test_json_shape_matches_the_spec(project, site):
    site.page("/lp/a", "<title>A</title><p>A</p>")
    landing(project, "a", site.url("/lp/a"), "[Missing words]")
    doc = project.run().to_json()
    assert set(doc) == {"schema_version", "run_id", "started_at", "finished_at", "exit_code", "results", "problems"}
    (result,) = doc["results"]
    assert {"check", "file", "status", "step", "category", "reason", "duration_s", "attempts", "report"} <= set(result)
    assert (result["status"], result["step"], result["category"]) == ("fail", "landing", "text_missing")
    assert result["file"] == "checks/a.yaml" and result["report"] == "reports/funnels/a.html"
    assert doc["started_at"].endswith("Z") and doc["finished_at"].endswith("Z")


def test_check_files_whose_names_slugify_alike_keep_their_own_screenshots_and_traces(project, site):
    project.config("database: reports/history.db\nreports_dir: reports\nbrowser:\n  timeout: 5s\n  trace: retain-on-failure\n"
                   "defaults:\n  retries: 0\n")
    site.page("/lp/space", "<title>Space</title><h1>Space</h1>")
    site.page("/lp/dash", "<title>Dash</title><h1>Dash</h1>")
    landing(project, "a b", site.url("/lp/space"), "[Nowhere on the space page]")
    landing(project, "a-b", site.url("/lp/dash"), "[Nowhere on the dash page]")
    config = project.load()
    outcome = project.run(report=False)
    assert [r.status for r in outcome.results] == [Status.FAIL, Status.FAIL]
    kept = [r.artifacts for r in outcome.results]
    for kind in ("screenshot", "trace"):
        paths = [artifacts[kind] for artifacts in kept]
        assert len(set(paths)) == 2, f"two checks share one {kind}: {paths}"
        assert all((config.reports_dir / path).is_file() for path in paths)


def test_a_retry_waits_retry_delay_and_leaves_its_browser_slot_to_other_checks(project, site):
    import time

    project.config("database: data/history.db\nbrowser:\n  timeout: 5s\n  concurrency: 1\n"
                   "defaults:\n  retries: 1\n  retry_delay: 2s\n")
    seen: dict[str, list[float]] = {"cold": [], "other": []}

    @site.route("/lp/delay-cold")
    def cold(_):
        seen["cold"].append(time.monotonic())
        if len(seen["cold"]) == 1:
            return Response(503, "<h1>Deploying</h1>")
        return Response(200, "<title>Offer</title><h1>Offer</h1>")

    @site.route("/lp/delay-other")
    def other(_):
        seen["other"].append(time.monotonic())
        return Response(200, "<title>Other</title><h1>Other</h1>")

    landing(project, "a-cold", site.url("/lp/delay-cold"), "[Offer]")
    landing(project, "b-other", site.url("/lp/delay-other"), "[Other]")
    results = {r.check: r for r in project.run().results}
    assert (results["a-cold"].status, results["a-cold"].attempts) == (Status.FLAKY, 2)
    assert results["b-other"].status is Status.PASS
    first, retry = seen["cold"]
    assert retry - first >= 2.0  # the pause (2s plus up to half again of jitter), then a free slot
    assert first < seen["other"][0] < retry  # with one slot, the other check ran during the pause


def test_retry_delay_is_a_duration_with_a_few_seconds_default():
    from funnelwatch.config import validate_text
    from funnelwatch.schema import Settings

    assert Settings().defaults.retry_delay == 5.0
    (problem,) = validate_text("defaults:\n  retry_delay: soon\n", Settings, "config/funnelwatch.yaml")
    assert str(problem).startswith("config/funnelwatch.yaml:2: defaults.retry_delay: ")


def test_a_failures_trace_keeps_the_page_snapshots_and_leaves_out_the_filmstrip(project, site):
    import zipfile

    project.config("database: reports/history.db\nreports_dir: reports\nbrowser:\n  timeout: 5s\n"
                   "defaults:\n  retries: 1\n  retry_delay: 0s\n")
    site.page("/lp/traced", "<title>Traced</title><h1>Traced</h1>")
    landing(project, "traced", site.url("/lp/traced"), "[Nowhere on the page]")
    config = project.load()
    (result,) = project.run(report=False).results
    assert (result.status, result.category, result.attempts) == (Status.FAIL, Category.TEXT_MISSING, 2)
    assert result.artifacts["trace"].endswith("traced-desktop-attempt2-trace.zip")
    with zipfile.ZipFile(config.reports_dir / result.artifacts["trace"]) as trace:
        events = "".join(trace.read(name).decode("utf-8", "replace") for name in trace.namelist() if name.endswith(".trace"))
    assert '"frame-snapshot"' in events  # the trace viewer shows the page at each action
    assert '"screencast-frame"' not in events  # the filmstrip was the expensive part; the failure's screenshot is kept


def test_a_check_waiting_out_its_retry_delay_holds_no_slot_so_the_next_check_runs_meanwhile(project, site):
    project.config("database: data/history.db\nbrowser:\n  timeout: 5s\n  concurrency: 1\n"
                   "defaults:\n  retries: 1\n  retry_delay: 1s\n")
    log: list[tuple[str, str]] = []

    @site.route("/lp/slot-cold")
    def cold(_):
        log.append(("hit", "cold"))
        if log.count(("hit", "cold")) == 1:
            return Response(503, "<h1>Deploying</h1>")
        return Response(200, "<title>Offer</title><h1>Offer</h1>")

    @site.route("/lp/slot-other")
    def other(_):
        log.append(("hit", "other"))
        return Response(200, "<title>Other</title><h1>Other</h1>")

    def progress(event, payload):
        if event == "start":
            log.append(("start", payload.check.name))
        elif event == "result":
            log.append(("result", payload.check))

    landing(project, "a-cold", site.url("/lp/slot-cold"), "[Offer]")
    landing(project, "b-other", site.url("/lp/slot-other"), "[Other]")
    results = {r.check: r for r in project.run(progress=progress).results}
    assert (results["a-cold"].status, results["a-cold"].attempts, results["b-other"].status) == (Status.FLAKY, 2, Status.PASS)
    # One slot: the other check starts and finishes between the cold check's failed attempt and its retry.
    assert log == [("start", "a-cold"), ("hit", "cold"), ("start", "b-other"), ("hit", "other"), ("result", "b-other"),
                   ("hit", "cold"), ("result", "a-cold")]


@pytest.mark.parametrize("mode, retries, traced", [
    ("on-all-retries", 1, ["attempt2"]),  # the default: the first attempt, which usually passes, pays nothing
    ("on-all-retries", 0, []),  # no retry, no trace: the screenshot is kept
    ("retain-on-failure", 0, ["attempt1"]),
    ("retain-on-failure", 1, ["attempt1", "attempt2"]),
    ("off", 1, []),
])
def test_browser_trace_says_which_attempts_of_a_failure_keep_a_trace(project, site, mode, retries, traced):
    trace = "" if mode == "on-all-retries" else f"  trace: {mode}\n"
    project.config(f"database: data/history.db\nbrowser:\n  timeout: 5s\n{trace}defaults:\n  retries: {retries}\n  retry_delay: 0s\n")
    site.page("/lp/trace-mode", "<title>Offer</title><h1>Offer</h1>")
    landing(project, "trace-mode", site.url("/lp/trace-mode"), "[Nowhere on the page]")
    config = project.load()
    (result,) = project.run(report=False).results
    assert (result.status, result.category, result.attempts) == (Status.FAIL, Category.TEXT_MISSING, retries + 1)
    kept = sorted(p.name.split("-")[-2] for p in config.reports_dir.rglob("*-trace.zip"))
    assert kept == traced
    assert ("trace" in result.artifacts) == bool(traced) and len(list(config.reports_dir.rglob("*.png"))) == retries + 1
