"""The static HTML report: reports/index.html and one page per funnel.

Self-contained and offline (inline CSS, one inline script pinned by a CSP
hash, inline SVG charts; no CDN, fonts or requests anywhere), safe (Jinja2
autoescape everywhere; nothing from a page or an email is ever marked safe;
emails render in a script-less sandboxed iframe), and built from history in
the store with indexed queries, so a year of nightly runs builds in seconds.

A build is incremental: the index is always written, but a funnel page only
when its funnel has a result newer than the one the page was built from, when
anything else it shows changed (the page's signature: funnelwatch's version,
the templates, the report's timezone, the check's file, tags and steps, its
uptime and follow-up figures), or when the page file is missing. What each
page was built from is kept in the history (`store.report_pages`);
`full=True` (`funnelwatch report --full`) writes every page.

    index_path = build(config, store)
    index_path = build(config, store, full=True)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..config import Config
from ..results import Status
from ..store import Store
from ..units import format_duration
from .charts import history_chart, sparkline, stage_chart
from .evidence import artifact, evidence_sections
from .fragments import followup_rows, history_rows, strip_cells, when
from .model import STATUS_MARK, STATUS_TEXT, FunnelPage, Head, Overview, RenderedStrip, build_overview, load_page
from .prune import prune_artifacts

__all__ = ["build", "build_overview"]


@lru_cache(maxsize=1)
def _script() -> tuple[Markup, str]:
    """Our one inline script, and the CSP hash that lets only it run."""
    text = (Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"sha256-{digest}"


@lru_cache(maxsize=4)
def _env(zone: str = "UTC") -> Environment:
    """The templates, compiled once per process and timezone: compiling them costs more than a small
    report's whole build (70 ms), and `funnelwatch daemon` builds one after every run."""
    env = Environment(
        loader=PackageLoader("funnelwatch", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["when"] = partial(when, zone=zone)  # every date shown in report.timezone
    script, script_hash = _script()
    env.globals.update(marks=STATUS_MARK, texts=STATUS_TEXT, script=script, script_hash=script_hash,
                       history_rows=partial(history_rows, zone=zone), followup_rows=partial(followup_rows, zone=zone),
                       strip_cells=partial(strip_cells, zone=zone), sparkline=sparkline)
    return env


def headline(overview: Overview) -> str:
    if not overview.total:
        return "No funnels checked yet"
    if overview.broken:
        return f"{overview.broken} of {overview.total} funnel{'s' if overview.total != 1 else ''} broken"
    unsure = overview.total - overview.count(Status.PASS) - overview.count(Status.FLAKY)
    if unsure:
        return f"None broken; {unsure} of {overview.total} not confirmed working (waiting or could not be checked)"
    return f"All {overview.total} funnel{'s' if overview.total != 1 else ''} working" if overview.total > 1 else "The funnel is working"


def _write(path: Path, text: str) -> None:
    """Replace a page in one step, so a reader never opens half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _page_evidence(page: FunnelPage, reports_dir: Path) -> list[dict[str, Any]]:
    shown = []
    for row in page.rows:
        result = row.latest
        artifacts = result.artifacts if result and isinstance(result.artifacts, dict) else {}
        shown.append({
            "screenshot": artifact(artifacts.get("screenshot"), reports_dir),
            "trace": artifact(artifacts.get("trace"), reports_dir),
            "sections": evidence_sections(result, reports_dir) if result else [],
        })
    return shown


@lru_cache(maxsize=1)
def _templates_digest() -> str:
    """The templates and funnelwatch's version: a page built by another of either is built again."""
    from .. import __version__

    digest = hashlib.sha256(__version__.encode())
    for path in sorted((Path(__file__).parent / "templates").iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def page_signature(page: FunnelPage, zone: str) -> str:
    """Everything a funnel page shows that is not its results (those are the mark's `last_result_id`)."""
    shown = {
        "templates": _templates_digest(), "zone": zone, "name": page.name, "file": page.file, "tags": page.tags,
        "settled_title": page.settled_title, "sla_s": page.sla_s,
        "rows": [[row.viewport, row.tags, row.broken_since, row.uptime_7d, row.uptime_30d, repr(row.followup),
                  repr(row.journey)] for row in page.rows],
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def _heads_json(page: FunnelPage, zone: str) -> str:
    """A page's index rows as the next build reuses them while its funnel has no new result."""
    rows = [{"viewport": row.viewport, "id": getattr(row.head, "id", None), "run_id": getattr(row.head, "run_id", None),
             "kind": getattr(row.head, "kind", "check"), "strip": str(strip_cells(row.strip, zone)), "count": len(row.strip)}
            for row in page.rows]
    return json.dumps({"templates": _templates_digest(), "zone": zone, "rows": rows})


def _heads_from(text: str, zone: str) -> list[Head] | None:
    try:
        kept = json.loads(text)
        if kept.get("templates") != _templates_digest() or kept.get("zone") != zone:
            return None  # rendered by other templates or for another timezone
        return [Head(r["viewport"], r["id"], r["run_id"], r["kind"], RenderedStrip(r["strip"], r["count"]))
                for r in kept["rows"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # unreadable: read the strips again


def build(config: Config, store: Store, full: bool = False) -> Path:
    """Write reports/index.html, and the funnel pages that changed (all of them with `full`), from history; prune old artifacts."""
    out = config.reports_dir
    (out / "funnels").mkdir(parents=True, exist_ok=True)
    zone = config.settings.report.timezone
    env = _env(zone)
    marks = {} if full else store.report_pages.load()
    newest: dict[str, int | None] = {}

    def newest_of(name: str) -> int | None:
        if name not in newest:
            newest[name] = store.report_pages.newest_result_ids([name]).get(name)
        return newest[name]

    def cached(name: str, slug: str) -> list[Head] | None:
        """The index rows the last build kept for a funnel with no result since (same templates and zone).

        Called before the funnel's rows are read, so its newest id is taken first: a result a concurrent
        run adds meanwhile is newer than the mark says, and the next build writes the page again.
        """
        newest_id = newest_of(name)
        mark = marks.get(slug)
        if mark is None or mark["check_name"] != name or mark["last_result_id"] != newest_id or not mark.get("index_rows"):
            return None
        return _heads_from(mark["index_rows"], zone)

    overview = build_overview(config, store, cached=cached)
    common = {"generated_at": overview.generated_at}
    funnel_template = env.get_template("funnel.html")
    written: list[dict[str, Any]] = []
    for page in overview.pages:
        path = out / "funnels" / f"{page.slug}.html"
        signature = page_signature(page, zone)
        mark = marks.get(page.slug)
        if (mark is not None and mark["check_name"] == page.name and mark["last_result_id"] == newest_of(page.name)
                and mark["signature"] == signature and path.is_file()):
            continue  # nothing it shows changed since it was written
        load_page(store, page)
        chart = stage_chart(page.history, store.steps_of([c.id for c in page.history]),
                            f"Where the time of each run of {page.name} went, by stage", zone)
        stacked = chart is not None
        chart = chart or history_chart(page.history, lambda c: c.duration_s, f"How long each run of {page.name} took", zone=zone)
        sla = page.sla_s  # from the check as configured: follow-ups and contact replies alike
        followup_chart = history_chart(page.followups, lambda c: c.latency_s, f"{page.settled_title} of {page.name}: latency",
                                       limit_s=sla, limit_label=f"SLA {format_duration(sla)}" if sla else "", zone=zone)
        _write(path, funnel_template.render(
            page=page, evidence=_page_evidence(page, out), chart=chart, stacked=stacked, followup_chart=followup_chart, **common,
        ))
        written.append({"slug": page.slug, "check_name": page.name, "last_result_id": newest_of(page.name),
                        "signature": signature, "index_rows": _heads_json(page, zone), "built_at": overview.generated_at})
    store.report_pages.save(written)
    index = out / "index.html"
    _write(index, env.get_template("index.html").render(overview=overview, headline=headline(overview), **common))
    shown = {
        path for row in overview.rows if row.latest and isinstance(row.latest.artifacts, dict)
        for path in row.latest.artifacts.values() if isinstance(path, str)
    }
    prune_artifacts(out, store, config.settings.report.keep, shown)
    return index
