"""`report.keep`: delete old screenshots and traces so reports/ stays small.

Artifacts live in `reports/artifacts/<run_id>/`; a run's files go once the run
is older than `keep`. History rows are never touched, and files the report
currently shows (the latest result of a funnel that has been broken for
longer than `keep`) are spared.

    removed = prune_artifacts(reports_dir, store, keep_s=90 * 86400, shown={"artifacts/3/x.png"})
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from ..clock import parse_iso, utcnow
from ..store import Store


def prune_artifacts(reports_dir: Path, store: Store, keep_s: float, shown: set[str], now: datetime | None = None) -> int:
    """Remove artifact folders of runs older than `keep_s`; returns how many files went."""
    root = reports_dir / "artifacts"
    if not root.is_dir() or keep_s <= 0:
        return 0
    folders = {int(p.name): p for p in root.iterdir() if p.is_dir() and p.name.isdigit()}
    started = store.run_started(sorted(folders))
    cutoff = (now or utcnow()) - timedelta(seconds=keep_s)
    removed = 0
    for run_id, folder in folders.items():
        when = parse_iso(started.get(run_id))
        if when is None or when >= cutoff:
            continue
        spared = False
        for path in folder.iterdir():
            rel = path.relative_to(reports_dir).as_posix()
            if rel in shown:
                spared = True
                continue
            if path.is_dir():
                removed += sum(1 for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
                removed += 1
        if not spared:
            shutil.rmtree(folder, ignore_errors=True)
    return removed
