"""Ad-hoc maintenance windows (`funnelwatch maintenance start --for 2h`): the `maintenance_windows` table.

Kept in the history database so every runner sharing it (cron lines, the
daemon, other machines) sees the same window.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..clock import iso

if TYPE_CHECKING:
    from . import Store


class MaintenanceTable:
    def __init__(self, store: "Store"):
        self.store = store

    def open(self, start: datetime, end: datetime, tags: list[str], checks: list[str], note: str | None) -> dict[str, Any]:
        row: dict[str, Any] = {"starts_at": iso(start), "ends_at": iso(end), "tags": json.dumps(tags), "checks": json.dumps(checks),
               "note": note, "created_at": iso(self.store.clock.now())}
        with self.store.transaction():
            row["id"] = self.store.insert_row("maintenance_windows", row)
        return _decoded(row)

    def active(self, now: datetime) -> list[dict[str, Any]]:
        """Windows not yet over at `now` (those still to come included), oldest first."""
        rows = self.store.db.query("select * from maintenance_windows where ends_at > ? order by id", [iso(now)])
        return [_decoded(r) for r in rows]

    def end(self, now: datetime, tags: list[str]) -> int:
        """End the open windows now (only those for one of `tags`, when given); how many were open."""
        ended = 0
        with self.store.transaction():
            for row in self.active(now):
                if tags and not set(tags) & set(row["tags"]):
                    continue
                self.store.update_row("maintenance_windows", row["id"], {"ends_at": iso(now)})
                ended += 1
        return ended


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return dict(row, tags=json.loads(row["tags"] or "[]"), checks=json.loads(row["checks"] or "[]"))
