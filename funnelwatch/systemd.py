"""`funnelwatch systemd [--user]`: a service and a timer per schedule, as `cron` prints crontab lines.

systemd is the better home for a nightly run: `OnCalendar=` takes the
schedule's own time zone (no `CRON_TZ` caveat), `Persistent=true` catches up a
run missed while the machine was off, a oneshot service never overlaps itself,
and `journalctl` keeps the output. The service runs as an ordinary user
(`User=`, never root: as root Chromium runs without its sandbox while it
follows third-party trackers) and reads the project's `.env`
(`EnvironmentFile=`; funnelwatch reads it too).

    for path, text in systemd_units(config, user=False): print(path, text)
"""

from __future__ import annotations

import os
import pwd
import shlex
from pathlib import Path

from .config import Config
from .cron import environment_comments, funnelwatch_command
from .envfile import ENV_FILE
from .schedules import DAYS, Schedule, parse_schedule
from .text import slugify

#: Used for `User=` when the project folder belongs to root and no ordinary user ran sudo.
SERVICE_USER = "funnelwatch"


def on_calendar(schedule: Schedule) -> str:
    """systemd's `OnCalendar=` for a readable schedule, with its time zone when it has one."""
    if schedule.at is None:
        if schedule.unit == "minutes":
            return f"*-*-* *:00/{schedule.interval}:00" if schedule.interval > 1 else "*-*-* *:*:00"
        return f"*-*-* 00/{schedule.interval}:00:00" if schedule.interval > 1 else "*-*-* *:00:00"
    days = ",".join(d[:3].capitalize() for d in schedule.days)
    if schedule.days == DAYS[:5]:
        days = "Mon..Fri"
    spec = f"{days + ' ' if days else ''}*-*-* {schedule.at}:00"
    return f"{spec} {schedule.tz}" if schedule.tz else spec


def service_user(root: Path) -> str:
    """The user the service runs as: the project folder's owner, else the one who ran sudo; never root."""
    try:
        owner = pwd.getpwuid(root.stat().st_uid).pw_name
    except (KeyError, OSError):
        owner = "root"
    if owner != "root":
        return owner
    sudo = os.environ.get("SUDO_USER")
    return sudo if sudo and sudo != "root" else SERVICE_USER


def systemd_units(config: Config, user: bool = False, command: str | None = None) -> list[tuple[str, str]]:
    """(path, text) of each unit: one service and one timer per distinct schedule."""
    command = command or funnelwatch_command()
    root = config.root.resolve()
    groups: dict[str, list[str]] = {}
    for check in (c for c in config.checks if c.spec.enabled):
        groups.setdefault(check.spec.schedule or config.settings.defaults.schedule, []).append(check.slug)
    folder = "~/.config/systemd/user" if user else "/etc/systemd/system"
    units: list[tuple[str, str]] = []
    account = None if user else service_user(root)
    for text in sorted(groups):
        name = "funnelwatch" if len(groups) == 1 else f"funnelwatch-{slugify(text, lower=True)}"
        selection = "" if len(groups) == 1 else " " + " ".join(f"--check {shlex.quote(s)}" for s in groups[text])
        service = [
            "[Unit]",
            f"Description=funnelwatch run ({text}) for {root}",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            *([f"# no ordinary user owns {root}: create one, e.g. useradd --system --home-dir {root} {account} "
               f"&& chown -R {account} {root}"] if account == SERVICE_USER else []),
            *([f"User={account}"] if account else []),
            f"WorkingDirectory={root}",
            f"EnvironmentFile=-{root / ENV_FILE}",
            f"ExecStart={command} -C {shlex.quote(str(root))} run{selection}",
            "# exit 1 (a funnel is broken) is an answer, not a failure; exit 2 (funnelwatch could not check) is one",
            "SuccessExitStatus=1",
            "",
        ]
        timer = [
            "[Unit]",
            f"Description=funnelwatch: {text}",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar(parse_schedule(text))}",
            "Persistent=true",
            f"Unit={name}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
        units.append((f"{folder}/{name}.service", "\n".join(service)))
        units.append((f"{folder}/{name}.timer", "\n".join(timer)))
    return units


def systemd_text(config: Config, user: bool = False, command: str | None = None) -> list[str]:
    """What `funnelwatch systemd` prints: each unit under a `# path` line, then how to enable the timers."""
    units = systemd_units(config, user, command)
    scope = " --user" if user else ""
    lines = [f"# funnelwatch: systemd units for {config.root.resolve()} — save each below under its path, then run:",
             f"#   systemctl{scope} daemon-reload && systemctl{scope} enable --now "
             + " ".join(Path(p).name for p, _ in units if p.endswith(".timer"))]
    if user:
        lines.append("#   loginctl enable-linger $USER   (so the timers run while you are logged out)")
    lines += environment_comments(config)
    if not units:
        return lines + ["# no enabled checks: nothing to schedule"]
    for path, text in units:
        lines += ["", f"# {path}", *text.rstrip("\n").split("\n")]
    return lines
