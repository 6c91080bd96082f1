"""`make bench`: run every bench script, print one table, write bench/RESULTS.md.

Each script runs in its own process (so memory figures and event loops never
mix). A script built on `bench/common.py` hands its rows over as JSON; the
others are read from what they print (see PARSERS). A script that crashes or
prints nothing recognisable becomes a MISS row naming it, never a silent gap
(and `make bench` exits 1); a missed target is a MISS row, exit 0.

    .venv/bin/python bench/run_all.py [--only concurrency,memory] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from common import ROOT, ROWS_ENV, Row, table

BENCH = Path(__file__).resolve().parent
ORDER = ["form_overhead", "script_peer", "ad_chain", "concurrency", "shards", "memory", "report_scale", "validate_scale",
         "inbox_scale", "store_writes"]
SCRIPT_TIMEOUT_S = 1200
_NUM = r"([0-9][0-9,]*\.?[0-9]*)"


def _f(text: str) -> float:
    return float(text.replace(",", ""))


def _form_overhead(out: str) -> list[Row]:
    rows = []
    for label, figure, limit in (("whole run", "form funnel through funnelwatch vs hand-written Playwright", 1.15),
                                 ("fill\\+submit", "form step alone vs the script's fill-submit-wait", None)):
        found = re.search(label + rf".*?Playwright\s+{_NUM}s\s+funnelwatch\s+{_NUM}s", out)
        if found:
            rows.append(Row(figure, _f(found.group(2)), _f(found.group(1)), "s", limit))
    return rows


def _ad_chain(out: str) -> list[Row]:
    chain = re.search(rf"4-hop chain.*?{_NUM}s", out)
    direct = re.search(rf"final page directly.*?{_NUM}s", out)
    if chain and direct:
        return [Row("ad click-through: 4-hop redirect chain vs landing page directly", _f(chain.group(1)),
                    _f(direct.group(1)), "s")]
    return []


def _inbox_scale(out: str) -> list[Row]:
    rows = []
    for label, figure, limit in (("narrowed \\(since\\)", "IMAP: find one message among {big} vs among {small}", 1.5),
                                 ("unnarrowed \\(no since\\)", "IMAP, unnarrowed search (before #21): among {big} vs {small}", None)):
        found = re.findall(rf"{label}: find one email among\s+{_NUM}:\s+{_NUM}\s*ms", out)
        if len(found) >= 2:
            (small_n, small_ms), (big_n, big_ms) = sorted(found, key=lambda pair: _f(pair[0]))[:: len(found) - 1]
            rows.append(Row(figure.format(big=big_n, small=small_n), _f(big_ms), _f(small_ms), "ms", limit))
    return rows


def _report_scale(out: str) -> list[Row]:
    rows = []
    for found in re.finditer(rf"report (full rebuild|after a run of {_NUM} funnels), {_NUM} funnels: {_NUM} results {_NUM}s, "
                             rf"{_NUM} results {_NUM}s", out):
        what, _, funnels, small_n, small_s, big_n, big_s = found.groups()
        full = what == "full rebuild"
        figure = (f"report full rebuild ({funnels} funnels): {big_n} results vs {small_n}" if full
                  else f"report after a run of {what.split()[4]} funnels ({funnels} funnels): {big_n} results vs {small_n}")
        rows.append(Row(figure, _f(big_s), _f(small_s), "s", 3.0 if full else 1.5))
    history = re.search(rf"history NAME` on {_NUM} results: {_NUM} ms", out)
    if history:
        rows.append(Row(f"`funnelwatch history NAME` on {history.group(1)} results", _f(history.group(2)), None, "ms"))
    return rows


#: How to read the figures of scripts that do not hand over rows.
PARSERS: dict[str, Callable[[str], list[Row]]] = {
    "form_overhead": _form_overhead,
    "ad_chain": _ad_chain,
    "inbox_scale": _inbox_scale,
    "report_scale": _report_scale,
}


def run_script(name: str) -> tuple[list[Row], str, float]:
    """Run bench/NAME.py in its own process: (rows, its output, seconds)."""
    with tempfile.TemporaryDirectory(prefix="fw-bench-rows-") as tmp:
        handover = Path(tmp) / "rows.json"
        env = {**os.environ, ROWS_ENV: str(handover), "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)])}
        began = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(BENCH / f"{name}.py")], capture_output=True, text=True,
                                  cwd=ROOT, env=env, timeout=SCRIPT_TIMEOUT_S)
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"{exc.stdout or ''}{exc.stderr or ''}\n(timed out after {SCRIPT_TIMEOUT_S}s)", -1
        took = time.perf_counter() - began
        if handover.exists():
            rows = [Row(**row) for row in json.loads(handover.read_text(encoding="utf-8"))]
        else:
            rows = PARSERS.get(name, lambda _: [])(output if isinstance(output, str) else "")
    if not rows:
        tail = " / ".join(line.strip() for line in str(output).strip().splitlines()[-2:])
        rows = [Row(f"{name}.py", float(code), None, "exit code", 0.0, note=f"no figures: {tail[:300]}")]
    return rows, str(output), took


def scripts(only: list[str] | None) -> list[str]:
    present = {path.stem for path in BENCH.glob("*.py")} - {"common", "run_all"}
    ordered = [name for name in ORDER if name in present] + sorted(present - set(ORDER))
    return [name for name in ordered if not only or name in only]


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        total_kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
        memory = f", {total_kb / 2**20:.0f} GB RAM"
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"- machine: {platform.node()} — {platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{memory}",
        f"- load average at start: {load} (other work on the machine inflates absolute times; ratios are same-run)",
        f"- Python {platform.python_version()}",
    ]


def kept_sections(path: Path) -> list[str]:
    """Hand-written sections between the table and the raw output (an issue's before/after): a rerun keeps them."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    start, end = text.find("\n## "), text.find("\n## Raw output")
    if start == -1 or end == -1 or start >= end:
        return []
    return text[start + 1:end].rstrip().splitlines() + [""]


def write_results(rows: list[Row], outputs: dict[str, tuple[str, float]], header: list[str], command: str) -> Path:
    path = BENCH / "RESULTS.md"
    lines = ["# Bench results", "", f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
             f"- command: `{command}`", *header, "", table(rows, markdown=True), "", *kept_sections(path),
             "## Raw output", ""]
    for name, (output, took) in outputs.items():
        lines += [f"### {name}.py ({took:.0f}s)", "", "```", output.strip()[-4000:], "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated script names (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    header = machine()
    rows: list[Row] = []
    outputs: dict[str, tuple[str, float]] = {}
    for name in scripts(args.only.split(",") if args.only else None):
        print(f"running bench/{name}.py …", file=sys.stderr, flush=True)
        found, output, took = run_script(name)
        rows += found
        outputs[name] = (output, took)
    print(table(rows))
    for row in rows:
        if row.note:
            print(f"  {row.figure}: {row.note}")
    if not args.no_write:
        command = "make bench" if os.environ.get("MAKELEVEL") else " ".join(["python", "bench/run_all.py", *sys.argv[1:]])
        print(f"wrote {write_results(rows, outputs, header, command).relative_to(ROOT)}", file=sys.stderr)
    return 1 if any(row.unit == "exit code" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
