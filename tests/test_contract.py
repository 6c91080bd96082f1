"""A contract CI systems can rely on: `run --json` holds to its shipped JSON Schema, `run --list` shows the plan
and runs nothing, a selection that matches nothing exits 2."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources

import jsonschema
import pytest

from tests.test_cli import cli, unstamped

RUN_SCHEMA = json.loads(resources.files("funnelwatch").joinpath("schemas/run-output.schema.json").read_text(encoding="utf-8"))


def hold_to_schema(doc: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(RUN_SCHEMA)
    jsonschema.Draft202012Validator(RUN_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def _said(stderr: str) -> list[str]:
    """stderr's lines without their off-a-terminal timestamps and without the warning a root user gets."""
    return [line for line in unstamped(stderr).splitlines() if "running as root" not in line]


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


def test_a_result_inside_a_maintenance_window_names_it_in_the_json():
    from funnelwatch.results import CheckResult, RunResult, Status

    held = CheckResult("Spring offer", "checks/spring.yaml", Status.FAIL, started_at="2026-11-22T00:30:00Z",
                       maintenance="Sun 01:00-03:00 Europe/Berlin")
    doc = RunResult(1, "2026-11-22T00:30:00Z", "2026-11-22T00:31:00Z", [held, CheckResult("Home", "checks/home.yaml", Status.PASS)]).to_json()
    hold_to_schema(doc)
    assert [r["maintenance"] for r in doc["results"]] == ["Sun 01:00-03:00 Europe/Berlin", None]


def test_run_list_prints_checks_by_viewport_what_would_submit_and_what_waits_on_every_and_runs_nothing(project):
    from datetime import timedelta

    from funnelwatch.clock import show, stamp, utcnow
    from funnelwatch.store import Store

    project.config("database: reports/history.db\ninbox:\n  maildir:\n    path: mail\ndefaults:\n  retries: 0\n")
    project.check("alpha", "name: Alpha\nviewports: [desktop, mobile]\nlanding:\n  url: http://127.0.0.1:1/a\n")
    project.check("demo", "name: Demo request\nlanding:\n  url: http://127.0.0.1:1/demo\n"
                          "form:\n  fill: {email: '{inbox}'}\n  success: {text: Thanks}\nfollowup:\n  within: 1d\n  every: 7d\n")
    project.check("off", "name: Retired\nenabled: false\nlanding:\n  url: http://127.0.0.1:1/old\n")
    project.check("bad", "name: Broken\nlanding:\n  url: http://127.0.0.1:1/\n  sucess: x\n")
    store = Store(project.root / "reports" / "history.db")
    try:
        run_id, _ = store.begin_run("all checks")
        submitted = utcnow() - timedelta(days=2)
        store.ledger.record("Demo request", "desktop", run_id, {
            "file": "checks/demo.yaml", "token": "t1", "address": "qa+t1@example.com", "submitted_at": stamp(submitted),
            "sla_deadline": stamp(submitted + timedelta(days=1)), "give_up_at": stamp(submitted + timedelta(days=3)),
            "within_s": 86400.0})
        store.finish_run(run_id, 0)
    finally:
        store.close()

    done = cli(project, "run", "--list", env={"FUNNELWATCH_CHROMIUM": "/nonexistent/chromium"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "plan for all checks (nothing is run, no browser starts):"
    assert "  Alpha [desktop]  checks/alpha.yaml" in lines and "  Alpha [mobile]  checks/alpha.yaml" in lines
    (demo,) = [line for line in lines if line.startswith("  Demo request")]
    assert demo.startswith("  Demo request [desktop]  checks/demo.yaml — submits a form; waiting on every: "
                           f"the last demo request went out {show(submitted)}, every: 7d 0h allows the next from "), demo
    assert "  Broken  checks/bad.yaml — invalid: recorded as error — run `funnelwatch validate`" in lines
    assert "  Retired  checks/off.yaml — switched off (enabled: false): not run" in lines
    assert lines[-1] == "3 runs of 2 checks (1 invalid, 1 switched off)"
    assert _runs(project) == 1, "run --list records no run"
    with sqlite3.connect(project.root / "reports" / "history.db") as db:
        assert db.execute("select count(*) from probes").fetchone()[0] == 1, "run --list reserves nothing"

    tagged = cli(project, "run", "--list", "--check", "Alpha")
    assert tagged.returncode == 0 and tagged.stdout.splitlines()[-1] == "2 runs of 1 check", tagged.stdout


def test_run_list_imports_no_playwright_and_needs_no_history(project):
    project.check("alpha", "name: Alpha\nlanding:\n  url: http://127.0.0.1:1/a\n")
    done = cli(project, "run", "--list", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert "  Alpha [desktop]  checks/alpha.yaml" in done.stdout
    assert "import time:" in done.stderr and "playwright" not in done.stderr
    assert not (project.root / "reports" / "history.db").exists()


def test_a_selection_of_switched_off_checks_exits_2_and_says_so(project):
    project.check("off", "name: Retired\ntags: [old]\nenabled: false\nlanding:\n  url: http://127.0.0.1:1/old\n")
    project.check("on", "name: Current\ntags: [new]\nlanding:\n  url: http://127.0.0.1:1/\n")
    for args in (("--tag", "old"), ("--check", "Retired"), ("--list", "--tag", "old")):
        done = cli(project, "run", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert _said(done.stderr) == ["funnelwatch: nothing to run for "
                                      f"{'tag old' if 'old' in args else 'check Retired'}: Retired is switched off "
                                      "(enabled: false) — set enabled: true to run it"], done.stderr
    assert _runs(project) == 0


def test_run_list_with_a_selection_that_matches_nothing_exits_2(project):
    project.check("a", "name: Alpha\ntags: [google-ads]\nlanding:\n  url: http://127.0.0.1:1/\n")
    done = cli(project, "run", "--list", "--check", "Alpha", "--tag", "google-adz")
    assert done.returncode == 2
    (line,) = _said(done.stderr)
    assert line.startswith("funnelwatch: no check has the tag 'google-adz'"), done.stderr


def test_a_broken_check_keeps_its_tags_and_its_start_in_the_json(project):
    project.check("a", "name: Alpha\ntags: [google-ads]\nlanding:\n  url: https://example.com/\n  sucess: x\n")
    done = cli(project, "run", "--json")
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    hold_to_schema(doc)
    (result,) = doc["results"]
    assert (result["status"], result["category"], result["tags"]) == ("error", "config", ["google-ads"])
    assert result["started_at"] and result["artifacts"] == {}


def test_the_readmes_json_example_holds_to_the_shipped_schema():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Machine-readable output"):]
    (example,) = re.findall(r"```json\n(.*?)```", section[:section.index("### Editors")], re.S)
    hold_to_schema(json.loads(example))
