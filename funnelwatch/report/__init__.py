"""The static HTML report: reports/index.html and one page per funnel.

Self-contained (inline CSS, no CDN), safe (Jinja2 autoescape; nothing from a
page or an email is ever marked safe), built from history in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..config import Config
from ..results import CATEGORY_LABELS, CheckResult, Status
from ..store import Store
from ..units import format_duration

STATUS_ORDER = {Status.FAIL: 0, Status.FLAKY: 1, Status.PENDING: 2, Status.ERROR: 3, Status.PASS: 4}
STATUS_MARK = {Status.PASS: "✓", Status.FAIL: "✗", Status.FLAKY: "~", Status.PENDING: "…", Status.ERROR: "!"}


@dataclass
class Row:
    result: CheckResult
    slug: str

    @property
    def label(self) -> str:
        category = self.result.category
        return CATEGORY_LABELS.get(category, "") if category else ""


def _env() -> Environment:
    env = Environment(loader=PackageLoader("funnelwatch", "report/templates"), autoescape=select_autoescape(default=True))
    env.filters["duration"] = format_duration
    env.globals["mark"] = STATUS_MARK
    return env


def _slugs(config: Config) -> dict[str, str]:
    slugs = {c.name: c.slug for c in config.checks}
    slugs.update({b.name: b.slug for b in config.broken})
    return slugs


def build(config: Config, store: Store) -> Path:
    out = config.reports_dir
    (out / "funnels").mkdir(parents=True, exist_ok=True)
    env = _env()
    slugs = _slugs(config)
    latest = store.latest()
    rows = sorted(
        (Row(r, slugs.get(r.check, "check")) for r in latest),
        key=lambda row: (STATUS_ORDER[row.result.status], row.result.check.lower()),
    )
    broken = sum(1 for row in rows if row.result.status is Status.FAIL)
    runs = store.runs(1)
    index = out / "index.html"
    index.write_text(
        env.get_template("index.html").render(rows=rows, broken=broken, total=len(rows), last_run=runs[0] if runs else None),
        encoding="utf-8",
    )
    for name in {row.result.check for row in rows}:
        history = store.history(name, limit=100)
        slug = slugs.get(name, "check")
        (out / "funnels" / f"{slug}.html").write_text(
            env.get_template("funnel.html").render(name=name, history=history, latest=history[0] if history else None, labels=CATEGORY_LABELS),
            encoding="utf-8",
        )
    return index
