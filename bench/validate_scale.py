"""`funnelwatch validate` on 1,000 check files, and proof it never imports Playwright.

Timed as a user runs it (a fresh `funnelwatch validate` process), against the
same command on 10 files in the same run as baseline (interpreter start and
imports dominate that one). Target: under 2 s for 1,000 files. Validating
must not import Playwright (a slow import, and a browser is not needed to read
YAML): a subprocess runs the CLI in-process and reports `sys.modules`.

    .venv/bin/python bench/validate_scale.py [--files 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Row, emit, median_of

TARGET_S = 2.0
CHECK = """\
name: Funnel {n:04d} — spring campaign
tags: [google-ads, group-{group}]
ad:
  url: https://example.com/go/{n}?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=FW-{n}
  headline: Free HIPAA Compliance Checklist {n}
  promise: [HIPAA compliance checklist, free, 2026 edition]
  landing_url: https://example.com/lp/{n}
  keep_params: [utm_source, utm_medium, utm_campaign, gclid]
landing:
  must_show: [HIPAA Compliance Checklist]
  must_not_show: [Page not found, Offer expired]
  max_load: 5s
form:
  fill:
    email: "{{inbox}}"
    first_name: Funnel
  success:
    url_contains: /thank-you
    text: Check your inbox
"""
CONFIG = "database: reports/history.db\nreports_dir: reports\n"
PROBE = """
import sys
from funnelwatch.cli import cli
try:
    cli.main(["-C", sys.argv[1], "validate"], standalone_mode=False)
except SystemExit:
    pass
import json
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "playwright")))
"""


def make_project(root: Path, files: int) -> Path:
    (root / "config").mkdir(parents=True)
    (root / "checks").mkdir()
    (root / "config" / "funnelwatch.yaml").write_text(CONFIG, encoding="utf-8")
    for n in range(files):
        (root / "checks" / f"f{n:04d}.yaml").write_text(CHECK.format(n=n, group=n % 10), encoding="utf-8")
    return root


def validate_seconds(root: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "funnelwatch", "-C", str(root), "validate"],
                          capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"validate failed on the bench project: {done.stderr[-2000:]}")
    return took


def playwright_modules(root: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(files: int = 1000, repeats: int = 3) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as tmp:
        big = make_project(Path(tmp) / "big", files)
        small = make_project(Path(tmp) / "small", 10)
        small_s = median_of(repeats, lambda: validate_seconds(small))
        big_s = median_of(repeats, lambda: validate_seconds(big))
        imported = playwright_modules(big)
    return [
        Row(f"validate {files:,} check files (fresh process)", big_s, None, "s", TARGET_S),
        Row(f"validate {files:,} vs 10 check files", big_s, small_s, "s"),
        Row("Playwright modules imported by validate", float(len(imported)), None, "modules", 0.0,
            note=", ".join(imported[:5])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    emit(run(args.files))


if __name__ == "__main__":
    main()
