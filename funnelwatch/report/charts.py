"""Inline SVG charts (no CDN, no script): durations and follow-up latencies over time.

The history chart stacks each run's time per stage (where did the time go:
the landing page, the form, waiting for the email), from the steps kept with
each result; results from before steps were kept show one grey bar.

Built from numbers and our own labels; every piece of text that goes in is
escaped here, so the returned Markup is safe to embed.

    svg = history_chart(cells, value=lambda c: c.duration_s, title="Check duration")
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from markupsafe import Markup

from ..results import Status
from ..steps import title_of
from ..units import format_duration
from .fragments import escape, when
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
                  limit_s: float | None = None, limit_label: str = "", zone: str = "UTC") -> Markup | None:
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
        label = f"{when(c.started_at, zone)} {c.viewport}: {STATUS_TEXT[c.status]}, {format_duration(v)}"
        parts.append(_marker(x, y, c.status, label))
    parts += _dates(points[0][0], points[-1][0], zone)
    parts.append("</svg>")
    return Markup("".join(parts))


def _dates(first: Cell, last: Cell, zone: str) -> list[str]:
    """The x axis: the first and last run's date in the report's zone."""
    def day(cell: Cell) -> str:
        text = when(cell.started_at, zone)
        return text.partition(",")[0] if cell.started_at else ""

    return [f'<text x="{PAD_L}" y="{HEIGHT - 6}" class="axis">{escape(day(first))}</text>',
            f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 6}" text-anchor="end" class="axis">{escape(day(last))}</text>']


#: Stage colours, in the order stages first appear; the legend names them (colour is never the only cue).
STAGE_COLOURS = ("#35618f", "#4f8a5b", "#b5832a", "#7a5ba8", "#2f8f8f", "#a8545e", "#5b6f8a", "#8a7a3d")
OTHER = "#c9ced8"


def stage_chart(cells: Sequence[Cell], steps: dict[int, list[tuple[str, float]]], title: str,
                zone: str = "UTC") -> Markup | None:
    """One bar per run (oldest left), stacked by the stages it ran: where did the time go.

    Time a run spent outside its steps (retries, starting the browser) is the
    grey "other" part on top; a run without kept steps is all "other".
    """
    runs = [c for c in reversed(list(cells)) if c.duration_s is not None or steps.get(c.id)]
    if not any(steps.get(c.id) for c in runs):
        return None
    order: list[str] = []
    for c in runs:
        for step, _ in steps.get(c.id, []):
            if step not in order:
                order.append(step)
    colour = {step: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, step in enumerate(order)}

    def stack(c: Cell) -> list[tuple[str, float]]:
        parts = list(steps.get(c.id, []))
        rest = (c.duration_s or 0.0) - sum(s for _, s in parts)
        return parts + ([("other", rest)] if rest > 0.05 * max(c.duration_s or 0.0, 0.001) else [])

    stacks = [(c, stack(c)) for c in runs]
    top = max(sum(s for _, s in parts) for _, parts in stacks) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    slot = plot_w / len(stacks)
    bar = max(1.0, min(28.0, slot * 0.7))
    out = [f'<svg class="chart stages" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>']
    for fraction in (0.0, 0.5, 1.0):
        v = top / 1.1 * fraction
        y = PAD_T + plot_h * (1 - v / top)
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(format_duration(v) if v else "0")}</text>')
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" stroke="#eef0f4"/>')
    for i, (c, parts) in enumerate(stacks):
        x = PAD_L + slot * i + (slot - bar) / 2
        base = float(PAD_T + plot_h)
        out.append(f'<g class="run" data-status="{escape(c.key)}">')
        for step, seconds in parts:
            h = plot_h * seconds / top
            base -= h
            name = "Other (retries, browser start)" if step == "other" else title_of(step)
            tip = f"{when(c.started_at, zone)} {c.viewport}: {name} {format_duration(seconds)}"
            out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" '
                       f'fill="{colour.get(step, OTHER)}" data-stage="{escape(step)}" data-seconds="{seconds:.3f}">'
                       f"<title>{escape(tip)}</title></rect>")
        if c.status is Status.FAIL:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{base - 3:.1f}" text-anchor="middle" class="axis fail-mark">✗</text>')
        out.append("</g>")
    out += _dates(stacks[0][0], stacks[-1][0], zone)
    out.append("</svg>")
    legend = [(title_of(step), colour[step]) for step in order]
    if any(step == "other" for _, parts in stacks for step, _ in parts):
        legend.append(("Other (retries, browser start)", OTHER))
    out.append('<ul class="legend">' + "".join(
        f'<li><span class="swatch" style="background:{c}" aria-hidden="true"></span>{escape(name)}</li>' for name, c in legend
    ) + "</ul>")
    return Markup("".join(out))


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
