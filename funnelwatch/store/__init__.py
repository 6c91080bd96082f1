"""The history database: the only package that speaks SQL.

Two engines behind one interface: `Store` is one SQLite connection (WAL,
`busy_timeout`, schema version in `PRAGMA user_version`), the default;
`postgres.PgStore` is one PostgreSQL connection (psycopg 3) for a history
shared by several machines (`database: postgresql://…`). `open_store()` picks
one by what `database:` names, so callers never care which. The queries are
the same text on both (`?` placeholders, standard SQL); the few dialect bits
sit behind a small seam both stores implement: `insert_row` (the new id),
`update_row`, `upsert_rows`, `get_row`, `json_text` (one key of a JSON
column), `serialise` (one writer per key inside a transaction: a no-op under
SQLite's BEGIN IMMEDIATE, a transaction-level advisory lock on PostgreSQL).
SQLite pays nothing for the seam: its methods call sqlite_utils directly,
and only PostgreSQL rewrites placeholders (cached per query text).

The concerns are split by module:

- `history.py`: runs and results (mixed into `Store`: `store.add_result(...)`);
- `ledger.py`: the pending ledger (`store.ledger`, see `funnelwatch/ledger.py`);
- `alert_state.py`: what each alert channel was told (`store.alert_state`);
- `maintenance.py`: ad-hoc maintenance windows (`store.maintenance`);
- `report_pages.py`: what each report page was last built from (`store.report_pages`);
- `migrations.py`: the append-only schema migrations.

A run still marked `running` whose process is gone is marked `incomplete` on open,
and its ledger reservations are settled (`SqlLedger.release_dead_run`).

A full disk is `DiskFull` (SQLITE_FULL or ENOSPC, told apart by code, at the
one place writes commit: `_Transaction`). So that a run can still be marked
`incomplete` on a disk something else filled, each run keeps a small reserve
file next to the database (`history.db-reserve`), given back when the disk is full.

On PostgreSQL there is no file: the reserve is not needed (the server's disk
full is mapped to `DiskFull` by error type), and a `running` run is judged
by its session's advisory lock (`run-alive:<id>`), not by pid or host (see `PgStore`).

    store = open_store("data/history.db")                  # or "postgresql://fw:${DB_PASSWORD}@db/funnelwatch"
    run_id, started = store.begin_run("all checks")
    with run_lock(config.database, "wait", notify=print):  # on_overlap, per database (or per name: a shard)
        ...
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Callable, ContextManager, Literal

import sqlite_utils

from ..clock import SYSTEM_CLOCK, Clock, iso, parse_iso, stamp, utcnow
from ..database_url import is_postgresql
from ..errors import FunnelwatchError
from ..ledger import FollowupStats, Probe
from ..redaction import Redactor
from .alert_state import AlertStateTable, DigestsSent
from .history import RunsAndResults, process_stamp, row_to_result
from .ledger import SqlLedger
from .maintenance import MaintenanceTable
from .migrations import MIGRATIONS, table
from .report_pages import ReportPages


def open_store(database: str | os.PathLike[str], readonly_ok: bool = False, clock: Clock = SYSTEM_CLOCK,
               redactor: Redactor | None = None) -> "Store":
    """The history `database:` names (`config.database`): a PostgreSQL URL, or a SQLite file's path."""
    if is_postgresql(database):
        from .postgres import PgStore

        return PgStore(str(database), clock=clock, redactor=redactor)
    return Store(database, readonly_ok=readonly_ok, clock=clock, redactor=redactor)


def run_lock(database: str | os.PathLike[str], on_overlap: Literal["wait", "exit"] = "exit",
             notify: Callable[[str], None] | None = None, name: str | None = None,
             redactor: Redactor | None = None) -> ContextManager[Any]:
    """The overlap lock (`on_overlap`) of one history, or of one `name` in it (a shard's): enter to hold it.

    SQLite: `funnelwatch.locking.RunLock`'s flock on `<database>.lock` (`<database>.<name>.lock`). PostgreSQL:
    a session-level advisory lock on a key hashed from the name, held by its own connection until exit (a
    killed holder's connection drops, and with it the lock). Both wait (`wait`, after telling `notify`) or
    raise `RunBusy` (`exit`).
    """
    if is_postgresql(database):
        from .postgres import AdvisoryRunLock

        return AdvisoryRunLock(str(database), on_overlap, notify, name, redactor)
    from ..locking import RunLock

    return RunLock(database, on_overlap, notify, name=name)


class Store(RunsAndResults):
    """The history database behind one SQLite connection."""

    #: Which engine (PostgreSQL's store says `postgresql`).
    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str], readonly_ok: bool = False, clock: Clock = SYSTEM_CLOCK,
                 redactor: Redactor | None = None):
        self.path = Path(path)
        self.clock = clock
        #: The loaded config's secrets: every reason and evidence is redacted with it before it is written.
        self.redactor = redactor if redactor is not None else Redactor()
        self._attach_parts()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._refuse_newer_schema()
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self._mark_abandoned_runs()
        except sqlite3.DatabaseError as exc:
            if self.path.parent.is_dir() and not os.access(self.path.parent, os.W_OK):
                raise FunnelwatchError(
                    f"{self.path}: cannot use the history database: its folder {self.path.parent} is read-only "
                    f"(SQLite writes {self.path.name}-wal next to it) — it was left untouched; make the folder writable "
                    "or set `database:` to a file in a writable folder"
                ) from None
            raise FunnelwatchError(
                f"{self.path}: cannot use the history database ({exc}) — "
                "it was left untouched; check its permissions, or move it aside to start a new history"
            ) from None
        except OSError as exc:
            raise FunnelwatchError(f"{self.path}: cannot open the history database ({exc.strerror})") from None

    # --- schema ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer_schema(self) -> None:
        if self.version > len(MIGRATIONS):
            raise FunnelwatchError(
                f"{self.path}: history was written by a newer funnelwatch (schema {self.version}) — "
                "it was left untouched; upgrade funnelwatch"
            )

    def _migrate(self) -> None:
        """Bring the schema up to date in one transaction (version read inside it, so racing processes migrate once)."""
        if self.version == len(MIGRATIONS):
            return
        with self.transaction():
            current = self.version
            for migration in MIGRATIONS[current:]:
                migration(self.db)
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def _attach_parts(self) -> None:
        """The tables by concern, each speaking SQL through this store's connection (either engine)."""
        self.ledger = SqlLedger(self)
        self.alert_state = AlertStateTable(self)
        self.digests_sent = DigestsSent(self)
        self.maintenance = MaintenanceTable(self)
        self.report_pages = ReportPages(self)

    def transaction(self) -> Any:
        return _Transaction(self.db.conn, self.path)

    # --- the engine seam (PgStore implements the same) ------------------------------

    def insert_row(self, name: str, row: dict[str, Any]) -> int:
        """Insert one row; its primary key (the new id)."""
        return int(table(self.db, name).insert(row).last_pk or 0)

    def update_row(self, name: str, row_id: int, values: dict[str, Any]) -> None:
        table(self.db, name).update(row_id, values)

    def upsert_rows(self, name: str, rows: list[dict[str, Any]], pk: str | tuple[str, ...]) -> None:
        table(self.db, name).upsert_all(rows, pk=pk)

    def get_row(self, name: str, row_id: int) -> dict[str, Any]:
        return dict(table(self.db, name).get(row_id))

    @staticmethod
    def json_text(column: str, key: str) -> str:
        """SQL for the JSON text under `key` of a JSON `column` (null when absent)."""
        return f"json_extract({column}, '$.{key}')"

    def serialise(self, key: str) -> None:
        """One writer per `key` until the transaction ends: SQLite's BEGIN IMMEDIATE already holds every writer off."""

    def _check_writable(self) -> None:
        if not os.access(self.path, os.W_OK):
            raise FunnelwatchError(
                f"{self.path}: the history database is readonly — it was left untouched; "
                "make it writable (chmod u+w, or chattr -i) or set `database:` to another file"
            )

    @property
    def shown(self) -> str:
        """Where this history is, for messages."""
        return str(self.path)

    # --- room on a full disk ----------------------------------------------------

    @property
    def reserve_path(self) -> Path:
        return Path(str(self.path) + "-reserve")

    def keep_reserve(self) -> None:
        """Hold RESERVE_BYTES next to the database (real blocks, not a sparse file) while the disk has room to spare."""
        try:
            if self.reserve_path.exists() or free_bytes(self.path.parent) < RESERVE_BYTES * 4:
                return
            with open(self.reserve_path, "wb") as handle:
                handle.write(b"\0" * RESERVE_BYTES)  # written, not truncated: the blocks are really taken
        except OSError:
            self.reserve_path.unlink(missing_ok=True)

    def release_reserve(self) -> bool:
        """Give the reserve back to the full disk (so the run can be marked); True when there was one."""
        try:
            self.reserve_path.unlink()
            return True
        except OSError:
            return False

    def _mark_abandoned_runs(self) -> None:
        """A SQLite history is one machine's: every `running` run is judged by its pid."""
        for row in list(self.db.query("select id, pid, process from runs where state = 'running'")):
            if not _alive(row["pid"], row["process"]):
                self.mark_abandoned(row["id"])

    def mark_abandoned(self, run_id: int) -> None:
        """A dead run becomes `incomplete` and its reservations go (guarded: of two stores judging it, one moves it)."""
        with self.transaction():
            moved = self.db.execute("update runs set state = 'incomplete' where id = ? and state = 'running'", [run_id])
            if moved.rowcount == 1:
                self.ledger.release_dead_run(run_id)

    def close(self) -> None:
        self.db.conn.close()


def datasette_metadata(database: str | os.PathLike[str]) -> str:
    """Datasette's `metadata.yml` for the history at `database` (descriptions, units, facets, three canned queries).

    Datasette names a database after its file (`data/history.db` is `history`), so the name is filled in.
    """
    import json
    from importlib import resources

    text = resources.files(__package__).joinpath("datasette-metadata.yml").read_text(encoding="utf-8")
    name = Path(database).stem
    return text.replace("\ndatabases:\n  history:\n", f"\ndatabases:\n  {json.dumps(name)}:\n", 1)


#: What a read of a damaged history raises (the report's queries); callers need not know it is SQLite's.
HistoryDamaged = sqlite3.DatabaseError

#: Kept next to the database for marking a run on a full disk (a few rows' worth, many times over).
RESERVE_BYTES = 1_000_000


class DiskFull(FunnelwatchError):
    """A write to the history failed because its disk is full; nothing of that write was kept."""

    def __init__(self, path: Path, where: str | None = None, name: str | None = None):
        self.path = path
        #: What is full, in words (the start of every line about it).
        self.where = where or f"the disk holding {path.parent} is full ({_size(free_bytes(path.parent))} free)"
        #: What could not grow (the SQLite file's name, or the PostgreSQL history's shown URL).
        self.name = name or path.name
        super().__init__(f"{self.where}: {self.name} cannot grow — free some space there")


def free_bytes(folder: Path) -> int:
    """Free space on the filesystem holding `folder` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        try:
            return int(shutil.disk_usage(candidate).free)
        except OSError:
            continue
    return 0


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL or the kernel's ENOSPC: by code, never by message."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _size(count: int) -> str:
    from ..units import format_size

    return format_size(count)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT/ROLLBACK on an autocommit connection; a full disk becomes `DiskFull`."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, exc: BaseException | None, *_: Any) -> None:
        if exc is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                exc = failed
                if not is_disk_full(failed):
                    raise
        if self.conn.in_transaction:  # SQLite may have rolled back on its own after SQLITE_FULL
            self.conn.execute("ROLLBACK")
        if is_disk_full(exc):
            raise DiskFull(self.path) from None


def _alive(pid: int | None, process: str | None = None) -> bool:
    """Is the run's process still running? The same pid is the same process only with the same start stamp."""
    if not pid:
        return False
    if process is not None:
        now = process_stamp(pid)
        if now is not None:
            return now == process
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["MIGRATIONS", "DiskFull", "open_store", "run_lock",
           "FollowupStats", "datasette_metadata", "HistoryDamaged", "Probe", "Store", "iso", "parse_iso", "row_to_result",
           "stamp", "utcnow"]
