"""A shared PostgreSQL history: several processes on one database settle, reserve and migrate once each,
the overlap lock is an advisory lock, a server that cannot be reached is a clear exit 2, and the URL's
password is never written anywhere. A real server: tests/fixtures/postgres.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from funnelwatch.errors import FunnelwatchError
from funnelwatch.locking import RunBusy
from funnelwatch.store import MIGRATIONS, open_store, run_lock
from tests.fixtures.dovecot import free_port
from tests.fixtures.projects import Project

ROOT = Path(__file__).resolve().parent.parent
FUNNELWATCH = [sys.executable, "-m", "funnelwatch"]
PROBES = 60

# A child process: waits for the `go` file (so all start at once), then does one job on the store.
CHILD = """
import json, os, sys, time
from datetime import datetime, timedelta, timezone
from funnelwatch.store import open_store
url, go, job = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.005)
store = open_store(url)
done = []
if job == "settle":
    run_id, _ = store.begin_run("follow-ups only")
    for probe in store.ledger.open_probes():
        if store.ledger.move(probe.id, probe.state, {"state": "passed", "latency_s": 60.0, "settled_run_id": run_id}):
            done.append(probe.id)
elif job == "reserve":
    run_id, _ = store.begin_run("all checks")
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    for i in range(int(sys.argv[4])):
        if store.ledger.reserve(f"Demo {i}", "desktop", run_id, now, 3600) is None:
            done.append(i)
    # Finished, as a run ends: a run left `running` by a process that is gone is dead, and a later
    # opener releases its reservations (a loaded machine may start the second child after the first exits).
    store.finish_run(run_id, 0)
store.close()
print(json.dumps(done))
"""


def _at_once(tmp_path: Path, url: str, job: str, processes: int = 2, *extra: str) -> list[list[int]]:
    import json

    go = tmp_path / f"go-{job}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, url, str(go), job, *extra], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for _ in range(processes)]
    time.sleep(1.0)  # every child is waiting at the line
    go.touch()
    answers = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        answers.append(json.loads(out))
    return answers


def _pending_probes(url: str, count: int) -> list[int]:
    store = open_store(url)
    try:
        run_id, _ = store.begin_run("all checks")
        ids = [store.ledger.record(f"Demo {i % 6}", "desktop", run_id, {
            "token": f"fw{i}", "address": f"qa+fw{i}@example.com", "submitted_at": "2026-01-05T09:00:00.000Z",
            "sla_deadline": "2026-01-05T10:00:00.000Z", "give_up_at": "2026-01-06T09:00:00.000Z", "within_s": 3600.0,
            "rules": "{}", "kind": "followup"}) for i in range(count)]
        store.finish_run(run_id, 0)
        return ids
    finally:
        store.close()


def test_two_processes_settling_the_same_open_probes_settle_each_exactly_once(tmp_path, postgres_url):
    probes = _pending_probes(postgres_url, PROBES)
    first, second = _at_once(tmp_path, postgres_url, "settle")
    assert sorted(first + second) == probes, "every probe settled, none twice"
    store = open_store(postgres_url)
    try:
        rows = list(store.ledger.rows())
        assert {r["state"] for r in rows} == {"passed"} and len(rows) == PROBES
        settled_by = {r["settled_run_id"] for r in rows}
        assert len(settled_by) <= 2 and None not in settled_by
    finally:
        store.close()


def test_two_processes_reserving_the_same_checks_at_once_get_each_window_once(tmp_path, postgres_url):
    open_store(postgres_url).close()
    first, second = _at_once(tmp_path, postgres_url, "reserve", 2, "30")
    assert sorted(first + second) == list(range(30)), "of two runs exactly one may submit each check"
    store = open_store(postgres_url)
    try:
        assert [r["n"] for r in store.db.query("select count(*) as n from probes group by check_name")] == [1] * 30
    finally:
        store.close()


def test_runners_starting_at_once_on_an_empty_database_migrate_it_once(tmp_path, postgres_url):
    answers = _at_once(tmp_path, postgres_url, "migrate", 4)
    assert answers == [[]] * 4, "no runner failed on another's half-made schema"
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("select version from schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_the_overlap_lock_on_postgresql_exits_or_waits_as_on_sqlite_and_names_the_holder(postgres_url):
    shown_url = "postgresql://" + postgres_url.split("@")[1]
    with run_lock(postgres_url, "exit"):
        with pytest.raises(RunBusy) as busy:
            with run_lock(postgres_url, "exit"):
                pass
        message = str(busy.value)
        assert f"another funnelwatch run (pid {os.getpid()} on " in message and f"is using {shown_url}" in message
        assert "password" not in message and postgres_url not in message
        with pytest.raises(RunBusy, match="an unsharded funnelwatch run is using"):  # an unsharded run excludes every shard
            with run_lock(postgres_url, "exit", name="shard-2-of-2"):
                pass
        told: list[str] = []
        entered = threading.Event()

        def second() -> None:
            with run_lock(postgres_url, "wait", notify=told.append):
                entered.set()

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(1.0)
        assert not entered.is_set() and told and told[0].startswith("waiting for the other funnelwatch run (pid ")
    waiter.join(timeout=30)
    assert entered.is_set(), "the waiting run goes once the first is done"


def test_shards_run_beside_each_other_but_never_beside_themselves_or_an_unsharded_run(database):
    """The same shape on both engines: shards share the history's lock, each holds its own alone."""
    with run_lock(database, "exit", name="shard-1-of-2"):
        with run_lock(database, "exit", name="shard-2-of-2"):
            with pytest.raises(RunBusy, match="shard"):
                with run_lock(database, "exit", name="shard-1-of-2"):
                    pass
            with pytest.raises(RunBusy):
                with run_lock(database, "exit"):
                    pass
    with run_lock(database, "exit"):
        with pytest.raises(RunBusy, match="unsharded funnelwatch run"):
            with run_lock(database, "exit", name="shard-1-of-2"):
                pass
    if not str(database).startswith("postgresql://"):
        assert Path(f"{database}.lock").is_file() and Path(f"{database}.shard-1-of-2.lock").is_file()


def _project(root: Path, database: str, site, page_text: str = "Fast") -> Project:
    project = Project(root).config(f"database: {database}\nreports_dir: reports\nbrowser:\n  timeout: 20s\n  concurrency: 1\n"
                                   "defaults:\n  retries: 0\n")
    site.page("/lp/pg-fast", f"<title>Fast</title><p>{page_text}</p>")
    project.check("fast", f"name: Fast\nlanding:\n  url: {site.url('/lp/pg-fast')}\n  must_show: [Fast]\n")
    project.check("gone", f"name: Gone\nlanding:\n  url: {site.url('/lp/pg-gone-404')}\n")
    return project


def test_a_bad_url_or_an_unreachable_server_is_exit_2_with_a_clear_message_and_no_password(tmp_path, postgres):
    port = free_port()
    for database, said in (
        (f"postgresql://fw:Hunter2-secret@127.0.0.1:{port}/fw",
         f"cannot reach the history database at postgresql://127.0.0.1:{port}/fw as user fw — connection failed"),
        (postgres.url("postgres", password="Hunter2-secret"),
         f"cannot reach the history database at postgresql://127.0.0.1:{postgres.port}/postgres as user postgres — "),
        ("postgresql://fw:Hunter2-secret@127.0.0.1:notaport/fw", "cannot reach the history database at postgresql://"),
    ):
        Project(tmp_path).config(f"database: {database}\n")
        done = subprocess.run([*FUNNELWATCH, "-C", str(tmp_path), "history"], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "Hunter2-secret" not in done.stderr + done.stdout


def test_a_run_on_postgresql_stores_and_reports_like_sqlite_and_never_writes_the_password(tmp_path, site, postgres):
    url = postgres.role("fw_app", "Pg-pass-7Kq", postgres.database().rsplit("/", 1)[1])
    assert "Pg-pass-7Kq" in url
    # The page shows the password (a leaky staging banner): it is a secret all the same, typed literally in the URL.
    pg_project = _project(tmp_path / "pg", url, site, "Fast Pg-pass-7Kq")
    lite_project = _project(tmp_path / "lite", "data/history.db", site, "Fast Pg-pass-7Kq")
    outcomes = {}
    for name, project in (("pg", pg_project), ("lite", lite_project)):
        done = subprocess.run([*FUNNELWATCH, "-C", str(project.root), "run", "--json"], capture_output=True, text=True,
                              timeout=180, cwd=ROOT)
        assert done.returncode == 1, done.stderr  # Gone is a 404
        assert "Pg-pass-7Kq" not in done.stdout + done.stderr
        outcomes[name] = done
    store = open_store(url)
    try:
        statuses = sorted((r.check, r.status.value, r.category.value if r.category else None) for r in store.history())
        dumped = " ".join(str(row) for table in ("runs", "results", "evidence", "probes")
                          for row in store.db.query(f"select * from {table}"))
    finally:
        store.close()
    assert statuses == [("Fast", "pass", None), ("Gone", "fail", "http_status")]
    history = subprocess.run([*FUNNELWATCH, "-C", str(pg_project.root), "history"], capture_output=True, text=True,
                             timeout=60, cwd=ROOT)
    assert history.returncode == 0 and "Gone" in history.stdout and "Fast" in history.stdout, history.stderr
    assert "Fast" in dumped and "Pg-pass-7Kq" not in dumped, "no stored row holds the password"
    pages = {name: sorted(p.relative_to(project.root / "reports").as_posix() for p in (project.root / "reports").rglob("*.html"))
             for name, project in (("pg", pg_project), ("lite", lite_project))}
    assert pages["pg"] == pages["lite"] and "index.html" in pages["pg"]
    shown = {name: _text_without_numbers(project.root / "reports" / "index.html")
             for name, project in (("pg", pg_project), ("lite", lite_project))}
    assert "Gone" in shown["pg"] and shown["pg"] == shown["lite"], "the overview says the same (times and durations aside)"
    for page in pages["pg"]:
        assert "Pg-pass-7Kq" not in (pg_project.root / "reports" / page).read_text(encoding="utf-8")
    assert not (tmp_path / "pg" / "data").exists() or not any((tmp_path / "pg" / "data").glob("*.db")), "no SQLite file was made"


def _text_without_numbers(page: Path) -> str:
    import re

    from bs4 import BeautifulSoup

    text = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text(" ", strip=True)
    return re.sub(r"\d+(\.\d+)?(ms|s|m|h)?\b", "#", re.sub(r"127\.0\.0\.1:\d+", "site", text))  # times, durations


def test_a_literal_password_in_the_url_is_a_secret_of_the_loaded_config(tmp_path):
    config = Project(tmp_path).config("database: postgresql://fw:Lit%2Fpass-99@db.internal:5433/funnels\n").load()
    assert config.postgresql and config.database_shown == "postgresql://db.internal:5433/funnels"
    assert config.redactor.redact("x Lit/pass-99 y Lit%2Fpass-99") == "x *** y ***"
    assert config.redactor.redact("funnelwatch fw") == "funnelwatch fw", "the user name is no secret"
    assert config.database_path.parent == tmp_path / "data" and not config.database_path.exists()


def test_a_stopped_server_mid_use_is_a_clear_error_naming_it(postgres, postgres_url):
    store = open_store(postgres_url)
    try:
        backend = store.db.execute("select pg_backend_pid()").fetchone()[0]
        with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", [backend])
        with pytest.raises(FunnelwatchError, match=r"lost the history database at postgresql://127\.0\.0\.1:\d+/t\d+ — ") as lost:
            store.runs()
        assert postgres.password not in str(lost.value)
    finally:
        store.close()


def test_reserving_on_postgresql_holds_every_across_stores(postgres_url):
    now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    first, second = open_store(postgres_url), open_store(postgres_url)
    try:
        one, _ = first.begin_run("all checks")
        two, _ = second.begin_run("all checks")
        assert first.ledger.reserve("Demo", "desktop", one, now, 3600) is None
        held = second.ledger.reserve("Demo", "desktop", two, now, 3600)
        assert held is not None and held.state == "reserved"
    finally:
        first.close()
        second.close()


def test_a_full_disk_on_the_server_is_disk_full_naming_the_server_and_nothing_of_the_write_is_kept(postgres_url):
    from funnelwatch.results import CheckResult, Status
    from funnelwatch.store import DiskFull

    store = open_store(postgres_url)
    try:
        run_id, _ = store.begin_run("all checks")
        # The server itself raises SQLSTATE 53100 (disk_full) on the evidence write, after the result row went in.
        store.db.execute("create function full_disk() returns trigger language plpgsql as "
                         "$$ begin raise exception 'could not extend file: No space left on device' using errcode = 'disk_full'; end $$")
        store.db.execute("create trigger full_disk before insert on evidence for each row execute function full_disk()")
        with pytest.raises(DiskFull) as full:
            store.add_result(run_id, CheckResult("A", "checks/a.yaml", Status.FAIL, evidence={"x": 1}))
        assert full.value.where == f"the disk of the PostgreSQL server holding {store.shown} is full"
        assert full.value.name == store.shown and postgres_url not in str(full.value)
        assert store.results_for_run(run_id) == [], "the result row of that write was rolled back with it"
        assert store.release_reserve() is False, "no reserve file on this machine for a server's disk"
        store.abandon_run(run_id)
        assert store.run(run_id)["state"] == "incomplete"
    finally:
        store.close()


def test_a_user_without_the_right_to_create_tables_is_told_what_to_grant(postgres):
    database = postgres.database().rsplit("/", 1)[1]
    postgres.sql("create role fw_reader login password 'Reader-pw-42'")
    postgres.sql(f"grant connect on database {database} to fw_reader")
    with pytest.raises(FunnelwatchError) as refused:
        open_store(postgres.url(database, "fw_reader", "Reader-pw-42"))
    message = str(refused.value)
    assert message.startswith(f"the history database at postgresql://127.0.0.1:{postgres.port}/{database} refused a write (")
    assert "grant the user in `database:` the rights to create and write its tables" in message
    assert "Reader-pw-42" not in message
