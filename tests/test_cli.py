"""The command line as users run it: a real subprocess, exit codes, stdout vs stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

FUNNELWATCH = [sys.executable, "-m", "funnelwatch"]


def unstamped(text: str) -> str:
    """stderr without the ISO timestamp every line carries off a terminal."""
    return re.sub(r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", "", text)


def cli(project, *args, env=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*FUNNELWATCH, "-C", str(project.root), *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def test_validate_points_at_a_misspelt_key_and_exits_2(project):
    project.check("hipaa", "name: HIPAA\nlanding:\n  url: https://example.com/lp\nform:\n  sucess:\n    text: Thanks\n")
    done = cli(project, "validate")
    assert done.returncode == 2
    assert "checks/hipaa.yaml:5: form.sucess: unknown key — did you mean 'success'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_passes_a_good_project(project):
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    done = cli(project, "validate")
    assert done.returncode == 0, done.stderr
    assert "config/funnelwatch.yaml and 1 check file are valid" in done.stdout


def test_run_json_prints_one_document_on_stdout(project, site):
    site.page("/lp/a", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\nlanding:\n  url: {site.url('/lp/a')}\n  must_show: [Alpha]\n")
    project.check("b", f"name: Beta\nlanding:\n  url: {site.url('/lp/missing')}\n")
    done = cli(project, "run", "--json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert sorted((r["check"], r["status"], r["category"]) for r in doc["results"]) == [
        ("Alpha", "pass", None), ("Beta", "fail", "http_status")
    ]


def test_run_writes_junit_xml(project, site, tmp_path):
    site.page("/lp/a", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\nlanding:\n  url: {site.url('/lp/a')}\n  must_show: [Nope]\n")
    junit = tmp_path / "out.xml"
    done = cli(project, "run", "--junit", str(junit))
    assert done.returncode == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    assert "fail" in done.stderr and "Alpha" in done.stderr


def test_history_shows_recent_results(project, site):
    site.page("/lp/a", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\nlanding:\n  url: {site.url('/lp/a')}\n")
    cli(project, "run")
    done = cli(project, "history", "Alpha")
    assert done.returncode == 0 and "pass" in done.stdout and "Alpha" in done.stdout
    unknown = cli(project, "history", "Nope")
    assert unknown.returncode == 2 and "no history for 'Nope'" in unknown.stderr


def test_unknown_check_name_exits_2_and_lists_checks(project):
    project.check("a", "name: Alpha\nlanding:\n  url: https://example.com/\n")
    done = cli(project, "run", "--check", "Alhpa")
    assert done.returncode == 2
    assert "no check named 'Alhpa' — checks are: Alpha" in done.stderr


def test_missing_browser_is_a_monitor_problem_for_every_check_and_exits_2(project):
    project.check("a", "name: Alpha\nlanding:\n  url: http://127.0.0.1:1/\n")
    done = cli(project, "run", "--json", env={"FUNNELWATCH_CHROMIUM": "/nonexistent/chromium"})
    assert done.returncode == 2
    assert "FUNNELWATCH_CHROMIUM=/nonexistent/chromium is not an executable file" in done.stderr
    assert "Traceback" not in done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert (result["status"], result["category"]) == ("error", "browser")
    history = cli(project, "history", "Alpha")
    assert "error" in history.stdout  # the run completed and its result is stored


def test_bad_settings_file_exits_2_without_traceback(project):
    project.config("browser:\n  concurency: 2\n")
    done = cli(project, "run")
    assert done.returncode == 2
    assert unstamped(done.stderr).strip() == "config/funnelwatch.yaml:2: browser.concurency: unknown key — did you mean 'concurrency'?"


def test_init_scaffolds_a_project_that_validates(tmp_path):
    done = subprocess.run([*FUNNELWATCH, "init", str(tmp_path / "new")], capture_output=True, text=True)
    assert done.returncode == 0
    assert (tmp_path / "new" / "config" / "funnelwatch.yaml").exists()
    check = subprocess.run([*FUNNELWATCH, "-C", str(tmp_path / "new"), "validate"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    again = subprocess.run([*FUNNELWATCH, "init", str(tmp_path / "new")], capture_output=True, text=True)
    assert "kept" in again.stdout


def test_console_script_is_installed():
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "funnelwatch"), "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("init", "validate", "run", "report", "history", "demo"):
        assert command in done.stdout


def _runs(project) -> int:
    import sqlite3

    path = project.root / "reports" / "history.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_tag_no_check_has_exits_2_with_a_did_you_mean_and_records_no_run(project):
    project.check("a", "name: Alpha\ntags: [google-ads, whitepaper]\nlanding:\n  url: http://127.0.0.1:1/\n")
    project.check("b", "name: Beta\ntags: [meta-ads]\nlanding:\n  url: http://127.0.0.1:1/\n")
    done = cli(project, "run", "--tag", "google-adds")
    assert done.returncode == 2, done.stderr
    assert ("no check has the tag 'google-adds' — tags are: google-ads, meta-ads, whitepaper "
            "— did you mean 'google-ads'?") in done.stderr
    assert "nothing to run" not in done.stderr and "Traceback" not in done.stderr
    named = cli(project, "run", "--tag", "Alpah")
    assert named.returncode == 2 and "did you mean --check 'Alpha'?" in named.stderr, named.stderr
    assert _runs(project) == 0


def test_a_selection_that_matches_no_check_exits_2_and_records_no_run(project):
    project.check("a", "name: Alpha\ntags: [google-ads]\nlanding:\n  url: http://127.0.0.1:1/\n")
    project.check("b", "name: Beta\ntags: [meta-ads]\nlanding:\n  url: http://127.0.0.1:1/\n")
    done = cli(project, "run", "--check", "Alpha", "--tag", "meta-ads")
    assert done.returncode == 2, done.stderr
    assert "no check matches check Alpha, tag meta-ads" in done.stderr
    assert _runs(project) == 0


def test_a_misspelt_check_name_gets_a_did_you_mean(project):
    project.check("a", "name: Alpha\nlanding:\n  url: https://example.com/\n")
    project.check("b", "name: Beta\nlanding:\n  url: https://example.com/\n")
    done = cli(project, "run", "--check", "Alhpa")
    assert done.returncode == 2
    assert "no check named 'Alhpa' — checks are: Alpha, Beta — did you mean 'Alpha'?" in done.stderr


def test_a_broken_check_is_selected_by_its_tag_and_reported(project):
    project.check("a", "name: Alpha\ntags: [google-ads]\nlanding:\n  url: https://example.com/\n  sucess: x\n")
    done = cli(project, "run", "--tag", "google-ads", "--json")
    assert done.returncode == 2, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert (result["check"], result["status"], result["category"]) == ("Alpha", "error", "config")


def test_validate_from_inside_checks_finds_the_project_like_git_does(project):
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    deeper = project.root / "checks" / "drafts"
    deeper.mkdir()
    for where in (project.root / "checks", deeper):
        done = subprocess.run([*FUNNELWATCH, "validate"], capture_output=True, text=True, cwd=where, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "config/funnelwatch.yaml and 1 check file are valid" in done.stdout
    from_c = subprocess.run([*FUNNELWATCH, "-C", str(deeper), "validate"], capture_output=True, text=True, timeout=60)
    assert from_c.returncode == 0, from_c.stderr


def test_config_option_reads_the_settings_from_that_file(project, tmp_path):
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    other = tmp_path / "elsewhere" / "prod.yaml"
    other.parent.mkdir()
    other.write_text("database: prod.db\nbrowser:\n  concurency: 2\n", encoding="utf-8")
    done = subprocess.run([*FUNNELWATCH, "-C", str(project.root), "--config", str(other), "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("prod.yaml:3: browser.concurency: unknown key — did you mean 'concurrency'?"), done.stderr
    other.write_text("database: prod.db\n", encoding="utf-8")
    done = subprocess.run([*FUNNELWATCH, "-C", str(project.root), "--config", str(other), "validate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "and 1 check file are valid" in done.stdout, done.stderr
    own = subprocess.run([*FUNNELWATCH, "--config", str(project.root / "config" / "funnelwatch.yaml"), "validate"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert own.returncode == 0 and "and 1 check file are valid" in own.stdout, own.stderr


def test_init_honours_the_project_option(tmp_path):
    done = subprocess.run([*FUNNELWATCH, "-C", str(tmp_path / "new"), "init"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "config" / "funnelwatch.yaml").is_file()
    assert (tmp_path / "new" / "checks" / "example.yaml").is_file()
    assert not (tmp_path / "config").exists()


def test_run_as_root_warns_that_chromium_loses_its_sandbox(project, site):
    site.page("/lp/root", "<title>A</title><p>Alpha</p>")
    project.check("a", f"name: Alpha\nlanding:\n  url: {site.url('/lp/root')}\n")
    done = cli(project, "run")
    assert done.returncode == 0, done.stderr
    warning = ("funnelwatch: warning: running as root — Chromium then runs without its sandbox while it follows "
               "third-party trackers and ads; run as an ordinary user (`funnelwatch systemd` writes User=)")
    # These tests may run as root (containers, CI) or not: the warning follows the user they run as.
    assert (warning in done.stderr) is (os.geteuid() == 0), done.stderr
