"""History people can explore: foreign keys, views, evidence in its own table, Datasette metadata, the
documented queries run as written in sqlite-utils, and a previous release's history migrates intact."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
import yaml

import funnelwatch
from funnelwatch.clock import iso, utcnow
from funnelwatch.results import Category, CheckResult, Status
from funnelwatch.store import MIGRATIONS, Store
from tests.fixtures import previous_release
from tests.fixtures.projects import BASE_CONFIG, Project

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS = ROOT / "tests" / "fixtures" / "history-95f5a05.db"
DOC = (ROOT / "docs" / "history.md").read_text(encoding="utf-8")
SQLITE_UTILS = str(Path(sys.executable).parent / "sqlite-utils")
FUNNELWATCH = [sys.executable, "-m", "funnelwatch"]


def previous_project(root: Path) -> Project:
    project = Project(root).config(BASE_CONFIG)
    for stem, text in previous_release.CHECKS.items():
        project.check(stem, text)
    return project


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def report_pages(project: Project) -> dict[str, str]:
    with time_machine.travel(previous_release.LAST_NIGHT + timedelta(hours=7), tick=False):
        funnelwatch.build_report(project.load())
    reports = project.root / "reports"
    return {str(p.relative_to(reports)): p.read_text(encoding="utf-8") for p in sorted(reports.rglob("*.html"))}


def test_a_history_written_by_the_previous_release_opens_migrates_and_renders_the_same_report(tmp_path):
    pristine = tmp_path / "previous.db"  # never opened in place: even a read leaves -wal/-shm files beside it
    shutil.copy(PREVIOUS, pristine)
    assert rows(pristine, "pragma user_version") == [(2,)], "the fixture is the previous release's schema"
    old = previous_project(tmp_path / "old")
    (old.root / "reports").mkdir()
    shutil.copy(PREVIOUS, old.root / "reports" / "history.db")
    before = {
        "results": rows(old.root / "reports" / "history.db", "select * from results order by id"),
        "probes": rows(old.root / "reports" / "history.db", "select * from probes order by id"),
        "runs": rows(old.root / "reports" / "history.db", "select id, started_at, finished_at, state, selection, exit_code from runs"),
    }
    migrated_pages = report_pages(old)  # opening it migrates it
    db = old.root / "reports" / "history.db"
    assert rows(db, "pragma user_version") == [(len(MIGRATIONS),)]
    assert rows(db, "pragma integrity_check") == [("ok",)] and rows(db, "pragma foreign_key_check") == []

    # every row is still there, evidence moved beside its result, nothing else changed
    columns = [c[1] for c in rows(pristine, "pragma table_info(results)")]
    evidence_at = columns.index("evidence")
    after = rows(db, "select r.*, e.evidence from results r left join evidence e on e.result_id = r.id order by r.id")
    assert len(after) == len(before["results"]) == 35
    for old_row, new_row in zip(before["results"], after):
        kept = old_row[:evidence_at] + old_row[evidence_at + 1:]
        assert new_row[:len(kept)] == kept
        assert set(new_row[len(kept):-1]) <= {None}, "later columns (maintenance) are empty on old rows"
        assert (new_row[-1] or "{}") == old_row[evidence_at]
    width = len(before["probes"][0])  # later releases add columns (contact probes): empty on old rows
    assert [r[:width] for r in rows(db, "select * from probes order by id")] == before["probes"]
    assert rows(db, "select id, started_at, finished_at, state, selection, exit_code from runs") == before["runs"]

    # and the report is the one this release renders from the same history written today
    new = previous_project(tmp_path / "new")
    previous_release.write_history(new.root / "reports" / "history.db")
    fresh_pages = report_pages(new)
    assert set(migrated_pages) == set(fresh_pages) and len(migrated_pages) >= 5
    for page, html in fresh_pages.items():
        assert migrated_pages[page] == html, f"{page} differs after the migration"
    hipaa = migrated_pages["funnels/hipaa.html"]
    assert "GDPR Readiness Guide" in hipaa and "Uncaught TypeError: x is undefined" in hipaa, "the evidence is shown"
    assert "Your GDPR Readiness Guide &lt;b&gt;inside&lt;/b&gt;" in hipaa
    assert not any(PREVIOUS.parent.glob(PREVIOUS.name + "-*")), "the fixture itself was never opened"


def test_results_keep_no_evidence_blobs_and_the_store_joins_them_back(tmp_path):
    store = Store(tmp_path / "history.db")
    try:
        run_id, _ = store.begin_run("all checks")
        big = {"asset": {"email": {"subject": "Your guide", "html": "<p>" + "x" * 50_000 + "</p>"}}}
        failing = store.add_result(run_id, CheckResult("Guide", "checks/guide.yaml", Status.FAIL, step="asset",
                                                       category=Category.WRONG_ASSET, reason="wrong PDF", evidence=big,
                                                       artifacts={"screenshot": "artifacts/1/guide.png"}))
        passing = store.add_result(run_id, CheckResult("Home", "checks/home.yaml", Status.PASS))
        store.finish_run(run_id, 1)
        assert store.result(failing).evidence == big and store.result(passing).evidence == {}
        assert store.history("Guide")[0].evidence == big and store.results_for_run(run_id)[0].evidence == big
        assert store.latest()[0].evidence == big
    finally:
        store.close()
    db = tmp_path / "history.db"
    assert "evidence" not in [c[1] for c in rows(db, "pragma table_info(results)")]
    assert rows(db, "select result_id, length(evidence) > 50000 from evidence") == [(failing, 1)]
    assert rows(db, "select artifacts from results where id = ?".replace("?", str(failing))) == [('{"screenshot": "artifacts/1/guide.png"}',)]


def test_probes_and_evidence_link_to_their_runs_and_results_by_foreign_keys(tmp_path):
    store = Store(tmp_path / "history.db")
    store.close()
    db = tmp_path / "history.db"
    links = {(table, row[3], row[2], row[4]) for table in ("probes", "evidence", "results")
             for row in rows(db, f"pragma foreign_key_list({table})")}
    assert links == {("probes", "run_id", "runs", "id"), ("probes", "settled_run_id", "runs", "id"),
                     ("evidence", "result_id", "results", "id"), ("results", "run_id", "runs", "id")}
    names = set()
    for command in ("tables", "views"):
        done = subprocess.run([SQLITE_UTILS, command, str(db)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        names |= {t.get("table") or t.get("view") for t in json.loads(done.stdout)}
    assert {"runs", "results", "evidence", "probes", "alert_state", "latest_results", "uptime_30d"} <= names


def _recent_history(path: Path | str) -> None:
    """Two nights of three checks through the real store, dated now (a SQLite path or a PostgreSQL URL)."""
    from funnelwatch.store import open_store

    store = open_store(path)
    try:
        for ago, statuses in ((1, (Status.PASS, Status.PASS, Status.FLAKY)), (0, (Status.FAIL, Status.PASS, Status.ERROR))):
            at = iso(utcnow() - timedelta(days=ago))
            run_id, _ = store.begin_run("all checks")
            for name, status in zip(("Guide", "Home", "Pricing"), statuses):
                failed = status in (Status.FAIL, Status.ERROR)
                store.add_result(run_id, CheckResult(
                    name, f"checks/{name.lower()}.yaml", status, started_at=at, duration_s=3.0,
                    step="asset" if failed else None, reason="broken" if failed else None,
                    category=(Category.WRONG_ASSET if status is Status.FAIL else Category.BROWSER) if failed else None))
            probe = store.ledger.record("Demo", "desktop", run_id, {"token": f"t{ago}", "submitted_at": at, "within_s": 3600.0})
            store.ledger.move(probe, "pending", {"state": "late" if ago else "passed", "latency_s": 5400.0 if ago else 600.0,
                                                  "settled_at": at, "settled_run_id": run_id})
            store.finish_run(run_id, 2 if ago == 0 else 0)
    finally:
        store.close()


def test_the_views_show_the_latest_results_and_uptime_over_30_days(tmp_path):
    db = tmp_path / "history.db"
    _recent_history(db)
    latest = {(r[0], r[1]) for r in rows(db, "select check_name, status from latest_results")}
    assert latest == {("Guide", "fail"), ("Home", "pass"), ("Pricing", "error")}
    uptime = {r[0]: r[1:] for r in rows(db, "select check_name, results, passed, failed, errors, uptime_pct from uptime_30d")}
    assert uptime == {"Guide": (2, 1, 1, 0, 50.0), "Home": (2, 2, 0, 0, 100.0), "Pricing": (2, 1, 0, 1, 100.0)}, \
        "a result inside a maintenance window is left out"


def test_uptime_30d_leaves_results_inside_a_maintenance_window_out(tmp_path):
    db = tmp_path / "history.db"
    _recent_history(db)
    store = Store(db)
    try:
        run_id, _ = store.begin_run("all checks")
        store.add_result(run_id, CheckResult("Home", "checks/home.yaml", Status.FAIL, started_at=iso(utcnow()), step="landing",
                                             category=Category.HTTP_STATUS, reason="HTTP 503 during the deploy",
                                             maintenance="Sun 01:00-03:00 Europe/Berlin"))
        store.finish_run(run_id, 0)
    finally:
        store.close()
    assert rows(db, "select status, maintenance from results where check_name = 'Home' order by id desc limit 1") == [
        ("fail", "Sun 01:00-03:00 Europe/Berlin")]
    uptime = {r[0]: r[1:] for r in rows(db, "select check_name, results, passed, failed, uptime_pct from uptime_30d")}
    assert uptime["Home"] == (2, 2, 0, 100.0), "the deploy night's failure does not count against the uptime"


def test_the_three_documented_queries_run_as_written_in_sqlite_utils_and_are_datasettes_canned_queries(tmp_path):
    db = tmp_path / "history.db"
    _recent_history(db)
    queries = re.findall(r"```sql\n(.*?)```", DOC, re.S)
    assert len(queries) == 3
    answers = []
    for sql in queries:
        done = subprocess.run([SQLITE_UTILS, "query", str(db), sql], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (sql, done.stderr)
        answers.append(json.loads(done.stdout))
    broken, categories, followups = answers
    assert [(r["check_name"], r["status"]) for r in broken] == [("Guide", "fail"), ("Pricing", "error")]
    assert categories == [{"category": "wrong_asset", "failures": 1, "funnels": 1, "last_seen": categories[0]["last_seen"]}]
    assert followups == [{"check_name": "Demo", "answered": 2, "avg_minutes": 50.0, "slowest_minutes": 90.0, "late": 1}]
    canned = yaml.safe_load((ROOT / "funnelwatch" / "store" / "datasette-metadata.yml").read_text(encoding="utf-8"))
    shipped = [q["sql"].strip() for q in canned["databases"]["history"]["queries"].values()]
    assert shipped == [q.strip() for q in queries], "docs/history.md and the canned queries say the same"
    for command in re.findall(r"^sqlite-utils (?:tables|views|rows|query) data/history\.db .*$", DOC, re.M):
        args = re.findall(r'"[^"]*"|\S+', command)[1:]
        args = [str(db) if a == "data/history.db" else a.strip('"') for a in args]
        done = subprocess.run([SQLITE_UTILS, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)


def test_datasette_metadata_names_the_database_and_describes_what_is_really_there(project):
    project.config(BASE_CONFIG.replace("database: reports/history.db", "database: data/funnels.db"))
    Store(project.root / "data" / "funnels.db").close()
    done = subprocess.run([*FUNNELWATCH, "-C", str(project.root), "history", "--datasette-metadata"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    metadata = yaml.safe_load(done.stdout)
    assert list(metadata["databases"]) == ["funnels"], "Datasette names a database after its file"
    described = metadata["databases"]["funnels"]["tables"]
    db = project.root / "data" / "funnels.db"
    present = {name for (name,) in rows(db, "select name from sqlite_master where type in ('table', 'view')")}
    assert set(described) == present, "every table and view is described, and nothing else"
    for name, table in described.items():
        columns = {c[1] for c in rows(db, f"pragma table_info([{name}])")}
        assert table.get("description"), name
        named = set(table.get("columns", {})) | set(table.get("units", {})) | set(table.get("facets", []))
        named |= {table[k] for k in ("label_column", "sort_desc") if k in table}
        assert named <= columns, f"{name}: {named - columns} are not columns"
        assert set(table.get("units", {}).values()) <= {"s"}
    for query in metadata["databases"]["funnels"]["queries"].values():
        assert rows(db, query["sql"]) == [], "a canned query runs on an empty history"


def test_only_the_store_package_speaks_sql():
    for module in (ROOT / "funnelwatch").rglob("*.py"):
        if module.parent.name == "store" and module.parent.parent.name == "funnelwatch":
            continue
        text = module.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import sqlite3|import sqlite_utils|from sqlite_utils|import psycopg|from psycopg)", text, re.M), module


@pytest.mark.parametrize("version", [1, 2])
def test_every_older_schema_migrates_to_the_latest_and_takes_new_results(tmp_path, version):
    import sqlite_utils

    path = tmp_path / "history.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:version]:
        migration(old)
    old.execute(f"PRAGMA user_version = {version}")
    old.close()
    store = Store(path)
    try:
        assert store.version == len(MIGRATIONS)
        run_id, _ = store.begin_run("all checks")
        result_id = store.add_result(run_id, CheckResult("A", "checks/a.yaml", Status.FAIL, evidence={"x": 1}))
        assert store.result(result_id).evidence == {"x": 1}
    finally:
        store.close()


def test_the_migrated_history_opens_in_datasette_with_its_metadata(tmp_path):
    import asyncio

    from datasette.app import Datasette

    from funnelwatch.store import datasette_metadata

    db = tmp_path / "history.db"
    shutil.copy(PREVIOUS, db)
    Store(db).close()  # migrates
    metadata = yaml.safe_load(datasette_metadata(db))

    async def fetch() -> dict[str, object]:
        datasette = Datasette(files=[str(db)], metadata=metadata)
        got: dict[str, object] = {}
        for name in metadata["databases"]["history"]["tables"]:
            page = await datasette.client.get(f"/history/{name}")
            assert page.status_code == 200, (name, page.text[:300])
            got[name] = page.text
        for name in metadata["databases"]["history"]["queries"]:
            answer = await datasette.client.get(f"/history/{name}.json?_shape=array")
            assert answer.status_code == 200, (name, answer.text[:300])
            got[name] = answer.json()
        labelled = await datasette.client.get("/history/probes.json?_shape=array&_labels=on&state=late")
        got["probe"] = labelled.json()
        return got

    got = asyncio.run(fetch())
    assert "One row per check per viewport per run" in str(got["results"])
    assert "12.5&nbsp;s" in str(got["results"]), "duration_s is shown in seconds"
    assert [(r["check_name"], r["status"]) for r in got["broken_now"]] == [  # type: ignore[union-attr]
        ("HIPAA checklist", "fail"), ("Webinar signup", "fail"), ("Webinar signup", "fail")]
    assert got["followup_latency"] == [{"check_name": "Demo request", "answered": 5, "avg_minutes": 32.4,
                                        "slowest_minutes": 90.0, "late": 1}]
    (probe,) = got["probe"]  # type: ignore[misc]
    assert probe["run_id"] == {"value": 3, "label": "3"}, "the foreign key is a link to its run"


def test_the_postgresql_schema_has_the_same_tables_columns_and_views_as_sqlites(tmp_path, postgres_url):
    from funnelwatch.store import open_store

    lite = open_store(tmp_path / "history.db")
    pg = open_store(postgres_url)
    try:
        sqlite_tables = {t: set(lite.db[t].columns_dict) for t in lite.db.table_names()}
        pg_tables = {t: set(pg.db.columns(t)) for t in pg.db.table_names() if t != "schema_version"}
        assert pg_tables == sqlite_tables
        assert set(pg.db.view_names()) == set(lite.db.view_names()) == {"latest_results", "uptime_30d"}
    finally:
        lite.close()
        pg.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_views_answer_the_same_on_both_engines(tmp_path, engine, request):
    from funnelwatch.store import open_store

    database = str(tmp_path / "history.db") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    _recent_history(database)
    store = open_store(database)
    try:
        run_id, _ = store.begin_run("all checks")
        store.add_result(run_id, CheckResult("Home", "checks/home.yaml", Status.FAIL, started_at=iso(utcnow() - timedelta(days=2)),
                                             step="landing", category=Category.HTTP_STATUS, maintenance="deploy"))
        store.finish_run(run_id, 0)
        latest = {(r["check_name"], r["status"]) for r in store.db.query("select check_name, status from latest_results")}
        uptime = {r["check_name"]: (r["results"], r["passed"], r["failed"], r["errors"], float(r["uptime_pct"]))
                  for r in store.db.query("select * from uptime_30d")}
    finally:
        store.close()
    assert latest == {("Guide", "fail"), ("Home", "fail"), ("Pricing", "error")}, "the newest row, maintenance or not"
    assert uptime == {"Guide": (2, 1, 1, 0, 50.0), "Home": (2, 2, 0, 0, 100.0), "Pricing": (2, 1, 0, 1, 100.0)}, \
        "a result inside a maintenance window is left out"
