"""What every bench script shares: rows, medians, a latency-controlled site, process memory.

Each bench script has `run() -> list[Row]` (what `bench/run_all.py` calls)
and prints its rows when run alone (`emit`). Every figure is a ratio against
a baseline measured in the same run on the same machine, because these
machines are noisy; the absolute numbers are kept for context.

    rows = [Row("validate 1,000 files", 0.8, None, "s", limit=2.0)]
    emit(rows)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from funnelwatch.demo.server import LocalSite, Request, Response  # noqa: E402


@dataclass
class Row:
    """One figure: measured against its baseline (same run), and the target it must meet.

    `limit` is the target on the ratio when there is a baseline, else on the
    measured value itself (e.g. seconds, MB). A row without a limit is context.
    """

    figure: str
    measured: float
    baseline: float | None
    unit: str
    limit: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.measured / self.baseline if self.baseline else float("inf")

    @property
    def target(self) -> str:
        if self.limit is None:
            return "—"
        return f"≤ {self.limit:g}×" if self.baseline is not None else f"≤ {self.limit:g} {self.unit}"

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        value = self.ratio if self.baseline is not None else self.measured
        return "pass" if value is not None and value <= self.limit else "MISS"

    def cells(self) -> list[str]:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}×"
        baseline = "—" if self.baseline is None else f"{_num(self.baseline)} {self.unit}"
        return [self.figure, f"{_num(self.measured)} {self.unit}", baseline, ratio, self.target, self.verdict]


HEADER = ["figure", "measured", "baseline", "ratio", "target", "pass/miss"]


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def table(rows: list[Row], markdown: bool = False) -> str:
    lines = [HEADER] + [row.cells() for row in rows]
    if markdown:
        out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines[1:]]
        notes = [f"- {row.figure}: {row.note}" for row in rows if row.note]
        return "\n".join(out + ([""] + notes if notes else []))
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(HEADER))]
    text = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip() for cells in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


ROWS_ENV = "FUNNELWATCH_BENCH_ROWS"


def emit(rows: list[Row]) -> None:
    """Print the rows; under `run_all.py` also hand them over as JSON (file named by $FUNNELWATCH_BENCH_ROWS)."""
    print(table(rows))
    for row in rows:
        if row.note:
            print(f"  {row.figure}: {row.note}")
    target = os.environ.get(ROWS_ENV)
    if target:
        Path(target).write_text(json.dumps([asdict(row) for row in rows]), encoding="utf-8")


def median_of(repeats: int, measure: Callable[[], float]) -> float:
    """Median of `repeats` measurements: robust to the odd slow one on a shared machine."""
    return statistics.median(measure() for _ in range(repeats))


# --- a bench site whose waits are known ---------------------------------------------------

FORM_PAGE = """<title>Bench offer {n}</title><h1>Bench offer {n}</h1>
<form method="post" action="/lead/{n}"><label>Email <input type="email" name="email" required></label>
<button type="submit">Get it</button></form>"""
THANKS_PAGE = "<title>Thanks {n}</title><h1>Thank you</h1><p>Check your inbox</p>"


@dataclass
class Funnel:
    """One bench funnel and the time its site makes it wait (the part no monitor can save)."""

    number: int
    page_delay_s: float
    submit_delay_s: float

    @property
    def inherent_s(self) -> float:
        return self.page_delay_s + self.submit_delay_s


def bench_funnels(count: int = 24) -> list[Funnel]:
    """Funnels with waits spread from 0.8 s to 2.0 s (deterministic)."""
    return [Funnel(n, 0.5 + 0.05 * (n % 13), 0.3 + 0.05 * (n % 7)) for n in range(count)]


def install_funnels(site: LocalSite, funnels: list[Funnel]) -> None:
    """A landing page with a lead form per funnel; the page and the form POST answer after their delay."""
    for funnel in funnels:
        site.page(f"/lp/{funnel.number}", FORM_PAGE.format(n=funnel.number), delay_s=funnel.page_delay_s)
        site.page(f"/thanks/{funnel.number}", THANKS_PAGE.format(n=funnel.number))

        def lead(_: Request, funnel: Funnel = funnel) -> Response:
            time.sleep(funnel.submit_delay_s)
            return Response(303, "", {"Location": f"/thanks/{funnel.number}"})

        site.route(f"/lead/{funnel.number}", lead)


BENCH_CONFIG = """\
database: reports/history.db
reports_dir: reports
browser:
  timeout: 20s
  concurrency: {concurrency}
defaults:
  retries: 0
"""

BENCH_CHECK = """\
name: Bench funnel {n}
landing:
  url: {url}
  must_show: [Bench offer {n}]
form:
  fill:
    email: bench+{{token}}@example.com
  success:
    url_contains: /thanks/{n}
    text: Check your inbox
"""


def write_project(root: Path, site: LocalSite, funnels: list[Funnel], concurrency: int) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "checks").mkdir(parents=True, exist_ok=True)
    (root / "config" / "funnelwatch.yaml").write_text(BENCH_CONFIG.format(concurrency=concurrency), encoding="utf-8")
    for funnel in funnels:
        text = BENCH_CHECK.format(n=funnel.number, url=site.url(f"/lp/{funnel.number}"))
        (root / "checks" / f"bench-{funnel.number:02d}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def run_funnels(site: LocalSite, funnels: list[Funnel], concurrency: int) -> tuple[float, list[str]]:
    """One real `funnelwatch.run` of the bench funnels: (wall seconds, statuses)."""
    import funnelwatch

    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp:
        root = write_project(Path(tmp), site, funnels, concurrency)
        config = funnelwatch.load_config(root)
        began = time.perf_counter()
        outcome = funnelwatch.run(config, alerts=False)
        took = time.perf_counter() - began
    return took, [r.status.value for r in outcome.results]


def physical_limit_s(funnels: list[Funnel], concurrency: int) -> float:
    """The fastest any monitor could be: waits spread over the slots, or the longest funnel."""
    return max(sum(f.inherent_s for f in funnels) / concurrency, max(f.inherent_s for f in funnels))


# --- memory of a process tree -------------------------------------------------------------------


def descendants(root_pid: int) -> list[int]:
    """`root_pid` and every process whose parent chain leads to it (Chromium, the Playwright driver)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakSampler:
    """Samples the PSS of this process and its descendants in a thread; keeps the peak."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            pids = descendants(os.getpid())
            total = sum(pss_bytes(pid) for pid in pids)
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, len(pids)
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

