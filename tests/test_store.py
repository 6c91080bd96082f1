"""History in SQLite: versioned schema, WAL, a killed run leaves history intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from funnelwatch import Status
from funnelwatch.errors import FunnelwatchError
from funnelwatch.store import MIGRATIONS, Store


def test_new_database_is_at_the_latest_schema_in_wal_mode(tmp_path):
    store = Store(tmp_path / "h.db")
    try:
        assert store.version == len(MIGRATIONS)
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"runs", "results", "probes"} <= set(store.db.table_names())
    finally:
        store.close()


def test_a_database_from_a_newer_funnelwatch_is_refused_untouched(tmp_path):
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(FunnelwatchError, match="newer funnelwatch"):
        Store(path)
    assert path.read_bytes() == before


def test_a_corrupt_database_is_a_clear_error_and_is_not_overwritten(tmp_path):
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(FunnelwatchError) as caught:
        Store(path)
    assert "cannot use the history database" in str(caught.value) and "left untouched" in str(caught.value)
    assert path.read_bytes() == before


def test_killed_run_leaves_history_intact_and_is_marked_incomplete(project, site):
    project.config("database: reports/history.db\nbrowser:\n  timeout: 60s\n  concurrency: 1\ndefaults:\n  retries: 0\n")
    site.page("/lp/fast", "<title>Fast</title><p>Fast</p>")
    site.page("/lp/hang", "<title>Hang</title>", delay_s=30)
    project.check("a-fast", f"name: Fast\nlanding:\n  url: {site.url('/lp/fast')}\n")
    first = project.run()
    assert first.exit_code == 0
    project.check("b-hang", f"name: Hang\nlanding:\n  url: {site.url('/lp/hang')}\n")

    process = subprocess.Popen(
        [sys.executable, "-m", "funnelwatch", "-C", str(project.root), "run"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    db_path = project.root / "reports" / "history.db"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            conn = sqlite3.connect(db_path, timeout=5)
            stored = conn.execute("select count(*) from results where run_id > ?", [first.run_id]).fetchone()[0]
            conn.close()
            if stored >= 1:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run stored nothing within 60s")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    store = Store(db_path)
    try:
        runs = {r["id"]: r["state"] for r in store.runs()}
        assert runs[first.run_id] == "complete"
        assert runs[first.run_id + 1] == "incomplete"
        assert [r.status for r in store.results_for_run(first.run_id)] == [Status.PASS]
        assert [r.check for r in store.results_for_run(first.run_id + 1)] == ["Fast"]
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    site.page("/lp/hang", "<title>Hang</title><p>ok now</p>")
    assert project.run().exit_code == 0


def test_a_run_whose_pid_now_belongs_to_another_process_is_incomplete(tmp_path):
    """In a container funnelwatch is always PID 1: the pid of a killed run is alive again in the next one."""
    store = Store(tmp_path / "h.db")
    try:
        mine, _ = store.begin_run("all checks")
        earlier, _ = store.begin_run("all checks")
        # The earlier run had this very pid, but it was another process (started at another time).
        store.db.execute("update runs set process = ? where id = ?", ["0-boot:12345", earlier])
    finally:
        store.close()
    reopened = Store(tmp_path / "h.db")
    try:
        assert reopened.run(earlier)["state"] == "incomplete"
        assert reopened.run(earlier)["pid"] == os.getpid()
        assert reopened.run(mine)["state"] == "running", "this process's own run is alive"
    finally:
        reopened.close()


def test_a_history_from_the_first_schema_gets_the_process_column(tmp_path):
    import sqlite_utils

    path = tmp_path / "h.db"
    first = sqlite_utils.Database(path)
    MIGRATIONS[0](first)  # the schema as the first release left it
    first.execute("PRAGMA user_version = 1")
    first.close()
    store = Store(path)
    try:
        assert store.version == len(MIGRATIONS)
        run_id, _ = store.begin_run("all checks")
        assert store.run(run_id)["process"]
    finally:
        store.close()


def test_the_history_lives_in_data_with_its_lock_beside_it(tmp_path, site):
    from tests.fixtures.projects import Project

    site.page("/lp/home", "<h1>Home</h1>")
    project = Project(tmp_path).config("browser:\n  timeout: 5s\ndefaults:\n  retries: 0\n")
    project.check("home", f"name: Home\nlanding:\n  url: {site.url('/lp/home')}\n")
    config = project.load()
    assert config.database_path == tmp_path / "data" / "history.db" and config.notices == []
    assert project.run().exit_code == 0
    assert (tmp_path / "data" / "history.db").is_file() and (tmp_path / "data" / "history.db.lock").is_file()
    assert not list((tmp_path / "reports").glob("history.db*"))


def test_an_old_reports_history_without_a_database_setting_is_still_used_with_a_notice(tmp_path):
    from tests.fixtures.projects import Project

    old = Store(tmp_path / "reports" / "history.db")
    run_id, _ = old.begin_run("last month")
    old.finish_run(run_id, 0)
    old.close()
    project = Project(tmp_path).config("browser:\n  timeout: 5s\n")
    project.check("home", "name: Home\nlanding:\n  url: https://example.com/\n")
    config = project.load()
    assert config.database_path == tmp_path / "reports" / "history.db"
    assert config.notices == [
        "using reports/history.db, the old default inside the published reports folder (it holds received emails and "
        "tokens) — move it with `mkdir -p data && mv reports/history.db* data/`, or set `database: reports/history.db` "
        "to keep it there and silence this"
    ]
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(tmp_path), "history"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("funnelwatch: using reports/history.db, the old default") == 1
    (tmp_path / "data").mkdir()
    for part in (tmp_path / "reports").glob("history.db*"):
        part.rename(tmp_path / "data" / part.name)
    moved = project.load()
    assert moved.database_path == tmp_path / "data" / "history.db" and moved.notices == []
    store = Store(moved.database_path)
    try:
        assert [r["selection"] for r in store.runs()] == ["last month"]
    finally:
        store.close()
    project.config("database: reports/history.db\n")
    assert project.load().notices == []
