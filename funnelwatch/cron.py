"""`funnelwatch cron`: crontab lines for the configured schedules.

One line per distinct schedule, running the checks that share it (all of them,
without `--check`, when they all share one). Paths are absolute (cron starts in
$HOME with a bare PATH). Every line takes one shared `flock`, so lines that
come due together queue instead of trampling each other; funnelwatch's own
database lock (`on_overlap`) is the second guard.

    for line in cron_lines(config): print(line)
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .config import Config
from .schedules import parse_schedule

FLOCK_WAIT_S = 3600


def funnelwatch_command() -> str:
    """The venv's funnelwatch script, or `python -m funnelwatch` when there is none."""
    script = Path(sys.executable).absolute().parent / "funnelwatch"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(str(Path(sys.executable).absolute()))} -m funnelwatch"


def environment_comments(config: Config) -> list[str]:
    """`#` lines naming every variable the config needs and where each comes from (cron's environment is empty)."""
    from .envfile import describe

    needed = describe(config.variables, config.root.resolve())
    if not needed:
        return []
    return ["# cron and systemd start with an empty environment: funnelwatch reads .env in the project folder. Variables:"] + [
        f"#   {line}" for line in needed]


def cron_lines(config: Config, command: str | None = None) -> list[str]:
    command = command or funnelwatch_command()
    root = config.root.resolve()
    groups: dict[str, list[str]] = {}
    enabled = [c for c in config.checks if c.spec.enabled]
    for check in enabled:
        groups.setdefault(check.spec.schedule or config.settings.defaults.schedule, []).append(check.slug)
    lock = config.database_path.resolve().parent / ".funnelwatch-cron.lock"
    log = config.reports_dir.resolve() / "cron.log"
    folders = " ".join(shlex.quote(str(f)) for f in sorted({lock.parent, log.parent}))
    lines = [
        f"# funnelwatch: crontab lines for {root} (add them with `crontab -e`)",
        f"# flock queues runs that come due together (waiting up to {FLOCK_WAIT_S // 60} minutes); output goes to {log}",
    ]
    lines += environment_comments(config)
    if not groups:
        return lines + ["# no enabled checks: nothing to schedule"]
    plain = sorted((t for t in groups if parse_schedule(t).tz is None), key=str)
    zoned = sorted((t for t in groups if parse_schedule(t).tz is not None), key=lambda t: (parse_schedule(t).tz or "", t))
    for text in plain + zoned:
        parsed = parse_schedule(text)
        selection = "" if len(groups) == 1 else " " + " ".join(f"--check {shlex.quote(s)}" for s in groups[text])
        run = (f"cd {shlex.quote(str(root))} && mkdir -p {folders} && flock -w {FLOCK_WAIT_S} {shlex.quote(str(lock))} "
               f"{command} -C {shlex.quote(str(root))} run{selection} >> {shlex.quote(str(log))} 2>&1")
        lines.append(f"# {text}" + ("" if parsed.cron_exact else " (cron restarts the interval at each hour/day)"))
        if parsed.tz:
            lines.append(f"CRON_TZ={parsed.tz}")
        lines.append(f"{parsed.cron_fields()} {run.replace('%', chr(92) + '%')}")
    if zoned:
        lines.append("# CRON_TZ needs cronie (Fedora, RHEL, Arch) or a cron that supports it; "
                     "otherwise use a systemd timer (OnCalendar takes a zone) or convert to the server's zone")
    return lines
