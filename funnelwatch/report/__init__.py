"""The static HTML report: reports/index.html and one page per funnel.

Self-contained and offline (inline CSS, one inline script pinned by a CSP
hash, inline SVG charts; no CDN, fonts or requests anywhere), safe (Jinja2
autoescape everywhere; nothing from a page or an email is ever marked safe;
emails render in a script-less sandboxed iframe), and built from history in
the store with indexed queries, so a year of nightly runs builds in seconds.

    index_path = build(config, store)
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..config import Config
from ..results import Status
from ..store import Store
from ..units import format_duration
from .charts import history_chart, sparkline
from .evidence import artifact, evidence_sections
from .fragments import followup_rows, history_rows, strip_cells, when
from .model import STATUS_MARK, STATUS_TEXT, FunnelPage, Overview, build_overview
from .prune import prune_artifacts

__all__ = ["build", "build_overview"]


@lru_cache(maxsize=1)
def _script() -> tuple[Markup, str]:
    """Our one inline script, and the CSP hash that lets only it run."""
    text = (Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"sha256-{digest}"


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("funnelwatch", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["when"] = when
    script, script_hash = _script()
    env.globals.update(marks=STATUS_MARK, texts=STATUS_TEXT, script=script, script_hash=script_hash,
                       history_rows=history_rows, followup_rows=followup_rows, strip_cells=strip_cells, sparkline=sparkline)
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


def build(config: Config, store: Store) -> Path:
    """Write reports/index.html and reports/funnels/*.html from history; prune old artifacts."""
    out = config.reports_dir
    (out / "funnels").mkdir(parents=True, exist_ok=True)
    env = _env()
    overview = build_overview(config, store)
    common = {"generated_at": overview.generated_at}
    funnel_template = env.get_template("funnel.html")
    for page in overview.pages:
        chart = history_chart(page.history, lambda c: c.duration_s, f"How long each run of {page.name} took")
        sla = page.rows[0].followup.sla_s if page.rows and page.rows[0].followup else None
        followup_chart = history_chart(page.followups, lambda c: c.latency_s, f"{page.settled_title} of {page.name}: latency",
                                       limit_s=sla, limit_label=f"SLA {format_duration(sla)}" if sla else "")
        (out / "funnels" / f"{page.slug}.html").write_text(funnel_template.render(
            page=page, evidence=_page_evidence(page, out), chart=chart, followup_chart=followup_chart, **common,
        ), encoding="utf-8")
    index = out / "index.html"
    _write(index, env.get_template("index.html").render(overview=overview, headline=headline(overview), **common))
    shown = {
        path for row in overview.rows if row.latest and isinstance(row.latest.artifacts, dict)
        for path in row.latest.artifacts.values() if isinstance(path, str)
    }
    prune_artifacts(out, store, config.settings.report.keep, shown)
    return index
