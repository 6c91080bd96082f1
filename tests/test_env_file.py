"""Running unattended: cron's empty environment, the project's .env, and what `init` scaffolds.

The runs here are real subprocesses started as cron starts them: `env -i`
with only PATH and HOME, from the repository folder (so `-m funnelwatch`
imports this tree) and the project named with `-C`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CRON_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def as_cron(project_root: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    """`funnelwatch -C PROJECT ARGS` with cron's environment: nothing but PATH and HOME."""
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in CRON_ENV.items()), sys.executable, "-m", "funnelwatch",
                           "-C", str(project_root), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


SETTINGS = """\
browser:
  timeout: 5s
defaults:
  retries: 0
alerts:
  - url: ${FW_ALERT_URL}
heartbeat: ${FW_HEARTBEAT_URL}
"""


def test_under_cron_the_project_env_file_supplies_every_variable_and_its_values_stay_secret(project, site, receiver):
    site.page("/lp/env-gone", "<h1>Gone</h1>", status=404)
    project.config(SETTINGS)
    project.check("gone", f"name: Gone offer\nlanding:\n  url: {site.url('/lp/env-gone')}\n")
    secret = "S3CRET-hook-4c1d"
    (project.root / ".env").write_text(
        "# the scaffold's shape\n"
        f"FW_ALERT_URL={receiver.apprise_url('/hooks/' + secret)}\n"
        f"FW_HEARTBEAT_URL='{receiver.http_url('/beat/' + secret)}'\n", encoding="utf-8")
    done = as_cron(project.root, "run", "--json")
    assert done.returncode == 1, done.stderr  # the funnel is broken; the config loaded without the shell's variables
    assert json.loads(done.stdout)["results"][0]["category"] == "http_status"
    assert receiver.wait_for(1)[0]["title"] == "funnelwatch: 1 funnel broken"
    assert receiver.pings == [f"/beat/{secret}"]
    written = [done.stdout, done.stderr] + [p.read_bytes().decode("utf-8", "replace")
                                           for p in (project.root / "reports").rglob("*") if p.is_file()]
    rows = sqlite3.connect(project.root / "data" / "history.db").execute(
        "select r.reason, e.evidence from results r left join evidence e on e.result_id = r.id").fetchall()
    written += [str(row) for row in rows]
    assert all(secret not in text for text in written)


def test_a_variable_already_set_wins_over_the_env_file(project, receiver):
    project.config(SETTINGS)
    project.check("ok", "name: OK\nlanding:\n  url: http://127.0.0.1:9/\n")
    (project.root / ".env").write_text("FW_ALERT_URL=json://127.0.0.1:9/from-file\nFW_HEARTBEAT_URL=http://127.0.0.1:9/\n")
    script = ("import os, funnelwatch, sys; c = funnelwatch.load_config(sys.argv[1]); "
              "print(c.settings.alerts[0].url); print(os.environ['FW_HEARTBEAT_URL'])")
    done = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in CRON_ENV.items()), "FW_ALERT_URL=json://127.0.0.1:9/from-env",
                           sys.executable, "-c", script, str(project.root)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.splitlines() == ["json://127.0.0.1:9/from-env", "http://127.0.0.1:9/"], done.stderr


def test_validate_under_cron_names_each_missing_variable_where_it_is_used(project):
    project.config(SETTINGS)
    project.check("landing", "name: Landing\nlanding:\n  url: ${FW_LANDING_URL}\n")
    (project.root / ".env").write_text("FW_ALERT_URL=json://127.0.0.1:9/x\n")
    done = as_cron(project.root, "validate")
    assert done.returncode == 2
    assert ("config/funnelwatch.yaml:7: heartbeat: environment variable FW_HEARTBEAT_URL is not set — add "
            "FW_HEARTBEAT_URL=... to .env in the project folder (cron and systemd start without your shell's "
            "variables), or export it") in done.stderr
    assert "Traceback" not in done.stderr
    (project.root / ".env").write_text("FW_ALERT_URL=json://127.0.0.1:9/x\nFW_HEARTBEAT_URL=http://127.0.0.1:9/\n")
    done = as_cron(project.root, "validate")
    assert done.returncode == 2
    env_file = project.root / ".env"
    assert f"needs FW_ALERT_URL (config/funnelwatch.yaml:6 alerts[0].url): set in {env_file}" in done.stderr
    assert f"needs FW_LANDING_URL (checks/landing.yaml:3 landing.url): MISSING — add FW_LANDING_URL=... to {env_file}" in done.stderr
    assert "checks/landing.yaml:3: landing.url: environment variable FW_LANDING_URL is not set" in done.stderr


def test_cron_lines_say_which_variables_only_this_shell_has(project):
    project.config(SETTINGS)
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    (project.root / ".env").write_text("FW_ALERT_URL=json://127.0.0.1:9/x\n")
    env = {**os.environ, "FW_HEARTBEAT_URL": "http://127.0.0.1:9/beat"}
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "cron"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    env_file = project.root / ".env"
    assert "# cron and systemd start with an empty environment: funnelwatch reads .env in the project folder. Variables:" in lines
    assert f"#   FW_ALERT_URL (config/funnelwatch.yaml:6 alerts[0].url): set in {env_file}" in lines
    assert (f"#   FW_HEARTBEAT_URL (config/funnelwatch.yaml:7 heartbeat): set in this shell only — not in {env_file}, "
            "so cron and systemd will not have it; add FW_HEARTBEAT_URL=... there") in lines


def test_init_scaffolds_an_env_example_and_keeps_env_and_history_out_of_git(tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/")
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(tmp_path), "init"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    example = (tmp_path / ".env.example").read_text()
    assert "FUNNELWATCH_IMAP_PASSWORD=" in example and "never commit it" in example
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["node_modules/", "# funnelwatch: secrets and history", ".env", "data/"]
    assert f"updated {tmp_path / '.gitignore'} (ignores .env, data/)" in done.stdout
    assert "database: data/history.db" in (tmp_path / "config" / "funnelwatch.yaml").read_text()
    again = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(tmp_path), "init"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert f"kept {tmp_path / '.gitignore'} (already ignores .env, data/)" in again.stdout
    assert (tmp_path / ".gitignore").read_text().count(".env\n") == 1
    valid = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(tmp_path), "validate"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert valid.returncode == 0, valid.stderr


@pytest.mark.parametrize("terminal", [False, True], ids=["cron-log", "terminal"])
def test_log_lines_carry_iso_timestamps_off_a_terminal_only(project, terminal):
    project.config("browser:\n  concurency: 2\n")
    command = [sys.executable, "-m", "funnelwatch", "-C", str(project.root), "validate"]
    if terminal:
        import pty

        leader, follower = pty.openpty()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, cwd=ROOT)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
        os.close(leader)
        err = b"".join(chunks).decode().replace("\r\n", "\n")
    else:
        err = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60).stderr
    line = err.strip().splitlines()[0]
    message = "config/funnelwatch.yaml:2: browser.concurency: unknown key — did you mean 'concurrency'?"
    if terminal:
        assert line == message
    else:
        import re

        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ " + re.escape(message), line), line
