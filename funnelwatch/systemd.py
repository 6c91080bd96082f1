"""`funnelwatch systemd [--user]`: a service and a timer per schedule, as `cron` prints crontab lines.

systemd is the better home for a nightly run: `OnCalendar=` takes the
schedule's own time zone (no `CRON_TZ` caveat), `Persistent=true` catches up a
run missed while the machine was off, a oneshot service never overlaps itself,
and `journalctl` keeps the output. The service runs as an ordinary user
(`User=`, never root: as root Chromium runs without its sandbox while it
follows third-party trackers) and reads the project's `.env`
(`EnvironmentFile=`; funnelwatch reads it too).

    for path, text in systemd_units(config, user=False): print(path, text)

With `shards=N` (`funnelwatch systemd --shards 4`, or `funnelwatch recipe systemd`)
the units are templates, `funnelwatch@.service` and `funnelwatch@.timer`, whose
instance is the shard: `systemctl enable --now funnelwatch@1.timer … funnelwatch@4.timer`
runs `run --shard 1/4` … `run --shard 4/4`, on one host or one instance per host.
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


def systemd_units(config: Config, user: bool = False, command: str | None = None, shards: int | None = None) -> list[tuple[str, str]]:
    """(path, text) of each unit: one service and one timer per distinct schedule (templates per shard with `shards`)."""
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
        shard, of = "", ""
        if shards:  # a template: the instance (%i) is the shard, and the overlap lock is per shard
            name, shard, of = f"{name}@", f" --shard %i/{shards}", f" shard %i/{shards}"
        service = [
            "[Unit]",
            f"Description=funnelwatch run ({text}){of} for {root}",
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
            f"ExecStart={command} -C {shlex.quote(str(root))} run{selection}{shard}",
            "# exit 1 (a funnel is broken) is an answer, not a failure; exit 2 (funnelwatch could not check) is one",
            "SuccessExitStatus=1",
            "",
        ]
        timer = [
            "[Unit]",
            f"Description=funnelwatch: {text}{of}",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar(parse_schedule(text))}",
            "Persistent=true",
            f"Unit={name}{'%i' if shards else ''}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
        units.append((f"{folder}/{name}.service", "\n".join(service)))
        units.append((f"{folder}/{name}.timer", "\n".join(timer)))
    return units


def systemd_text(config: Config, user: bool = False, command: str | None = None, shards: int | None = None) -> list[str]:
    """What `funnelwatch systemd` prints: each unit under a `# path` line, then how to enable the timers."""
    units = systemd_units(config, user, command, shards)
    scope = " --user" if user else ""
    timers = [Path(p).name for p, _ in units if p.endswith(".timer")]
    if shards:
        timers = [t.replace("@.", f"@{k}.") for t in timers for k in range(1, shards + 1)]
    lines = [f"# funnelwatch: systemd units for {config.root.resolve()} — save each below under its path, then run:",
             f"#   systemctl{scope} daemon-reload && systemctl{scope} enable --now " + " ".join(timers)]
    if shards:
        lines.append(f"#   (one host runs all {shards} shards at once; on {shards} hosts, enable one instance on each)")
    if user:
        lines.append("#   loginctl enable-linger $USER   (so the timers run while you are logged out)")
    lines += environment_comments(config)
    if not units:
        return lines + ["# no enabled checks: nothing to schedule"]
    for path, text in units:
        lines += ["", f"# {path}", *text.rstrip("\n").split("\n")]
    return lines
