"""The report's view data, built from the store with indexed queries only.

Everything the templates show is computed here, so templates stay dumb and the
cost of a build follows what is shown (funnels × their last results), not the
size of the whole history: the newest rows per check through the
(check_name, id) index, uptime through the started_at index. The index needs
only each funnel's strip (the last STRIP_LENGTH results per viewport); the
hundred rows of a funnel page's history are read by `load_page` for the pages
being written.

    overview = build_overview(config, store)
    overview.rows[0].status, overview.rows[0].uptime_7d
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from ..clock import iso, parse_iso, utcnow
from ..config import Config
from ..ledger import FollowupStats as LedgerStats
from ..results import CATEGORY_ADVICE, CATEGORY_LABELS, STATUS_MARKS, Category, CheckResult, Status
from ..steps import KINDS, steps_of, title_of
from ..steps.probes import CHANNEL_WINDOW_DAYS, ChannelFigures, channel_figures
from ..store import Store
from ..text import short_hash, slugify
from .journey import Stage, journey
from .schedule_hint import next_run

STRIP_LENGTH = 30
HISTORY_ROWS = 100
FOLLOWUP_ROWS = 100

#: Order of the index page: what needs attention first.
STATUS_ORDER = {Status.FAIL: 0, Status.FLAKY: 1, Status.PENDING: 2, Status.ERROR: 3, Status.PASS: 4, None: 5}
STATUS_MARK: dict[Status | None, str] = {**{status: mark for status, mark in STATUS_MARKS.items()}, None: "·"}  # None: not run yet  # None: not run yet
STATUS_TEXT = {
    Status.FAIL: "Broken",
    Status.FLAKY: "Flaky",
    Status.PENDING: "Waiting",
    Status.ERROR: "Monitor problem",
    Status.PASS: "Working",
    None: "Not run yet",
}
#: Group headings on the index page, in STATUS_ORDER.
GROUP_TITLE = {
    Status.FAIL: "Broken",
    Status.FLAKY: "Flaky (failed, then passed on retry)",
    Status.PENDING: "Waiting for a follow-up",
    Status.ERROR: "Monitor problems (funnelwatch could not check)",
    Status.PASS: "Working",
    None: "Not run yet",
}


def step_text(step: str | None) -> str:
    """A step name for people: `form` → "Lead form", `steps[2]` → "Custom step 3"."""
    return title_of(step)


def category_text(category: Category | str | None) -> str:
    if category is None:
        return ""
    try:
        return CATEGORY_LABELS.get(Category(category), str(category).replace("_", " "))
    except ValueError:
        return str(category).replace("_", " ")


_STATUSES = {status.value: status for status in Status}


def status_of(value: Any) -> Status | None:
    return value if isinstance(value, Status) else _STATUSES.get(value)


@dataclass
class Cell:
    """One result in a strip or history table (no evidence)."""

    id: int
    run_id: int | None
    status: Status | None
    started_at: str | None
    viewport: str
    step: str | None = None
    category: str | None = None
    reason: str | None = None
    duration_s: float | None = None
    latency_s: float | None = None
    attempts: int = 1
    kind: str = "check"
    #: The maintenance window the result fell in (alerts held, not in the uptime).
    maintenance: str | None = None

    @property
    def mark(self) -> str:
        return STATUS_MARK[self.status]

    @property
    def text(self) -> str:
        return STATUS_TEXT[self.status]

    @property
    def key(self) -> str:
        return self.status.value if self.status else "none"

    @property
    def category_text(self) -> str:
        return category_text(self.category)

    @property
    def step_text(self) -> str:
        return step_text(self.step)

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Cell":
        return cls(
            id=row["id"], run_id=row["run_id"], status=status_of(row["status"]), started_at=row["started_at"],
            viewport=row["viewport"] or "desktop", step=row["step"], category=row["category"],
            reason=row["reason"], duration_s=row["duration_s"], latency_s=row["latency_s"],
            attempts=row["attempts"] or 1, kind=row.get("kind") or "check", maintenance=row.get("maintenance"),
        )


@dataclass
class FollowupStats:
    """Sales follow-up SLA as the report shows it: a view of `store.ledger.stats`,
    so the report and `funnelwatch history NAME` give the same figures."""

    settled: int
    within_share: float | None
    last_latency_s: float | None
    median_s: float | None
    p90_s: float | None
    sla_s: float | None
    #: What answers the probe, for people: "follow-up" (demo forms), "reply" (published inboxes).
    word: str = "follow-up"

    @classmethod
    def of(cls, stats: LedgerStats, sla_s: float | None, word: str = "follow-up") -> "FollowupStats | None":
        if not stats.probes:
            return None
        return cls(settled=stats.probes, within_share=stats.within_sla_share, last_latency_s=stats.last_latency_s,
                   median_s=stats.median_latency_s, p90_s=stats.p90_latency_s, sla_s=sla_s, word=word)


@dataclass(frozen=True)
class RenderedStrip:
    """A strip as the last build rendered it (`fragments.strip_cells`), kept while its funnel has no new result."""

    html: str
    count: int

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class Head:
    """The newest result of one viewport, as far as the index's row needs it without reading the strip."""

    viewport: str
    id: int | None
    run_id: int | None
    kind: str
    strip: RenderedStrip


@dataclass
class Row:
    """One funnel on one viewport, as the index shows it."""

    name: str
    slug: str
    viewport: str
    tags: list[str]
    latest: CheckResult | None
    strip: list[Cell] | RenderedStrip
    broken_since: str | None = None
    uptime_7d: float | None = None
    uptime_30d: float | None = None
    followup: FollowupStats | None = None
    #: The stages of the funnel and where it broke (the journey strip).
    journey: list[Stage] = field(default_factory=list)
    #: The viewport's newest result (a `Cell`, or the `Head` a cached build kept): what `latest` was chosen from.
    head: "Cell | Head | None" = None

    @property
    def status(self) -> Status | None:
        return self.latest.status if self.latest else None

    @property
    def mark(self) -> str:
        return STATUS_MARK[self.status]

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]

    @property
    def key(self) -> str:
        return self.status.value if self.status else "none"

    @property
    def step_text(self) -> str:
        return step_text(self.latest.step) if self.latest else ""

    @property
    def category_text(self) -> str:
        return category_text(self.latest.category) if self.latest else ""

    @property
    def advice(self) -> tuple[str, str] | None:
        """What to do about the current breakage, and who usually owns it."""
        latest = self.latest
        if latest is None or latest.category is None or latest.status not in (Status.FAIL, Status.ERROR):
            return None
        return CATEGORY_ADVICE.get(Category(latest.category))


@dataclass
class Group:
    status: Status | None
    title: str
    rows: list[Row]

    @property
    def key(self) -> str:
        return self.status.value if self.status else "none"


@dataclass
class FunnelPage:
    """One funnel (all its viewports): what its own page shows."""

    name: str
    slug: str
    file: str | None
    rows: list[Row]
    #: The page's history table and its settled results: filled by `load_page` for a page being written
    #: (the index needs neither).
    history: list[Cell]
    followups: list[Cell]
    older: bool
    settled_title: str = "Sales follow-ups"
    #: The answer time the check promises (follow-up, contact): the dashed line of the latency chart.
    sla_s: float | None = None
    #: The step kinds whose settled results `followups` holds once `load_page` read them.
    settled_kinds: tuple[str, ...] = ()
    #: The ledger's figures over the channel window (the index's "Response times by channel"), read with the page's.
    window_stats: LedgerStats | None = None

    @property
    def tags(self) -> list[str]:
        return self.rows[0].tags if self.rows else []


@dataclass
class Channel:
    """A row of the index's "Response times by channel" table."""

    name: str
    slug: str
    figures: ChannelFigures


@dataclass
class Overview:
    generated_at: str
    last_run: dict[str, Any] | None
    next_run: str | None
    rows: list[Row]
    pages: list[FunnelPage] = field(default_factory=list)
    #: "Response times by channel": each demo form and each published address, over 30 days.
    channels: list[Channel] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len({row.name for row in self.rows})

    @property
    def broken(self) -> int:
        return len({row.name for row in self.rows if row.status is Status.FAIL})

    def count(self, status: Status | None) -> int:
        return sum(1 for row in self.rows if row.status is status)

    @property
    def groups(self) -> list[Group]:
        return [
            Group(status, GROUP_TITLE[status], [r for r in self.rows if r.status is status])
            for status in STATUS_ORDER
            if any(r.status is status for r in self.rows)
        ]

    @property
    def tags(self) -> list[str]:
        return sorted({tag for row in self.rows for tag in row.tags}, key=str.lower)


def slug_for(name: str) -> str:
    """A file-safe page name for a funnel that is in history but not in config."""
    return f"{slugify(name, keep='_-', max_length=40)}-{short_hash(name)}"


def _configured(config: Config) -> dict[str, dict[str, Any]]:
    known: dict[str, dict[str, Any]] = {}
    for broken in config.broken:
        known[broken.name] = {"slug": broken.slug, "file": broken.file, "tags": [], "sla_s": None, "schedule": None,
                              "steps": None}
    for check in config.checks:
        spec = check.spec
        known[check.name] = {
            "slug": check.slug,
            "file": check.file,
            "tags": list(spec.tags),
            "sla_s": next((sla for kind, section in spec.sections() if (sla := kind.sla_s(section)) is not None), None),
            "schedule": (spec.schedule or config.settings.defaults.schedule) if spec.enabled else None,
            "spec": spec,
            "settled": next(((k.settled_name, k.settled_title) for k, _ in spec.sections() if k.settles), None),
            "steps": [label for label, _, _ in steps_of(spec)],
        }
    return known


def _uptime(store: Store, reference: datetime) -> tuple[dict[tuple[str, str], tuple[float | None, float | None]], set[str]]:
    """Uptime % over 7 and 30 days per (check, viewport): pass+flaky over pass+flaky+fail."""
    since_30 = iso(reference - timedelta(days=30)) or ""
    since_7 = iso(reference - timedelta(days=7)) or ""
    seven = store.window_counts(since_7)
    thirty = store.window_counts(since_30)
    tallies: dict[tuple[str, str], list[int]] = {}
    for rows, offset in ((seven, 0), (thirty, 2)):
        for row in rows:
            tally = tallies.setdefault((row["check_name"], row["viewport"] or "desktop"), [0, 0, 0, 0])
            if row["status"] in ("pass", "flaky"):
                tally[offset] += row["n"]
                tally[offset + 1] += row["n"]
            elif row["status"] == "fail":
                tally[offset + 1] += row["n"]
    shares = {
        key: (t[0] / t[1] if t[1] else None, t[2] / t[3] if t[3] else None) for key, t in tallies.items()
    }
    return shares, {name for name, _ in tallies}


#: The heads a funnel's rows were built from when nothing was added since (None: read the strips).
Cached = Callable[[str, str], "list[Head] | None"]


def build_overview(config: Config, store: Store, now: datetime | None = None, cached: Cached | None = None) -> Overview:
    """Everything index.html and the funnel pages show.

    `cached(name, slug)` gives the heads (newest result and rendered strip per viewport) of a funnel
    that has no result since the last build, so the index need not read its strips again.
    """
    now = now or utcnow()
    runs = store.runs(1)
    last_run = runs[0] if runs else None
    reference = parse_iso(last_run["started_at"]) if last_run else now
    uptime, recent_names = _uptime(store, reference or now)
    known = _configured(config)
    names = sorted(set(known) | recent_names, key=str.lower)
    slugs_taken: set[str] = set()
    overview = Overview(
        generated_at=iso(now) or "",
        last_run=last_run,
        next_run=next_run([k["schedule"] for k in known.values() if k["schedule"]], now),
        rows=[],
    )
    for name in names:
        facts = known.get(name) or {"slug": slug_for(name), "file": None, "tags": None, "sla_s": None}
        slug = facts["slug"] if facts["slug"] not in slugs_taken else slug_for(name)
        slugs_taken.add(slug)
        page = _funnel(store, name, slug, facts, uptime, reference or now, cached(name, slug) if cached else None)
        overview.pages.append(page)
        overview.rows.extend(page.rows)
        spec = facts.get("spec")
        figures = channel_figures(store.ledger, name, spec, reference or now, page.window_stats) if spec is not None else None
        if figures is not None:
            overview.channels.append(Channel(name, slug, figures))
    overview.rows.sort(key=lambda r: (STATUS_ORDER[r.status], r.name.lower(), r.viewport))
    return overview


def load_page(store: Store, page: FunnelPage) -> None:
    """What only the funnel page shows: its last HISTORY_ROWS results and FOLLOWUP_ROWS settled ones."""
    light = store.recent(page.name, ("check", "waiting"), HISTORY_ROWS + 1)
    page.older = len(light) > HISTORY_ROWS
    page.history = [Cell.of(r) for r in light[:HISTORY_ROWS]]
    page.followups = [Cell.of(r) for r in store.recent_of_rare_kinds(page.name, page.settled_kinds, FOLLOWUP_ROWS)]


def _strips(store: Store, name: str) -> list[Cell]:
    """The newest results of every viewport, at least STRIP_LENGTH of each (as many more as the viewports interleave)."""
    light = store.recent(name, ("check", "waiting"), STRIP_LENGTH + 1)
    viewports = {row["viewport"] or "desktop" for row in light}
    if len(viewports) > 1:
        light = store.recent(name, ("check", "waiting"), STRIP_LENGTH * len(viewports) + 1)
    return [Cell.of(r) for r in light]


def _heads(history: list[Cell]) -> list[tuple[str, Cell | None, list[Cell]]]:
    """Per viewport (desktop first): its newest result and its strip, oldest first."""
    viewports: list[str] = []
    for cell in history:
        if cell.viewport not in viewports:
            viewports.append(cell.viewport)
    viewports.sort(key=lambda v: (v != "desktop", v))
    heads = []
    for viewport in viewports or ["desktop"]:
        cells = [c for c in history if c.viewport == viewport]
        heads.append((viewport, cells[0] if cells else None, list(reversed(cells[:STRIP_LENGTH]))))
    return heads


def _funnel(store: Store, name: str, slug: str, facts: dict[str, Any],
            uptime: dict[tuple[str, str], tuple[float | None, float | None]], reference: datetime,
            cached: list[Head] | None = None) -> FunnelPage:
    heads: list[tuple[str, Any, list[Cell] | RenderedStrip]]
    if cached is not None:
        heads = [(h.viewport, h if h.id is not None else None, h.strip) for h in cached]
    else:
        heads = list(_heads(_strips(store, name)))
    settled_kinds = tuple(kind.name for kind in KINDS.values() if kind.settles)
    followups = [Cell.of(r) for r in store.recent_of_rare_kinds(name, settled_kinds, 1)]
    word, title = facts.get("settled") or ("follow-up", "Sales follow-ups")
    # One read of the ledger for both the last probes' figures and the channel table's 30 days.
    recent_stats, window_stats = store.ledger.stats_with_window(name, reference - timedelta(days=CHANNEL_WINDOW_DAYS))
    stats = FollowupStats.of(recent_stats, facts.get("sla_s"), word)
    rows: list[Row] = []
    for viewport, head, strip in heads:
        latest = store.result(head.id) if head is not None else None
        settled = followups[0] if followups else None
        waiting_now = latest is not None and latest.status is Status.PENDING
        newer = settled is not None and (head is None or (settled.run_id or 0) > (head.run_id or 0) or head.kind == "waiting")
        if settled and newer and (waiting_now or settled.status is Status.FAIL and latest is not None and latest.status is not Status.ERROR):
            # A settled follow-up is the funnel's news: it shows until the next demo request is submitted
            # (runs that only wait for the `every` window change nothing).
            latest = store.result(settled.id)
        tags = facts["tags"] if facts["tags"] is not None else (latest.tags if latest else [])
        row = Row(
            name=name, slug=slug, viewport=viewport, tags=[str(t) for t in tags or []], latest=latest,
            strip=strip, followup=stats, head=head, journey=journey(latest, facts.get("steps")),
        )
        row.uptime_7d, row.uptime_30d = uptime.get((name, viewport), (None, None))
        if latest is not None and latest.status is Status.FAIL:
            row.broken_since = store.streak_start(name, viewport) or latest.started_at
        rows.append(row)
    page = FunnelPage(name=name, slug=slug, file=facts.get("file"), rows=rows, history=[],
                      followups=followups, older=False, settled_title=title, sla_s=facts.get("sla_s"),
                      settled_kinds=settled_kinds, window_stats=window_stats)
    return page
