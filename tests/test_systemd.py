"""`funnelwatch systemd`: a service and a timer per schedule, checked by systemd's own verifier where it is installed."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from funnelwatch.schedules import parse_schedule
from funnelwatch.systemd import SERVICE_USER, on_calendar, systemd_units

ROOT = Path(__file__).resolve().parent.parent
CHECK = "name: {name}\n{schedule}landing:\n  url: https://example.com/{name}\n"


@pytest.mark.parametrize("text, calendar", [
    ("daily at 02:00", "*-*-* 02:00:00"),
    ("daily at 02:00 Europe/Berlin", "*-*-* 02:00:00 Europe/Berlin"),
    ("weekdays at 09:30 America/New_York", "Mon..Fri *-*-* 09:30:00 America/New_York"),
    ("weekends at 10:00", "Sat,Sun *-*-* 10:00:00"),
    ("mondays at 08:00", "Mon *-*-* 08:00:00"),
    ("every 15 minutes", "*-*-* *:00/15:00"),
    ("every 6 hours", "*-*-* 00/6:00:00"),
    ("every hour", "*-*-* *:00:00"),
])
def test_schedules_become_on_calendar_with_their_time_zone(text, calendar):
    assert on_calendar(parse_schedule(text)) == calendar


def two_schedules(project):
    project.check("a", CHECK.format(name="a", schedule=""))
    project.check("b", CHECK.format(name="b", schedule="schedule: weekdays at 09:30 Europe/Berlin\n"))
    return project.load()


def test_each_schedule_gets_a_oneshot_service_and_a_persistent_timer(project):
    config = two_schedules(project)
    units = dict(systemd_units(config, command="/srv/venv/bin/funnelwatch"))
    root = project.root.resolve()
    assert sorted(units) == [
        "/etc/systemd/system/funnelwatch-daily-at-02-00.service", "/etc/systemd/system/funnelwatch-daily-at-02-00.timer",
        "/etc/systemd/system/funnelwatch-weekdays-at-09-30-europe-berlin.service",
        "/etc/systemd/system/funnelwatch-weekdays-at-09-30-europe-berlin.timer",
    ]
    service = units["/etc/systemd/system/funnelwatch-weekdays-at-09-30-europe-berlin.service"].splitlines()
    assert "Type=oneshot" in service and "SuccessExitStatus=1" in service
    assert f"EnvironmentFile=-{root}/.env" in service
    assert f"ExecStart=/srv/venv/bin/funnelwatch -C {root} run --check b" in service
    user = [line for line in service if line.startswith("User=")]
    assert user and user != ["User=root"]
    timer = units["/etc/systemd/system/funnelwatch-weekdays-at-09-30-europe-berlin.timer"].splitlines()
    assert "OnCalendar=Mon..Fri *-*-* 09:30:00 Europe/Berlin" in timer
    assert "Persistent=true" in timer and "Unit=funnelwatch-weekdays-at-09-30-europe-berlin.service" in timer


def test_a_root_owned_project_runs_as_a_service_user_never_as_root(project, monkeypatch):
    monkeypatch.delenv("SUDO_USER", raising=False)
    os.chown(project.root, 0, 0)
    project.check("a", CHECK.format(name="a", schedule=""))
    service = dict(systemd_units(project.load()))["/etc/systemd/system/funnelwatch.service"]
    assert f"User={SERVICE_USER}" in service.splitlines()
    assert f"useradd --system --home-dir {project.root.resolve()} {SERVICE_USER}" in service
    monkeypatch.setenv("SUDO_USER", "maria")
    assert "User=maria" in dict(systemd_units(project.load()))["/etc/systemd/system/funnelwatch.service"].splitlines()


def test_user_units_go_to_the_users_folder_without_user(project):
    project.check("a", CHECK.format(name="a", schedule=""))
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(project.root), "systemd", "--user"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "#   systemctl --user daemon-reload && systemctl --user enable --now funnelwatch.timer" in lines
    assert "# ~/.config/systemd/user/funnelwatch.service" in lines and "# ~/.config/systemd/user/funnelwatch.timer" in lines
    assert not [line for line in lines if line.startswith("User=")]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_printed_units_pass_systemd_analyze_verify(project, tmp_path):
    config = two_schedules(project)
    folder = tmp_path / "units"
    folder.mkdir()
    account = pwd.getpwuid(os.getuid()).pw_name
    for path, text in systemd_units(config, command=sys.executable + " -m funnelwatch"):
        text = "\n".join(f"User={account}" if line.startswith("User=") else line for line in text.splitlines())
        (folder / Path(path).name).write_text(text + "\n")
    timers = sorted(str(p) for p in folder.glob("*.timer"))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *timers], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in done.stderr.splitlines() if str(folder) in line or "funnelwatch" in line]
    assert problems == [], done.stderr
    for timer in timers:
        calendar = next(line.split("=", 1)[1] for line in Path(timer).read_text().splitlines() if line.startswith("OnCalendar="))
        normalized = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True, timeout=30)
        assert normalized.returncode == 0, normalized.stderr
