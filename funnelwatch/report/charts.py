"""Inline SVG charts (no CDN, no script): durations and follow-up latencies over time.

Built from numbers and our own labels; every piece of text that goes in is
escaped here, so the returned Markup is safe to embed.

    svg = history_chart(cells, value=lambda c: c.duration_s, title="Check duration")
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from markupsafe import Markup

from ..results import Status
from ..units import format_duration
from .fragments import escape
from .model import STATUS_TEXT, Cell

WIDTH, HEIGHT = 720, 180
PAD_L, PAD_R, PAD_T, PAD_B = 56, 12, 14, 26
#: Shapes carry the status without colour: circle pass, cross fail, diamond otherwise.
COLOURS = {Status.PASS: "#1e7a3c", Status.FAIL: "#b3261e", Status.FLAKY: "#6b4fbb", Status.PENDING: "#35618f", Status.ERROR: "#8a5300"}


def _marker(x: float, y: float, status: Status | None, label: str) -> str:
    colour = COLOURS.get(status, "#5b6475") if status else "#5b6475"
    tip = f"<title>{escape(label)}</title>"
    if status is Status.PASS:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">{tip}</circle>'
    if status is Status.FAIL:
        return (f'<path d="M{x - 4:.1f} {y - 4:.1f}L{x + 4:.1f} {y + 4:.1f}M{x - 4:.1f} {y + 4:.1f}L{x + 4:.1f} {y - 4:.1f}" '
                f'stroke="{colour}" stroke-width="2.5">{tip}</path>')
    return (f'<path d="M{x:.1f} {y - 5:.1f}L{x + 5:.1f} {y:.1f}L{x:.1f} {y + 5:.1f}L{x - 5:.1f} {y:.1f}Z" '
            f'fill="{colour}">{tip}</path>')


def history_chart(cells: Sequence[Cell], value: Callable[[Cell], float | None], title: str,
                  limit_s: float | None = None, limit_label: str = "") -> Markup | None:
    """A line of `value` per viewport, oldest left; one marker per result; optional limit line."""
    points: list[tuple[Any, float]] = [(c, v) for c in reversed(list(cells)) if (v := value(c)) is not None]
    if not points:
        return None
    top = max([v for _, v in points] + ([limit_s] if limit_s else [])) or 1.0
    top *= 1.1
    span = max(1, len(points) - 1)
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def xy(index: int, v: float) -> tuple[float, float]:
        return PAD_L + plot_w * index / span, PAD_T + plot_h * (1 - v / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{WIDTH - PAD_R}" y2="{PAD_T + plot_h}" stroke="#c9ced8"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        v = top / 1.1 * fraction
        _, y = xy(0, v)
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(format_duration(v) if v else "0")}</text>')
        parts.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" stroke="#eef0f4"/>')
    if limit_s:
        _, y = xy(0, limit_s)
        parts.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" stroke="#b3261e" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - PAD_R}" y="{y - 4:.1f}" text-anchor="end" class="axis">{escape(limit_label)}</text>')
    viewports = sorted({c.viewport for c, _ in points})
    for dash, viewport in zip(("", "4 3", "1 3"), viewports):
        line = [xy(i, v) for i, (c, v) in enumerate(points) if c.viewport == viewport]
        if len(line) > 1:
            d = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in line)
            parts.append(f'<path d="{d}" fill="none" stroke="#7a8396" stroke-width="1.2"'
                         f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>')
    for i, (c, v) in enumerate(points):
        x, y = xy(i, v)
        label = f"{c.started_at or ''} {c.viewport}: {STATUS_TEXT[c.status]}, {format_duration(v)}"
        parts.append(_marker(x, y, c.status, label))
    first, last = points[0][0].started_at or "", points[-1][0].started_at or ""
    parts.append(f'<text x="{PAD_L}" y="{HEIGHT - 6}" class="axis">{escape(first[:10])}</text>')
    parts.append(f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 6}" text-anchor="end" class="axis">{escape(last[:10])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(points: Sequence[tuple[str, float | None, str]], sla_s: float | None, title: str) -> Markup | None:
    """A small latency line (oldest left) with the SLA dashed; a probe without a reply is a cross at the top."""
    if not points:
        return None
    width, height, pad = 120, 28, 3
    values = [v for _, v, _ in points if v is not None]
    top = max(values + ([sla_s] if sla_s else []) + [1.0]) * 1.1
    span = max(1, len(points) - 1)

    def x(index: int) -> float:
        return pad + (width - 2 * pad) * index / span if len(points) > 1 else width / 2

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - value / top)

    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    if sla_s:
        parts.append(f'<line x1="0" y1="{y(sla_s):.1f}" x2="{width}" y2="{y(sla_s):.1f}" stroke="#b3261e" stroke-dasharray="3 2"/>')
    line = [(x(i), y(v)) for i, (_, v, _) in enumerate(points) if v is not None]
    if len(line) > 1:
        parts.append('<path d="M' + "L".join(f"{a:.1f} {b:.1f}" for a, b in line) + '" fill="none" stroke="#35618f" stroke-width="1.5"/>')
    for i, (_, v, state) in enumerate(points):
        colour = COLOURS[Status.PASS] if state == "passed" else COLOURS[Status.FAIL]
        if v is None:
            cx, cy = x(i), pad + 1
            parts.append(f'<path d="M{cx - 2.5:.1f} {cy - 2.5:.1f}L{cx + 2.5:.1f} {cy + 2.5:.1f}M{cx - 2.5:.1f} {cy + 2.5:.1f}'
                         f'L{cx + 2.5:.1f} {cy - 2.5:.1f}" stroke="{colour}" stroke-width="1.5"/>')
        else:
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2" fill="{colour}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
