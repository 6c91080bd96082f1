"""The Monday digest: one message per channel about the week, read with the first coffee.

Alerts say what broke tonight; the digest says how the week went: each
breakage with how long it lasted, what recovered, what is still broken,
uptime per funnel, and the follow-up figures. Email channels get HTML with
inline styles only (no scripts, no remote images: mail clients block both);
chat channels get Markdown.

    digest = build_digest(config, store, since_s=7 * 86400)
    problems = send_digest(config, digest)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

from ..clock import iso, parse_iso, utcnow
from ..redaction import mask_url
from ..results import CATEGORY_LABELS, Category
from ..steps import title_of
from ..units import format_duration

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

#: Apprise schemes that deliver email: they get the HTML version.
EMAIL_SCHEMES = ("mailto", "mailtos")
MAX_REASON = 240


@dataclass
class Breakage:
    """One stretch of failures of one funnel on one viewport."""

    check: str
    viewport: str
    started_at: str
    ended_at: str | None  # None: still broken
    step: str | None
    category: str | None
    reason: str | None

    def lasted_s(self, now: datetime) -> float:
        start = parse_iso(self.started_at) or now
        end = parse_iso(self.ended_at) if self.ended_at else now
        return max(0.0, ((end or now) - start).total_seconds())

    @property
    def what(self) -> str:
        label = CATEGORY_LABELS.get(Category(self.category), self.category) if self.category else "broken"
        step = title_of(self.step)
        reason = (self.reason or "")[:MAX_REASON]
        return f"{step + ': ' if step else ''}{label}{' — ' + reason if reason else ''}"


@dataclass
class FunnelWeek:
    check: str
    viewport: str
    uptime: float | None  # working runs over checked runs (pass and flaky count as working)
    runs: int
    status_now: str


@dataclass
class Digest:
    since: datetime
    until: datetime
    breakages: list[Breakage] = field(default_factory=list)
    funnels: list[FunnelWeek] = field(default_factory=list)
    followups: list[str] = field(default_factory=list)

    @property
    def still_broken(self) -> list[Breakage]:
        return [b for b in self.breakages if b.ended_at is None]

    @property
    def recovered(self) -> list[Breakage]:
        return [b for b in self.breakages if b.ended_at is not None]

    @property
    def title(self) -> str:
        broken = len({(b.check, b.viewport) for b in self.still_broken})
        days = max(1, round((self.until - self.since).total_seconds() / 86400))
        head = f"funnelwatch: the last {days} day{'s' if days != 1 else ''}"
        return f"{head} — {broken} funnel{'s' if broken != 1 else ''} still broken" if broken else f"{head} — every funnel works"


def build_digest(config: "Config", store: "Store", since_s: float = 7 * 86400, now: datetime | None = None) -> Digest:
    """The window's figures, from the stored history only (no browser, no network)."""
    until = now or utcnow()
    since = until - timedelta(seconds=since_s)
    digest = Digest(since, until)
    rows = store.results_between(iso(since) or "", iso(until) or "")
    by_funnel: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        by_funnel.setdefault((str(row["check_name"]), str(row["viewport"] or "desktop")), []).append(row)
    for (check, viewport), results in sorted(by_funnel.items(), key=lambda item: (item[0][0].lower(), item[0][1])):
        digest.breakages += _breakages(check, viewport, results)
        checked = [r for r in results if r["status"] in ("pass", "flaky", "fail")]
        working = [r for r in checked if r["status"] in ("pass", "flaky")]
        digest.funnels.append(FunnelWeek(check, viewport, len(working) / len(checked) if checked else None,
                                         len(results), str(results[-1]["status"])))
    from ..steps.followup import describe_stats

    for configured in config.checks:
        line = describe_stats(store.ledger.stats(configured.name))
        if line:
            digest.followups.append(f"{configured.name}: {line}")
    return digest


def _breakages(check: str, viewport: str, results: list[dict[str, object]]) -> list[Breakage]:
    found: list[Breakage] = []
    current: Breakage | None = None
    for row in results:  # oldest first
        status = row["status"]
        if status == "fail" and current is None:
            current = Breakage(check, viewport, str(row["started_at"]), None,
                               _text(row["step"]), _text(row["category"]), _text(row["reason"]))
        elif status in ("pass", "flaky") and current is not None:
            current.ended_at = str(row["started_at"])
            found.append(current)
            current = None
    if current is not None:
        found.append(current)
    return found


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}".removesuffix(".0") + "%"


def as_markdown(digest: Digest, report_url: str | None = None) -> str:
    """The chat version (Markdown; plain enough to read as text)."""
    now = digest.until
    lines = [f"**{digest.title}**", ""]
    if digest.still_broken:
        lines.append("**Still broken**")
        lines += [f"- {b.check} [{b.viewport}] — broken for {format_duration(b.lasted_s(now))}: {b.what}" for b in digest.still_broken]
        lines.append("")
    if digest.recovered:
        lines.append("**Broke and recovered**")
        lines += [f"- {b.check} [{b.viewport}] — broken for {format_duration(b.lasted_s(now))}: {b.what}" for b in digest.recovered]
        lines.append("")
    if not digest.breakages:
        lines += ["No breakages this week.", ""]
    lines.append("**Uptime per funnel**")
    lines += [f"- {f.check} [{f.viewport}]: {_pct(f.uptime)} over {f.runs} run{'s' if f.runs != 1 else ''}" for f in digest.funnels]
    if digest.followups:
        lines += ["", "**Response times**"] + [f"- {line}" for line in digest.followups]
    if report_url:
        lines += ["", f"Report: {report_url.rstrip('/')}/index.html"]
    return "\n".join(lines)


_CELL = "padding:4px 8px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top"


def as_html(digest: Digest, report_url: str | None = None) -> str:
    """The email version: inline styles, no scripts, no remote images, every value escaped."""
    now = digest.until

    def rows(items: list[Breakage]) -> str:
        return "".join(
            f'<tr><td style="{_CELL}">{escape(b.check)} [{escape(b.viewport)}]</td>'
            f'<td style="{_CELL}">{escape(format_duration(b.lasted_s(now)))}</td><td style="{_CELL}">{escape(b.what)}</td></tr>'
            for b in items
        )

    def table(title: str, items: list[Breakage], colour: str) -> str:
        if not items:
            return ""
        return (f'<h2 style="font-size:16px;color:{colour};margin:16px 0 4px">{escape(title)}</h2>'
                f'<table style="border-collapse:collapse;font-size:14px"><tr><th style="{_CELL}">Funnel</th>'
                f'<th style="{_CELL}">Broken for</th><th style="{_CELL}">What was wrong</th></tr>{rows(items)}</table>')

    parts = ['<div style="font-family:Arial,Helvetica,sans-serif;color:#1d2433;max-width:720px">',
             f'<h1 style="font-size:20px;margin:0 0 8px">{escape(digest.title)}</h1>',
             table("Still broken", digest.still_broken, "#b3261e"),
             table("Broke and recovered", digest.recovered, "#1e7a3c")]
    if not digest.breakages:
        parts.append("<p>No breakages this week.</p>")
    parts.append('<h2 style="font-size:16px;margin:16px 0 4px">Uptime per funnel</h2><table style="border-collapse:collapse;font-size:14px">')
    parts += [f'<tr><td style="{_CELL}">{escape(f.check)} [{escape(f.viewport)}]</td><td style="{_CELL}">{escape(_pct(f.uptime))}</td>'
              f'<td style="{_CELL}">{f.runs} runs</td></tr>' for f in digest.funnels]
    parts.append("</table>")
    if digest.followups:
        parts.append('<h2 style="font-size:16px;margin:16px 0 4px">Response times</h2><ul>')
        parts += [f"<li>{escape(line)}</li>" for line in digest.followups]
        parts.append("</ul>")
    if report_url:
        parts.append(f'<p>Report: {escape(report_url.rstrip("/") + "/index.html")}</p>')  # as text: no link to a remote host
    parts.append("</div>")
    return "".join(parts)


def send_digest(config: "Config", digest: Digest) -> list[str]:
    """One message per alert channel; returns problems worth showing (never raises, secrets hidden)."""
    from . import send

    problems: list[str] = []
    report_url = config.settings.report.url
    for channel in config.settings.alerts:
        scheme = channel.url.partition("://")[0].lower()
        if scheme in EMAIL_SCHEMES:
            body, body_format = as_html(digest, report_url), "html"
        else:
            body, body_format = as_markdown(digest, report_url), "markdown"
        problem = send(channel.url, digest.title, config.redactor.redact(body), "info", body_format=body_format)
        if problem:
            problems.append(config.redactor.redact(f"digest to {mask_url(channel.url)}: {problem}"))
    return problems
