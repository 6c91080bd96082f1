"""`funnelwatch migrate --to postgresql://…`: a SQLite history with results, probes and alert state copied into
PostgreSQL renders the same report, an interrupted copy resumes without duplicates, the counts are verified."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import funnelwatch
from funnelwatch.errors import FunnelwatchError
from funnelwatch.store import Store, open_store
from tests.fixtures.projects import BASE_CONFIG
from tests.test_history_db import PREVIOUS, previous_project, report_pages

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("runs", "results", "evidence", "probes", "alert_state", "digests_sent", "maintenance_windows")


def _sqlite_history(root: Path):
    """The previous release's history (6 runs, 35 results, 6 probes), plus alert state, a digest and a window."""
    project = previous_project(root)
    (project.root / "reports").mkdir(parents=True)
    shutil.copy(PREVIOUS, project.root / "reports" / "history.db")
    store = Store(project.root / "reports" / "history.db")
    try:
        store.alert_state.save([{"channel": f"c{i}", "check_name": "HIPAA", "viewport": "desktop", "funnel": "broken",
                                 "monitor": "ok", "fail_streak": i, "pass_streak": 0, "updated_at": "2026-01-05T09:00:00Z"}
                                for i in range(3)])
        store.digests_sent.mark("weekly", "2026-01-05T08:00:00Z")
        start = datetime(2030, 1, 5, 9, 0, tzinfo=timezone.utc)
        store.maintenance.open(start, start + timedelta(hours=2), ["ads"], [], "deploy")
    finally:
        store.close()
    return project


def _counts(database: str | Path) -> dict[str, int]:
    store = open_store(database)
    try:
        return {t: store.db.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}
    finally:
        store.close()


def test_migrate_copies_a_sqlite_history_into_postgresql_and_the_report_is_the_same(tmp_path, postgres_url):
    project = _sqlite_history(tmp_path / "p")
    before = report_pages(project)
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "migrate", "--to", postgres_url],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    expected = _counts(project.root / "reports" / "history.db")
    assert expected["results"] == 35 and expected["probes"] == 6 and expected["alert_state"] == 3
    assert [line for line in done.stdout.splitlines() if ":" in line and " rows" in line] == [
        f"{t}: {n} of {n} rows" for t, n in expected.items()]
    password = postgres_url.split(":")[2].split("@")[0]
    assert password not in done.stdout + done.stderr
    assert _counts(postgres_url) == expected

    project.config(BASE_CONFIG.replace("database: reports/history.db", f"database: {postgres_url}"))
    (project.root / "reports" / "history.db").rename(tmp_path / "moved-away.db")  # the report now reads PostgreSQL only
    after = report_pages(project)
    assert set(after) == set(before) and len(after) >= 5
    for page, html in before.items():
        assert after[page] == html, f"{page} differs on PostgreSQL"

    store = open_store(postgres_url)
    try:  # new rows continue the numbering after the copied ids
        run_id, _ = store.begin_run("all checks")
        assert run_id == expected["runs"] + 1
    finally:
        store.close()


def test_an_interrupted_migrate_resumes_where_it_stopped_without_duplicates(tmp_path, postgres_url):
    project = _sqlite_history(tmp_path / "p")
    config = project.load()
    seen: list[tuple[str, int]] = []

    def stop_after_some(table: str, rows: int) -> None:
        seen.append((table, rows))
        if table == "results" and sum(n for t, n in seen if t == "results") >= 20:
            raise KeyboardInterrupt  # the operator's Ctrl-C after two batches of results

    with pytest.raises(KeyboardInterrupt):
        funnelwatch.api.migrate_history(config, postgres_url, batch=10, progress=stop_after_some)
    partial = _counts(postgres_url)
    assert partial["runs"] == 6 and partial["results"] == 20 and partial["probes"] == 0
    counts = funnelwatch.api.migrate_history(config, postgres_url, batch=10)
    assert [(c.table, c.source, c.target) for c in counts] == [(t, n, n) for t, n in _counts(config.database_path).items()]
    again = funnelwatch.api.migrate_history(config, postgres_url, batch=10)  # a third run copies nothing more
    assert [(c.source, c.target) for c in again] == [(c.source, c.target) for c in counts]


def test_migrate_refuses_a_target_that_is_not_postgresql_or_a_history_that_is_not_sqlite(tmp_path, postgres_url):
    project = _sqlite_history(tmp_path / "p")
    with pytest.raises(FunnelwatchError, match="not a PostgreSQL URL"):
        funnelwatch.api.migrate_history(project.load(), str(tmp_path / "other.db"))
    project.config(BASE_CONFIG.replace("database: reports/history.db", f"database: {postgres_url}"))
    with pytest.raises(FunnelwatchError, match="already on PostgreSQL"):
        funnelwatch.api.migrate_history(project.load(), postgres_url)
