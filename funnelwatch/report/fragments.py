"""Long, repetitive HTML (history tables, result strips) built in Python.

A year of nightly runs means a thousand pages × a hundred table rows; Jinja's
per-cell overhead made that the bulk of a build. These helpers produce the same
markup with `markupsafe.escape` (C speed-ups) on every value, so the returned
Markup is as safe as autoescaped template output.

    fragments.history_rows(page.history, show_viewport=True)
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from markupsafe import Markup

from ..clock import local, parse_iso
from ..units import format_duration
from .model import Cell, RenderedStrip

_SPECIAL = re.compile("[&<>\"']")


def escape(value: object) -> str:
    """HTML-escape like Jinja's autoescape (markupsafe's pure-Python fallback is slow on big tables)."""
    text = value if isinstance(value, str) else str(value)
    if not _SPECIAL.search(text):
        return text
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


@lru_cache(maxsize=4096)
def when(value: object, zone: str = "UTC") -> str:
    """`2026-11-22T02:00:00Z` → `Sun 22 Nov 2026, 02:00 UTC` (in `zone`, report.timezone); anything odd is shown as is."""
    if value in (None, ""):
        return "—"
    try:
        moment = parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return str(value)
    return local(moment, zone)


def _duration(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def _reason(cell: Cell) -> str:
    label = cell.category_text
    if label and cell.reason:
        return f"{escape(label)} — {escape(cell.reason)}"
    return escape(label or cell.reason or "")


def history_rows(cells: Iterable[Cell], show_viewport: bool, zone: str = "UTC") -> Markup:
    """`<tr>`s of a run history table: when, [viewport], result, failing step, what was wrong, took."""
    out = []
    for c in cells:
        viewport = f"<td>{escape(c.viewport)}</td>" if show_viewport else ""
        tries = f' <span class="muted">({c.attempts} tries)</span>' if c.attempts > 1 else ""
        held = (f' <span class="muted" title="{escape(c.maintenance)}">(maintenance: alerts held)</span>'
                if c.maintenance else "")
        out.append(
            f"<tr><td>{escape(when(c.started_at, zone))}</td>{viewport}"
            f'<td class="st st-{c.key}"><span aria-hidden="true">{c.mark}</span> {c.text}{held}</td>'
            f"<td>{escape(c.step_text)}</td><td>{_reason(c)}</td><td>{_duration(c.duration_s)}{tries}</td></tr>"
        )
    return Markup("\n".join(out))


def followup_rows(cells: Iterable[Cell], zone: str = "UTC") -> Markup:
    """`<tr>`s of the settled follow-ups table: settled, result, latency, reason."""
    return Markup("\n".join(
        f"<tr><td>{escape(when(c.started_at, zone))}</td>"
        f'<td class="st st-{c.key}"><span aria-hidden="true">{c.mark}</span> {c.text}</td>'
        f"<td>{_duration(c.latency_s)}</td><td>{_reason(c)}</td></tr>"
        for c in cells
    ))


def strip_cells(cells: "Iterable[Cell] | RenderedStrip", zone: str = "UTC") -> Markup:
    """`<li>`s of a result strip: colour class plus a mark, and the status in words for screen readers."""
    if isinstance(cells, RenderedStrip):
        return Markup(cells.html)  # what this function returned for the same cells at the last build
    return Markup("".join(
        f'<li class="c-{c.key}" title="{escape(when(c.started_at, zone))}: {c.text}{" (maintenance)" if c.maintenance else ""}">'
        f'<span aria-hidden="true">{c.mark}</span>'
        f'<span class="sr-only">{c.text}</span></li>'
        for c in cells
    ))
