"""The command line: parses, calls the Python API, prints. Nothing else lives here."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from .config import Config, find_root, load_config
from .errors import ConfigError, FunnelwatchError
from .redaction import Redactor
from .results import Problem, summary_line
from .text import json_one_line, one_line, one_line_each
from .units import format_duration


class _Terminal:
    """What this command shows: one command per process, so the config it loaded decides which secrets are hidden."""

    redactor = Redactor()  # URL credentials only, until a config is loaded


def _echo_err(text: str) -> None:
    """Print to stderr: secrets redacted, control and bidi characters shown escaped (text from pages,
    emails and files reaches the terminal and cron logs as harmless text). Off a terminal (cron logs,
    journald, the daemon's log) every line starts with an ISO timestamp; the terminal stays as it is."""
    text = one_line_each(_Terminal.redactor.redact(text))
    if not _stderr_is_terminal():
        from .clock import iso, utcnow

        now = iso(utcnow())
        text = "\n".join(line if _STAMPED.match(line) else f"{now} {line}" for line in text.split("\n"))
    click.echo(text, err=True)


_STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")  # the daemon's run lines carry their own time


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _echo(text: str) -> None:
    click.echo(one_line_each(text))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "--project", type=click.Path(file_okay=False), envvar="FUNNELWATCH_PROJECT", default=".",
              help="Project folder holding config/ and checks/ (default: the current folder or the first "
                   "parent that holds config/funnelwatch.yaml, as git finds its repository).")
@click.option("--config", "settings_file", type=click.Path(dir_okay=False), envvar="FUNNELWATCH_CONFIG", default=None,
              help="Read the settings from FILE instead of config/funnelwatch.yaml (the project is -C, "
                   "or else the folder holding FILE's config/ folder).")
@click.version_option(package_name="funnelwatch")
@click.pass_context
def cli(ctx: click.Context, project: str, settings_file: str | None) -> None:
    """Catch broken marketing funnels before prospects do."""
    explicit = ctx.get_parameter_source("project") not in (None, click.core.ParameterSource.DEFAULT)
    if settings_file is not None:
        root = Path(project).resolve() if explicit else find_root(settings_file)
    else:
        root = find_root(project)
    ctx.obj = {"project": str(root), "settings_file": settings_file, "folder": project}


def _load(obj: dict[str, Any]) -> Config:
    """The project the global options name (-C, --config); its secrets are hidden from here on, its notices go to stderr."""
    config = load_config(obj["project"], settings_file=obj["settings_file"])
    _Terminal.redactor = config.redactor
    for notice in config.notices:
        _echo_err(f"funnelwatch: {notice}")
    return config


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.pass_obj
def init(obj: dict[str, Any], directory: str) -> None:
    """Scaffold config/ and checks/ with commented examples (in DIRECTORY, relative to -C)."""
    from .scaffold import scaffold

    for line in scaffold(Path(obj["folder"]) / directory):
        _echo(line)


@cli.command()
@click.argument("which", type=click.Choice(["check", "config"]), default="check")
def schema(which: str) -> None:
    """Print the JSON Schema of a check file (or of config/funnelwatch.yaml), for editors and CI."""
    from .config_schema import json_schema

    click.echo(json.dumps(json_schema("config" if which == "config" else "check"), indent=2, ensure_ascii=False))


@cli.command()
@click.pass_obj
def validate(obj: dict[str, Any]) -> None:
    """Check every config and check file; exit 2 on any error."""
    from .envfile import describe

    config = _load(obj)
    for warning in config.warnings:
        _echo_err(str(warning))
    for line in describe(config.variables, config.root):
        _echo_err(f"needs {line}")
    problems = config.diagnostics
    for diagnostic in problems:
        _echo_err(str(diagnostic))
    if problems:
        files = len(config.broken)
        _echo_err(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {files} file{'s' if files != 1 else ''}")
        sys.exit(2)
    click.echo(f"{config.settings_file} and {len(config.checks)} check file{'s' if len(config.checks) != 1 else ''} are valid")


@cli.command()
@click.option("--check", "checks", multiple=True, help="Run only this check (name or file stem); repeatable.")
@click.option("--tag", "tags", multiple=True, help="Run only checks with this tag; repeatable.")
@click.option("--headed", is_flag=True, help="Show the browser (needs a display).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write results as JUnit XML to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--list", "list_only", is_flag=True, help="Print the plan (checks × viewports, what each would submit, "
              "what waits on `every`) and run nothing.")
@click.option("--shard", "shard_text", metavar="K/N", default=None,
              help="Run only the K-th of N stable slices of the checks (by a hash of each file's name), so N machines "
                   "split the work; also FUNNELWATCH_SHARD=K/N. See docs/scale-out.md.")
@click.option("--shards", "shard_count", type=int, metavar="N", default=None,
              help="N shards, this runner's index taken from JOB_COMPLETION_INDEX (0-based: a Kubernetes Indexed Job).")
@click.pass_obj
def run(obj: dict[str, Any], checks: tuple[str, ...], tags: tuple[str, ...], headed: bool, junit: str | None, as_json: bool,
        list_only: bool, shard_text: str | None, shard_count: int | None) -> None:
    """Run checks, store results, rebuild the report, send alerts."""
    from .shards import choose

    _OUTBOUND["used"] = True
    shard = choose(shard_text, shard_count, os.environ)  # a bad K/N is exit 2 before any file is read
    config = _load(obj)
    if list_only:
        _list_plan(config, checks, tags, shard)
        return
    from .live import Live

    # On a terminal, one status line says what runs and what it waits for; logs and --json get none of it.
    live = Live(write=lambda text: sys.stderr.write(_Terminal.redactor.redact(text)),
                flush=sys.stderr.flush) if _stderr_is_terminal() and not as_json else None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        _echo_err("funnelwatch: warning: running as root — Chromium then runs without its sandbox while it follows "
                  "third-party trackers and ads; run as an ordinary user (`funnelwatch systemd` writes User=)")

    def progress(event: str, payload: Any) -> None:
        if live is not None:
            live.progress(event, payload)
        if event == "result":
            _echo_err(summary_line(payload))
        elif event == "notice":
            _echo_err(f"funnelwatch: {payload}")

    from . import api  # imported here so `validate` stays fast (no browser stack to import)

    try:
        outcome = api.run(config, checks=list(checks), tags=list(tags), headed=headed, progress=progress, shard=shard)
    finally:
        if live is not None:
            live.close()
    if junit:
        from .junit import write_junit

        try:
            write_junit(outcome, junit, config.redactor)
        except OSError as exc:  # the results are stored: the JUnit file is its own problem, not the run's exit code
            outcome.problems.append(Problem(
                f"the JUnit XML could not be written to {junit}: {exc.strerror or exc} — "
                "the results are stored; pass --junit a path in a writable folder", "junit"
            ))
    for problem in outcome.problems:
        _echo_err(f"funnelwatch: {problem}")
    if as_json:
        click.echo(json_one_line(json.dumps(config.redactor.redact_deep(outcome.to_json()), ensure_ascii=False)))
    else:
        _summary(outcome)
    sys.exit(outcome.exit_code)


def _list_plan(config: Config, checks: tuple[str, ...], tags: tuple[str, ...], shard: Any = None) -> None:
    """`run --list`: one line per check × viewport (and per invalid or switched-off check), nothing run."""
    from . import api

    plan, listed = api.list_plan(config, checks=list(checks), tags=list(tags), shard=shard)
    _echo(f"plan for {plan.selection} (nothing is run, no browser starts):")
    for line in listed:
        where = f" [{line.viewport}]" if line.viewport else ""
        notes = f" — {'; '.join(line.notes)}" if line.notes else ""
        _echo(one_line(f"  {line.check}{where}  {line.file}{notes}"))
    names = len({item.check.file for item in plan.items})
    extra = [f"{n} {what}" for n, what in ((len(plan.broken), "invalid"), (len(plan.disabled), "switched off")) if n]
    _echo(f"{len(plan.items)} run{'s' if len(plan.items) != 1 else ''} of {names} check{'s' if names != 1 else ''}"
          + (f" ({', '.join(extra)})" if extra else ""))


def _summary(outcome: Any) -> None:
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to run"
    _echo_err(f"run {outcome.run_id}{f' (shard {outcome.shard})' if outcome.shard else ''}: {parts}")
    if outcome.report_path:
        _echo_err(f"report: {outcome.report_path}")


@cli.command()
@click.option("--full", is_flag=True, help="Write every funnel page, not only those whose funnel has new results.")
@click.pass_obj
def report(obj: dict[str, Any], full: bool) -> None:
    """Rebuild the HTML report from history: the index, and the funnel pages that changed (`--full`: all).

    With `shard_alerts: at_report`, it also sends the shards' alerts as one message per channel."""
    config = _load(obj)
    from . import api

    path, problems = api.report(config, full=full)
    for problem in problems:
        _echo_err(f"funnelwatch: {problem}")
    click.echo(f"report: {path}")


@cli.command()
@click.argument("name", required=False)
@click.option("-n", "--limit", default=20, show_default=True, help="How many results to show.")
@click.option("--datasette-metadata", "datasette", is_flag=True,
              help="Print a metadata.yml for Datasette (descriptions, units, queries) instead; see docs/history.md.")
@click.pass_obj
def history(obj: dict[str, Any], name: str | None, limit: int, datasette: bool) -> None:
    """Recent results in the terminal."""
    from .store import datasette_metadata, open_store

    config = _load(obj)
    if datasette:
        if config.postgresql:
            raise FunnelwatchError("--datasette-metadata is for a SQLite history (Datasette reads SQLite files); "
                                   f"the history is on PostgreSQL at {config.database_shown}")
        click.echo(datasette_metadata(config.database_path), nl=False)
        return
    store = open_store(config.database, redactor=config.redactor)
    try:
        rows = store.history(name, limit)
        if name and not rows:
            known = ", ".join(store.check_names()) or "none yet"
            raise FunnelwatchError(f"no history for '{name}' — checks with history: {known}")
        for result in rows:
            _echo(f"{result.started_at}  {summary_line(result)}  ({format_duration(result.duration_s)})")
        if name:
            for line in _probe_summary(config, store, rows[0].check):
                _echo(line)
    finally:
        store.close()


def _probe_summary(config: Any, store: Any, check_name: str) -> list[str]:
    """Response-time lines of a check's probe kinds (follow-ups, replies), as the report shows them."""
    from .clock import utcnow
    from .steps.probes import describe_stats

    check = next((c for c in config.checks if c.name == check_name), None)
    if check is None:  # no longer configured: its probes still have figures
        line = describe_stats(store.ledger.stats(check_name))
        return [line] if line else []
    return [line for kind, section in check.spec.sections() for line in kind.summary(store.ledger, check_name, section, utcnow())]


@cli.command(name="schedule")
@click.option("--now", "run_now", is_flag=True, help="Run every check once at start, then follow the schedules.")
@click.option("--settle-every", default="15m", show_default=True, help="How often to settle open follow-up probes.")
@click.option("--stop-grace", default="60s", show_default=True,
              help="On SIGTERM/SIGINT, let the run in flight finish this long before abandoning it.")
@click.pass_obj
def schedule_command(obj: dict[str, Any], run_now: bool, settle_every: str, stop_grace: str) -> None:
    """Stay up and run checks on their schedules (SIGHUP reloads, SIGTERM stops)."""
    _OUTBOUND["used"] = True
    from .daemon import Daemon
    from .units import parse_duration

    try:
        settle_s, grace_s = parse_duration(settle_every), parse_duration(stop_grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    daemon = Daemon(obj["project"], settle_every_s=settle_s, stop_grace_s=grace_s, run_now=run_now, log=_echo_err,
                    settings_file=obj["settings_file"])
    sys.exit(daemon.serve())


@cli.command()
@click.option("--since", default="7d", show_default=True, help="How far back the digest looks.")
@click.option("--print", "print_only", is_flag=True, help="Print the digest (Markdown) instead of sending it.")
@click.pass_obj
def digest(obj: dict[str, Any], since: str, print_only: bool) -> None:
    """Send the week's digest to every alert channel: breakages, recoveries, uptime, response times."""
    from . import api
    from .units import parse_duration

    try:
        since_s = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    config = _load(obj)
    built, problems = api.digest(config, since_s, send=not print_only)
    if print_only or not config.settings.alerts:
        _echo(built)
    if not config.settings.alerts and not print_only:
        _echo_err("funnelwatch: no alerts: channels in config/funnelwatch.yaml — printed the digest instead")
    for problem in problems:
        _echo_err(f"funnelwatch: {problem}")


@cli.command()
@click.pass_obj
def cron(obj: dict[str, Any]) -> None:
    """Print crontab lines for the configured schedules."""
    from .cron import cron_lines

    for line in cron_lines(_load(obj)):
        click.echo(line)


@cli.command()
@click.option("--user", "user_units", is_flag=True, help="Units for your own systemd (systemctl --user), not the system's.")
@click.option("--shards", type=click.IntRange(1, 1000), default=None, metavar="N",
              help="Template units, one instance per shard (funnelwatch@1.timer … @N.timer run --shard K/N).")
@click.pass_obj
def systemd(obj: dict[str, Any], user_units: bool, shards: int | None) -> None:
    """Print a systemd service and timer per configured schedule."""
    from .systemd import systemd_text

    for line in systemd_text(_load(obj), user=user_units, shards=shards):
        click.echo(line)


@cli.command()
@click.argument("engine", type=click.Choice(["k8s", "github-actions", "systemd"]))
@click.option("--shards", type=click.IntRange(1, 1000), default=4, show_default=True, metavar="N", help="How many shards.")
@click.option("--image", default=None, help="The funnelwatch image built from the repository's Dockerfile (k8s, github-actions).")
@click.option("--schedule", default="0 2 * * *", show_default=True, help="When the shards run (cron syntax, k8s and github-actions).")
@click.pass_obj
def recipe(obj: dict[str, Any], engine: str, shards: int, image: str | None, schedule: str) -> None:
    """Print a scale-out recipe: a Kubernetes Indexed CronJob, a GitHub Actions matrix, or systemd template units."""
    from . import recipes

    if engine == "systemd":
        from .systemd import systemd_text

        text = "\n".join(systemd_text(_load(obj), shards=shards)) + "\n"
    else:
        build = recipes.kubernetes if engine == "k8s" else recipes.github_actions
        text = build(shards, image or recipes.IMAGE, schedule)
    click.echo(text, nl=False)


@cli.command()
@click.option("--to", "to", required=True, metavar="URL",
              help="The PostgreSQL database to copy the SQLite history into: postgresql://user:password@host:5432/db.")
@click.option("--batch", default=500, show_default=True, help="Rows per transaction (a rerun resumes after the last one).")
@click.pass_obj
def migrate(obj: dict[str, Any], to: str, batch: int) -> None:
    """Copy the SQLite history into PostgreSQL (resumable, counts verified); then set `database:` to the URL."""
    from . import api
    from .database_url import is_postgresql, shown

    config = _load(obj)
    where = shown(to) if is_postgresql(to) else to
    for count in api.migrate_history(config, to, batch=batch):
        _echo(count.line)
    _echo(f"copied {config.database_path} into {where} — set `database:` in config/funnelwatch.yaml to that URL "
          "(a ${VAR} for its password) and every machine shares this history")


@cli.group()
def maintenance() -> None:
    """Maintenance windows: checks run, alerts wait (a deploy night)."""


@maintenance.command(name="start")
@click.option("--for", "duration", required=True, help="How long, e.g. 2h or 30m.")
@click.option("--tag", "tags", multiple=True, help="Only checks with this tag; repeatable.")
@click.option("--check", "checks", multiple=True, help="Only this check (its name); repeatable.")
@click.option("--note", default=None, help="Why (shown in the report and in `maintenance list`).")
@click.pass_obj
def maintenance_start(obj: dict[str, Any], duration: str, tags: tuple[str, ...], checks: tuple[str, ...], note: str | None) -> None:
    """Open a maintenance window from now (kept in the history database)."""
    from . import api
    from .maintenance import stored_window
    from .units import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    row = api.start_maintenance(_load(obj), seconds, list(tags), list(checks), note)
    _echo(f"maintenance window open: {stored_window(row).text} — checks still run; alerts wait until it ends")


@maintenance.command(name="list")
@click.pass_obj
def maintenance_list(obj: dict[str, Any]) -> None:
    """Windows open now or still to come."""
    from . import api

    for line in api.maintenance_windows(_load(obj)) or ["no maintenance windows"]:
        _echo(line)


@maintenance.command(name="end")
@click.option("--tag", "tags", multiple=True, help="Only windows for this tag; repeatable.")
@click.pass_obj
def maintenance_end(obj: dict[str, Any], tags: tuple[str, ...]) -> None:
    """End the open ad-hoc windows now (configured ones follow the config)."""
    from . import api

    ended = api.end_maintenance(_load(obj), list(tags))
    _echo(f"ended {ended} maintenance window{'s' if ended != 1 else ''}")


@cli.command(name="import-ads")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite check files that already exist.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Where to write the checks (default: checks/ of the project).")
@click.pass_obj
def import_ads_command(obj: dict[str, Any], csv_file: str, force: bool, directory: str | None) -> None:
    """Write checks/ from a Google Ads Editor or Meta Ads Manager export."""
    from .import_ads import import_ads

    refused: list[str] = []
    try:
        written = import_ads(Path(csv_file), Path(directory) if directory else Path(obj["project"]) / "checks",
                             force=force, refused=refused)
    finally:
        for line in refused:
            _echo_err(line)
    for item in written:
        note = " (exists; use --force to overwrite)" if item.action == "kept" else ""
        _echo(one_line(f"{item.action} {item.path}{note} — {item.name}"))
    made = sum(item.action != "kept" for item in written)
    skipped = f", {len(refused)} refused" if refused else ""
    _echo_err(f"{made} check file{'s' if made != 1 else ''} written, {len(written) - made} kept{skipped}; run `funnelwatch validate`")
    if refused:
        sys.exit(2)


@cli.command(name="new")
@click.argument("url")
@click.option("--name", help="The check's name (default: the page's main heading).")
@click.option("--ad-url", "ad_url", metavar="CLICK_URL", help="The ad's click URL: adds an ad: section (landing URL, kept tracking parameters).")
@click.option("--learn", is_flag=True, help="Submit the form once and record what a good run looks like (creates a real lead).")
@click.option("--yes", is_flag=True, help="With --learn: do not ask before creating the test lead.")
@click.option("--viewport", type=click.Choice(["desktop", "mobile"]), default="desktop", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the check here (default: checks/<slug>.yaml).")
@click.option("--force", is_flag=True, help="Overwrite the check file if it exists.")
@click.option("--wait", "wait", default="5m", show_default=True, help="With --learn: how long to wait for the delivery email.")
@click.option("--headed", is_flag=True, help="Show the browser (needs a display).")
@click.pass_obj
def new_command(obj: dict[str, Any], url: str, name: str | None, ad_url: str | None, learn: bool, yes: bool, viewport: str,
                output: str | None, force: bool, wait: str, headed: bool) -> None:
    """Write a check for a landing page (form, fill values, headline; with --learn what success looks like)."""
    from .learn import new_check
    from .units import parse_duration

    try:
        wait_s = parse_duration(wait)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--wait") from None
    config = _load(obj)

    def confirm(warning: str) -> bool:
        _echo_err(f"funnelwatch: {warning}")
        if not sys.stdin.isatty():
            raise FunnelwatchError("--learn creates a real lead and no one is at the terminal to confirm — pass --yes")
        return click.confirm("Submit it?", default=False, err=True)

    made = new_check(config, url, name=name, ad_url=ad_url, learn=learn, yes=yes, confirm=confirm, viewport=viewport,
                     output=Path(output) if output else None, force=force, email_wait_s=wait_s, headed=headed,
                     progress=(lambda line: _echo_err(f"  {line}")) if sys.stderr.isatty() else None)
    for note in made.notes:
        _echo_err(f"note: {note}")
    _echo(f"wrote {made.path} — {made.name}")
    _echo_err(f"{made.path} is valid; run it with `funnelwatch run --check {made.path.stem}`")


@cli.command()
@click.option("--keep-running", is_flag=True, help="Keep the demo site up after the run (Ctrl-C to stop).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="reports/demo",
              show_default=True, help="Where the demo project (history, report) is written.")
@click.option("--alert-demo", is_flag=True, help="Also send alerts to a local receiver (Apprise json://) and show what arrived.")
def demo(keep_running: bool, directory: str, alert_demo: bool) -> None:
    """Start the bundled demo site and inbox, run its checks, write a report."""
    _OUTBOUND["used"] = True
    from .demo import run_demo

    outcome = run_demo(Path(directory), keep_running=keep_running, echo=_echo_err, alert_demo=alert_demo)
    sys.exit(0 if outcome.exit_code in (0, 1) else outcome.exit_code)


#: Set by the commands that talk to the network (run, schedule, demo): their exit never waits for a stuck peer.
_OUTBOUND = {"used": False}


def main() -> None:
    try:
        _main()
    except SystemExit as exc:
        if _OUTBOUND["used"]:
            from .threads import exit_on_time

            code = exc.code
            exit_on_time(code if isinstance(code, int) else (0 if code is None else 2))
        raise


def _main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _echo_err("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            _echo_err(str(diagnostic))
        sys.exit(2)
    except FunnelwatchError as exc:
        _echo_err(f"funnelwatch: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _echo_err("interrupted")
        sys.exit(130)
    except Exception as exc:  # the one place a surprise becomes a message, not a traceback
        if os.environ.get("FUNNELWATCH_DEBUG"):
            raise
        _echo_err(f"funnelwatch: internal error: {type(exc).__name__}: {exc} (set FUNNELWATCH_DEBUG=1 for details)")
        sys.exit(2)


if __name__ == "__main__":
    main()
