"""What each alert channel was last told, per (check, viewport): the `alert_state` table; and when each
scheduled digest last went out: the `digests_sent` table.

The state machine that reads and writes these rows is `funnelwatch/alerts/state.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
                self._store.upsert_rows("alert_state", rows, ("channel", "check_name", "viewport"))


class DigestsSent:
    """When each scheduled digest last went out: the `digests_sent` table (see `funnelwatch/alerts/weekly.py`)."""

    def __init__(self, store: "Store"):
        self._store = store

    def last(self, name: str) -> str | None:
        row = self._store.db.execute("select sent_at from digests_sent where name = ?", [name]).fetchone()
        return str(row[0]) if row else None

    def mark(self, name: str, sent_at: str) -> None:
        with self._store.transaction():
            self._store.upsert_rows("digests_sent", [{"name": name, "sent_at": sent_at}], "name")
