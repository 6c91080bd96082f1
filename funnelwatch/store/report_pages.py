"""What each funnel page of the report was last built from: the `report_pages` table.

A report build re-renders a funnel's page only when the funnel has a result
newer than the one its page was built from, when anything else the page
shows changed (its `signature`), or when the page file is gone; see
`funnelwatch/report/__init__.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Store


class ReportPages:
    def __init__(self, store: "Store"):
        self._store = store

    def load(self) -> dict[str, dict[str, Any]]:
        """Every page's mark, by slug."""
        return {r["slug"]: r for r in self._store.db.query("select * from report_pages")}

    def save(self, marks: list[dict[str, Any]]) -> None:
        """Upsert the marks of the pages just written, in one transaction."""
        if marks:
            with self._store.transaction():
                self._store.upsert_rows("report_pages", marks, pk="slug")

    def newest_result_ids(self, names: list[str]) -> dict[str, int]:
        """Each funnel's newest result id (any kind): one indexed lookup per funnel, whatever the history's size."""
        newest: dict[str, int] = {}
        for name in names:
            row = self._store.db.execute("select max(id) from results where check_name = ?", [name]).fetchone()
            if row and row[0] is not None:
                newest[name] = int(row[0])
        return newest
