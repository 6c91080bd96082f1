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


# --- both engines: the same store interface on SQLite and on PostgreSQL ------------------------------------------
# `database` (tests/fixtures/postgres.py) is a SQLite file path, then a fresh PostgreSQL database's URL.


def _open(database, **kwargs):
    from funnelwatch.store import open_store

    return open_store(database, **kwargs)


def test_a_new_history_is_at_the_latest_schema_with_every_table_on_both_engines(database):
    store = _open(database)
    try:
        assert store.version == len(MIGRATIONS)
        tables = set(store.db.table_names())
        assert {"runs", "results", "evidence", "probes", "alert_state", "digests_sent", "maintenance_windows"} <= tables
    finally:
        store.close()
    again = _open(database)  # a second open finds the schema current and migrates nothing
    try:
        assert again.version == len(MIGRATIONS)
    finally:
        again.close()


def test_results_runs_and_their_evidence_round_trip_on_both_engines(database):
    from funnelwatch.results import Category, CheckResult, StepRecord

    store = _open(database)
    try:
        run_id, _ = store.begin_run("all checks")
        assert store.run(run_id)["state"] == "running" and store.run(run_id)["host"]
        big = {"asset": {"email": {"subject": "Your guide 100% free?", "html": "<p>" + "x" * 5000 + "</p>"}}}
        failing = store.add_result(run_id, CheckResult(
            "Guide", "checks/guide.yaml", Status.FAIL, step="asset", category=Category.WRONG_ASSET, reason="wrong PDF",
            evidence=big, artifacts={"screenshot": "artifacts/1/guide.png"}, tags=["ads"], started_at="2026-01-02T03:04:05Z",
            steps=[StepRecord("landing", True, 1.5), StepRecord("asset", False, 2.25)]))
        passing = store.add_result(run_id, CheckResult("Home", "checks/home.yaml", Status.PASS, started_at="2026-01-02T03:04:06Z"))
        finished = store.finish_run(run_id, 1)
        assert store.run(run_id)["state"] == "complete" and store.run(run_id)["exit_code"] == 1 and finished
        assert store.result(failing).evidence == big and store.result(passing).evidence == {}
        assert store.result(failing).artifacts == {"screenshot": "artifacts/1/guide.png"} and store.result(failing).tags == ["ads"]
        assert store.steps_of([failing, passing]) == {failing: [("landing", 1.5), ("asset", 2.25)]}
        assert [r.check for r in store.results_for_run(run_id)] == ["Guide", "Home"]
        assert [r.check for r in store.history()] == ["Home", "Guide"] and store.history("Guide")[0].evidence == big
        assert {r.check: r.status for r in store.latest()} == {"Guide": Status.FAIL, "Home": Status.PASS}
        assert [r["id"] for r in store.recent("Guide")] == [failing]
        assert store.check_names() == ["Guide", "Home"]
        assert [r["check_name"] for r in store.results_between("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z")] == ["Guide", "Home"]
        assert sorted((r["check_name"], r["status"], r["n"]) for r in store.window_counts("2026-01-01T00:00:00Z")) == [
            ("Guide", "fail", 1), ("Home", "pass", 1)]
        assert store.streak_start("Guide", "desktop") == "2026-01-02T03:04:05Z" and store.streak_start("Home", "desktop") is None
        assert store.run_started([run_id]) == {run_id: store.run(run_id)["started_at"]}
        assert [r["id"] for r in store.runs()] == [run_id]
    finally:
        store.close()


def test_the_ledger_reserves_once_per_every_and_moves_each_probe_once_on_both_engines(database):
    from datetime import datetime, timedelta, timezone

    store = _open(database)
    try:
        run_id, _ = store.begin_run("all checks")
        now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        assert store.ledger.reserve("Demo", "desktop", run_id, now, 3600) is None, "the first run gets to submit"
        held = store.ledger.reserve("Demo", "desktop", run_id, now + timedelta(minutes=5), 3600)
        assert held is not None and held.state == "reserved", "inside `every` the reservation holds"
        store.ledger.arm("Demo", "desktop", run_id, {"token": "fw1", "submitted_at": "2026-01-05T09:00:01.000Z"})
        probe = store.ledger.record("Demo", "desktop", run_id, {
            "token": "fw1", "address": "qa+fw1@example.com", "submitted_at": "2026-01-05T09:00:01.000Z",
            "sla_deadline": "2026-01-05T10:00:01.000Z", "give_up_at": "2026-01-06T09:00:01.000Z", "within_s": 3600.0,
            "rules": "{}", "kind": "followup"})
        assert store.ledger.has_open_probes() and [p.id for p in store.ledger.open_probes()] == [probe]
        assert store.ledger.open_probes(("contact",)) == []
        assert store.ledger.move(probe, "pending", {"state": "passed", "latency_s": 600.0, "settled_at": "2026-01-05T09:10:01.000Z"})
        assert not store.ledger.move(probe, "pending", {"state": "late"}), "a probe leaves `pending` once"
        assert not store.ledger.has_open_probes()
        stats = store.ledger.stats("Demo")
        assert (stats.probes, stats.replied, stats.last_state, stats.last_latency_s) == (1, 1, "passed", 600.0)
        assert store.ledger.latencies("Demo", now - timedelta(days=1)) == [("2026-01-05T09:00:01.000Z", 600.0, "passed")]
        assert store.ledger.reserve("Pricing", "desktop", run_id, now, 3600) is None
        store.ledger.release("Pricing", "desktop", run_id, submitted=False)
        assert [r["state"] for r in store.ledger.rows("check_name = ?", ["Pricing"])] == ["released"]
        assert store.ledger.holder("Pricing") is None, "a released reservation holds nothing"
    finally:
        store.close()


def test_alert_state_digests_and_maintenance_windows_are_kept_on_both_engines(database):
    from datetime import datetime, timedelta, timezone

    store = _open(database)
    try:
        row = {"channel": "c1", "check_name": "Demo", "viewport": "desktop", "funnel": "broken", "monitor": "ok",
               "fail_streak": 2, "pass_streak": 0, "broken_since": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"}
        store.alert_state.save([row])
        store.alert_state.save([{**row, "funnel": "ok", "fail_streak": 0, "pass_streak": 1}])  # an upsert, not a second row
        loaded = store.alert_state.load("c1")
        assert list(loaded) == [("Demo", "desktop")]
        assert (loaded["Demo", "desktop"]["funnel"], loaded["Demo", "desktop"]["pass_streak"]) == ("ok", 1)
        assert store.alert_state.load("c2") == {}
        assert store.digests_sent.last("weekly") is None
        store.digests_sent.mark("weekly", "2026-01-05T08:00:00Z")
        store.digests_sent.mark("weekly", "2026-01-12T08:00:00Z")
        assert store.digests_sent.last("weekly") == "2026-01-12T08:00:00Z"
        now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        opened = store.maintenance.open(now, now + timedelta(hours=2), ["ads"], [], "deploy")
        assert opened["id"] and opened["tags"] == ["ads"]
        assert [w["note"] for w in store.maintenance.active(now)] == ["deploy"]
        assert store.maintenance.end(now + timedelta(minutes=30), ["other"]) == 0
        assert store.maintenance.end(now + timedelta(minutes=30), []) == 1
        assert store.maintenance.active(now + timedelta(minutes=31)) == []
    finally:
        store.close()


def test_a_run_of_a_dead_process_is_marked_incomplete_and_its_reservation_released_on_both_engines(database):
    from datetime import datetime, timezone

    alive = _open(database)  # stays open: its run is this live process's (SQLite: the pid; PostgreSQL: the session)
    try:
        mine, _ = alive.begin_run("all checks")
        store = _open(database)
        try:
            earlier, _ = store.begin_run("all checks")
            store.ledger.reserve("Demo", "desktop", earlier, datetime(2026, 1, 5, tzinfo=timezone.utc), 3600)
            store.db.execute("update runs set process = ? where id = ?", ["0-boot:12345", earlier])  # that pid, another process
        finally:
            store.close()  # on PostgreSQL the session goes as a killed process's does
        reopened = _open(database)
        try:
            assert reopened.run(earlier)["state"] == "incomplete"
            assert reopened.run(mine)["state"] == "running", "this process's own run is alive"
            assert [r["state"] for r in reopened.ledger.rows()] == ["released"]
        finally:
            reopened.close()
    finally:
        alive.close()


def _on_another_host(store, run_id):
    """Make a run look as if another machine (a pod since deleted) ran it: its pid and host mean nothing here."""
    store.db.execute("update runs set host = 'pod-7f9c', pid = 1, process = 'x:1' where id = ?", [run_id])


def test_a_run_of_another_host_whose_session_is_gone_is_marked_incomplete_at_once(postgres_url):
    from datetime import datetime, timezone

    store = _open(postgres_url)
    try:
        gone, _ = store.begin_run("all checks, shard 2/2")
        store.ledger.reserve("Demo", "desktop", gone, datetime(2026, 1, 5, tzinfo=timezone.utc), 3600)
        _on_another_host(store, gone)
    finally:
        store.close()  # the pod is killed: its connection drops, and with it the run's alive lock
    reopened = _open(postgres_url)
    try:
        assert reopened.run(gone)["state"] == "incomplete", "not left for a day: its session is gone now"
        assert [r["state"] for r in reopened.ledger.rows()] == ["released"]
    finally:
        reopened.close()


def test_a_run_of_another_host_whose_session_is_alive_is_left_alone_however_old(postgres_url):
    running = _open(postgres_url)
    try:
        alive, _ = running.begin_run("all checks, shard 1/2")
        _on_another_host(running, alive)
        running.db.execute("update runs set started_at = '2020-01-01T00:00:00Z' where id = ?", [alive])
        opener = _open(postgres_url)
        try:
            assert opener.run(alive)["state"] == "running", "its session holds run-alive: its pid and host mean nothing here"
        finally:
            opener.close()
        running.finish_run(alive, 0)
        again = _open(postgres_url)
        try:
            assert again.run(alive)["state"] == "complete", "a finished run lets its lock go and stays complete"
        finally:
            again.close()
    finally:
        running.close()


def test_a_postgresql_history_from_a_newer_funnelwatch_is_refused_untouched(postgres_url):
    _open(postgres_url).close()
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("update schema_version set version = %s", [len(MIGRATIONS) + 5])
    with pytest.raises(FunnelwatchError, match="newer funnelwatch"):
        _open(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("select version from schema_version").fetchone() == (len(MIGRATIONS) + 5,)
