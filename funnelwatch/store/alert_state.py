"""What each alert channel was last told, per (check, viewport): the `alert_state` table.

The state machine that reads and writes these rows is `funnelwatch/alerts/state.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .migrations import table

if TYPE_CHECKING:
    from . import Store


class AlertStateTable:
    def __init__(self, store: "Store"):
        self._store = store

    def load(self, channel: str) -> dict[tuple[str, str], dict[str, Any]]:
        """What `channel` was last told, keyed by (check, viewport)."""
        rows = self._store.db.query("select * from alert_state where channel = ?", [channel])
        return {(r["check_name"], r["viewport"]): r for r in rows}

    def save(self, rows: list[dict[str, Any]]) -> None:
        """Upsert alert state rows in one transaction."""
        if rows:
            with self._store.transaction():
                table(self._store.db, "alert_state").upsert_all(rows, pk=("channel", "check_name", "viewport"))
