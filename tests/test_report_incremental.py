"""A report build writes only the funnel pages that changed; the index always.

After a run, only the pages of funnels with new results are rendered again
(the history keeps what each page was built from: `report_pages`); a page
whose file is gone, or that other templates or another funnelwatch built, is
written again; `funnelwatch report --full` writes every page. Whatever was
skipped, the pages read exactly as a full rebuild writes them — on a SQLite
file and on a shared PostgreSQL history alike.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import time_machine
from click.testing import CliRunner

import funnelwatch
import funnelwatch.report
from funnelwatch.cli import cli
from funnelwatch.results import Category, CheckResult, Status
from funnelwatch.store import Store, open_store

from .fixtures.report_history import ReportHistory, write_history

OLD = 1_000_000_000  # an mtime long ago: a page that still has it was not written again


def pages(history: ReportHistory) -> dict[str, Path]:
    return {path.name: path for path in sorted((history.reports / "funnels").glob("*.html"))}


def age_pages(history: ReportHistory) -> None:
    for path in pages(history).values():
        os.utime(path, (OLD, OLD))


def rewritten(history: ReportHistory) -> list[str]:
    return [name for name, path in pages(history).items() if path.stat().st_mtime != OLD]


def build(history: ReportHistory, full: bool = False) -> None:
    funnelwatch.api.build_report(history.project.load(), full=full)


def a_run_breaking_pricing(history: ReportHistory) -> None:
    """One more run, half an hour after last night's, in which only the pricing page ran (and broke)."""
    store = open_store(history.database)
    try:
        run_id, started = store.begin_run("check Pricing page")
        store.add_result(run_id, CheckResult(
            check="Pricing page", file="checks/healthy.yaml", status=Status.FAIL, step="landing",
            category=Category.HTTP_STATUS, reason="the page answered 502 (run after the deploy)",
            started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"), duration_s=1.5, tags=["organic"]))
        store.finish_run(run_id, 1)
    finally:
        store.close()


def test_after_a_run_of_one_funnel_only_its_page_is_written_again(project, database):
    history = write_history(project, days=10, database=database)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        before = {name: path.read_text(encoding="utf-8") for name, path in pages(history).items()}
        a_run_breaking_pricing(history)
        build(history)
    assert rewritten(history) == ["healthy.html"]
    assert "the page answered 502 (run after the deploy)" in (history.reports / "funnels" / "healthy.html").read_text()
    assert all(path.read_text(encoding="utf-8") == before[name] for name, path in pages(history).items()
               if name != "healthy.html")
    index = history.index.read_text(encoding="utf-8")
    assert "the page answered 502 (run after the deploy)" in index


def test_a_build_with_nothing_new_writes_no_funnel_page(project):
    history = write_history(project, days=10)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        build(history)
    assert rewritten(history) == []


def test_the_pages_an_incremental_build_leaves_read_as_a_full_rebuild_writes_them(project, database):
    history = write_history(project, days=10, database=database)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        a_run_breaking_pricing(history)
        build(history)
        incremental = {name: path.read_text(encoding="utf-8") for name, path in pages(history).items()}
        index = history.index.read_text(encoding="utf-8")
        age_pages(history)
        build(history, full=True)
    assert len(rewritten(history)) == len(incremental) == 9
    assert {name: path.read_text(encoding="utf-8") for name, path in pages(history).items()} == incremental
    assert history.index.read_text(encoding="utf-8") == index


def test_a_deleted_page_is_written_again(project):
    history = write_history(project, days=10)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        (history.reports / "funnels" / "flaky.html").unlink()
        build(history)
    assert rewritten(history) == ["flaky.html"]


def test_report_full_writes_every_page(project):
    history = write_history(project, days=10)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        outcome = CliRunner().invoke(cli, ["-C", str(project.root), "report", "--full"])
    assert outcome.exit_code == 0, outcome.output
    assert len(rewritten(history)) == 9


def test_pages_built_by_other_templates_or_another_version_are_written_again(project, monkeypatch):
    history = write_history(project, days=10)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        monkeypatch.setattr(funnelwatch.report, "_templates_digest", lambda: "the next release's templates")
        build(history)
    assert len(rewritten(history)) == 9


def test_a_check_whose_tags_changed_gets_its_page_written_again(project):
    history = write_history(project, days=10)
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        project.check("healthy", "name: Pricing page\ntags: [organic, pricing]\nlanding: {url: 'http://127.0.0.1:9/pricing'}\n")
        build(history)
    assert rewritten(history) == ["healthy.html"]


def test_the_report_reads_each_checks_follow_up_figures_once(project, monkeypatch):
    from funnelwatch.store.ledger import SqlLedger

    history = write_history(project, days=20)
    calls: list[tuple[str, str]] = []
    for method in ("stats", "stats_with_window"):
        original = getattr(SqlLedger, method)
        monkeypatch.setattr(SqlLedger, method, lambda self, name, *a, _m=method, _o=original, **k: (
            calls.append((_m, name)), _o(self, name, *a, **k))[1])
    build(history)
    assert [name for method, name in calls if method == "stats"] == []
    assert sorted(name for method, name in calls if method == "stats_with_window") == sorted(
        {name for _, name in calls})  # once per funnel
    store = Store(history.reports / "history.db")
    try:
        since = history.now - timedelta(days=30)
        recent, window = store.ledger.stats_with_window("Demo request", since)
        assert recent.probes == 3 and (recent, window) == (
            store.ledger.stats("Demo request"), store.ledger.stats("Demo request", limit=100_000, since=since))
        assert store.ledger.stats_with_window("Demo request", since, limit=1) == (
            store.ledger.stats("Demo request", limit=1), store.ledger.stats("Demo request", limit=100_000, since=since))
    finally:
        store.close()


def test_a_new_report_timezone_writes_every_page_and_an_index_that_matches_a_full_rebuild(project):
    history = write_history(project, days=10)
    config = project.root / "config" / "funnelwatch.yaml"
    with time_machine.travel(history.now - timedelta(minutes=30), tick=False):
        build(history)
        age_pages(history)
        config.write_text(config.read_text(encoding="utf-8").replace("report:\n", "report:\n  timezone: Asia/Tokyo\n"),
                          encoding="utf-8")
        build(history)
        assert len(rewritten(history)) == 9
        incremental = history.index.read_text(encoding="utf-8")
        assert "JST" in incremental
        build(history, full=True)
    assert history.index.read_text(encoding="utf-8") == incremental
