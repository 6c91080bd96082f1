"""One digest per run and channel: every funnel, its step, category and reason, and where to look.

Each funnel's line names the failing step and the category (as the report and
`--json` spell them, so a filter or a search finds them), its funnel page
(`report.url` when the report is published, else the local file) and the
screenshot attached to the message.

Monitor problems get their own section and wording: funnelwatch could not
check, which says nothing about whether the funnel works.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..results import CheckResult, RunResult, failure_text
from .state import Event

SECTIONS = (
    ("broken", "Broken — prospects hit this now:"),
    ("reminder", "Still broken:"),
    ("error", "Monitor problem — funnelwatch could not check these (this says nothing about whether the funnel works):"),
    ("error_reminder", "Monitor problem continues — funnelwatch still cannot check:"),
    ("recovered", "Recovered — works again:"),
    ("monitor_ok", "Monitor problem resolved — funnelwatch can check again:"),
)
MAX_REASON = 300


def compose(events: list[Event], outcome: RunResult, config: Config, scope: str | None = None) -> tuple[str, str, str]:
    """(title, body, apprise notify type) for one channel's events of one run.

    `scope` says which part of the checks the message covers (`shard 1/2`; a sharded
    run's alerts always say so, since its siblings send theirs); None: every check.
    """
    scope = scope or (f"shard {outcome.shard}" if outcome.shard else None)
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    body: list[str] = []
    for kind, heading in SECTIONS:
        if kind in by_kind:
            body.append(heading)
            body += [_line(e, config) for e in by_kind[kind]]
            body.append("")
    body.append(f"Report: {_report(outcome, config)}")
    body.append(f"Run {outcome.run_id}{f' ({scope})' if scope else ''} at {outcome.started_at}")
    return _title(by_kind, scope), config.redactor.redact("\n".join(body)), _notify_type(by_kind)


def _title(by_kind: dict[str, list[Event]], scope: str | None = None) -> str:
    def count(kinds: tuple[str, ...]) -> int:
        return len({(e.result.check, e.result.viewport) for k in kinds for e in by_kind.get(k, [])})

    parts = []
    for kinds, single, plural in (
        (("broken",), "1 funnel broken", "{n} funnels broken"),
        (("reminder",), "1 funnel still broken", "{n} funnels still broken"),
        (("error", "error_reminder"), "could not check 1 funnel", "could not check {n} funnels"),
        (("recovered",), "1 funnel recovered", "{n} funnels recovered"),
        (("monitor_ok",), "checking again works for 1 funnel", "checking again works for {n} funnels"),
    ):
        n = count(kinds)
        if n:
            parts.append(single if n == 1 else plural.format(n=n))
    return f"funnelwatch{f' ({scope})' if scope else ''}: " + ", ".join(parts)


def _notify_type(by_kind: dict[str, list[Event]]) -> str:
    if "broken" in by_kind or "reminder" in by_kind:
        return "failure"
    if "error" in by_kind or "error_reminder" in by_kind:
        return "warning"
    return "success"


def _line(event: Event, config: Config) -> str:
    result = event.result
    name = result.check + (f" [{result.viewport}]" if result.viewport != "desktop" else "")
    if event.kind in ("recovered", "monitor_ok"):
        since = f" (broken since {event.since})" if event.since and event.kind == "recovered" else ""
        return f"  ✓ {name}{since}"
    reason = (result.reason or "").strip()
    reason = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
    what = failure_text(result.step, result.category, reason)
    since = f" (since {event.since})" if event.kind == "reminder" and event.since else ""
    facts = [f"step {result.step or '—'}", f"category {result.category.value if result.category else '—'}"]
    shot = result.artifacts.get("screenshot")
    if shot:
        facts.append(f"screenshot {Path(shot).name}")
    link = _funnel_link(result, config)
    return f"  • {name} — {what}{since}\n    {' · '.join(facts)}" + (f"\n    {link}" if link else "")


def _report(outcome: RunResult, config: Config) -> str:
    url = config.settings.report.url
    if url:
        return url.rstrip("/") + "/index.html"
    if outcome.report_path:
        return str(Path(outcome.report_path).resolve())
    return str(config.reports_dir / "index.html")


def _funnel_link(result: CheckResult, config: Config) -> str | None:
    if not result.report:
        return None
    url = config.settings.report.url
    if url:
        return f"{url.rstrip('/')}/funnels/{Path(result.report).name}"
    return str(config.resolve(result.report))
