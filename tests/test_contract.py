"""A contract CI systems can rely on: `run --json` holds to its shipped JSON Schema, `run --list` shows the plan
and runs nothing, a selection that matches nothing exits 2."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources

import jsonschema
import pytest

from tests.test_cli import cli

RUN_SCHEMA = json.loads(resources.files("funnelwatch").joinpath("schemas/run-output.schema.json").read_text(encoding="utf-8"))


def hold_to_schema(doc: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(RUN_SCHEMA)
    jsonschema.Draft202012Validator(RUN_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def _runs(project) -> int:
    path = project.root / "reports" / "history.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_run_json_holds_to_the_shipped_schema_with_exit_code_problems_tags_and_artifacts(project, site, tmp_path):
    project.config("database: reports/history.db\nbrowser:\n  timeout: 10s\ndefaults:\n  retries: 0\n"
                   "alerts:\n  - url: json://127.0.0.1:1/down\n")
    site.page("/lp/a", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\ntags: [google-ads, whitepaper]\nlanding:\n  url: {site.url('/lp/a')}\n  must_show: [Alpha]\n")
    project.check("b", f"name: Beta\ntags: [meta-ads]\nlanding:\n  url: {site.url('/lp/missing')}\n")
    (tmp_path / "a-file").write_text("in the way", encoding="utf-8")
    done = cli(project, "run", "--json", "--junit", str(tmp_path / "a-file" / "junit.xml"))
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    hold_to_schema(doc)
    assert doc["schema_version"] == 1 and doc["exit_code"] == 1
    by_name = {r["check"]: r for r in doc["results"]}
    alpha, beta = by_name["Alpha"], by_name["Beta"]
    # the keys PRODUCT.md promises are unchanged
    assert (alpha["status"], alpha["step"], alpha["category"], alpha["reason"]) == ("pass", None, None, None)
    assert (beta["status"], beta["step"], beta["category"]) == ("fail", "landing", "http_status")
    assert beta["report"] == "reports/funnels/b.html" and beta["attempts"] == 1
    # and the new ones
    assert alpha["tags"] == ["google-ads", "whitepaper"] and beta["tags"] == ["meta-ads"]
    assert alpha["started_at"] >= doc["started_at"] and alpha["artifacts"] == {}
    screenshot = beta["artifacts"]["screenshot"]
    assert screenshot.startswith(f"reports/artifacts/{doc['run_id']}/") and (project.root / screenshot).is_file()
    sources = sorted(p["source"] for p in doc["problems"])
    assert sources == ["alert", "junit"], doc["problems"]
    assert any(p["message"].startswith("alert channel json://***") for p in doc["problems"])


def test_a_report_that_cannot_be_written_is_a_problem_in_the_json_not_a_failed_run(project, site):
    (project.root / "blocked").write_text("a file where the reports folder should be", encoding="utf-8")
    project.config("database: data/history.db\nreports_dir: blocked/reports\nbrowser:\n  timeout: 10s\ndefaults:\n  retries: 0\n")
    site.page("/lp/a", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\nlanding:\n  url: {site.url('/lp/a')}\n")
    done = cli(project, "run", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    hold_to_schema(doc)
    (problem,) = doc["problems"]
    assert problem["source"] == "report" and problem["message"].startswith("the report could not be written to blocked/reports")


def test_the_schema_rejects_a_document_missing_a_promised_key():
    doc = {"schema_version": 1, "run_id": 1, "started_at": "2026-11-22T02:00:00Z", "finished_at": None, "exit_code": 0,
           "results": [], "problems": []}
    hold_to_schema(doc)
    with pytest.raises(jsonschema.ValidationError, match="'exit_code' is a required property"):
        hold_to_schema({k: v for k, v in doc.items() if k != "exit_code"})
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        hold_to_schema({**doc, "surprise": 1})
