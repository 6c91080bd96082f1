"""The history on a shared PostgreSQL server (`database: postgresql://…`), through psycopg 3.

`PgStore` is `Store` on another engine: the same queries (history.py,
ledger.py, alert_state.py, maintenance.py run unchanged), the dialect seam
done the PostgreSQL way, and the file-only parts (WAL, the reserve file, the
read-only folder) replaced by what a server needs:

- Placeholders: the store's SQL uses `?`; `PgDb` turns it into `%s` (and a
  literal `%` into `%%`), once per query text (cached), and only here.
- Migrations: `postgres_schema.PG_MIGRATIONS`, version in `schema_version`,
  applied in one transaction under a transaction-level advisory lock, so
  runners starting at once on an empty database migrate it once.
- Exactly-once: the ledger's guarded moves (`update … where id = ? and state = ?`)
  hold on PostgreSQL as they are (the second UPDATE waits on the row lock, then
  re-reads the state and changes nothing); `reserve` is serialised per check by
  `serialise()` (`pg_advisory_xact_lock`), as BEGIN IMMEDIATE serialises it on SQLite.
- Abandoned runs: a pid means something only on its host, and in Kubernetes
  every pod is a new host. So each run says it is alive with a session-level
  advisory lock `run-alive:<id>`, taken on the store's connection in the
  transaction that inserts its row (nobody sees the row before the lock is
  held) and let go when it finishes or is abandoned, or with the session (a
  killed process's connection drops, and the server drops its locks). An
  opener judges a `running` run dead when `pg_try_advisory_xact_lock` on its
  key succeeds, and marks it `incomplete` in that same short transaction (its
  reservations released), whatever host it ran on. Session locks need a
  session per client: behind a pooler, use session mode (as for the run lock).
- Errors are mapped by type at this one boundary: a server that cannot be
  reached, a refused login, a full server disk (`DiskFull`) become
  `FunnelwatchError`s naming `postgresql://user@host:port/db`, never the password.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import psycopg
import psycopg.errors
from psycopg.rows import dict_row

from ..clock import SYSTEM_CLOCK, Clock
from ..database_url import password, shown, user
from ..errors import FunnelwatchError
from ..locking import RunBusy
from ..redaction import Redactor
from . import DiskFull, Store
from .postgres_schema import ID_TABLES, PG_MIGRATIONS

#: Waited for the server on connect (unless the URL says `connect_timeout`).
CONNECT_TIMEOUT_S = 10


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name (stable across processes and hosts)."""
    return int.from_bytes(hashlib.sha256(f"funnelwatch:{name}".encode()).digest()[:8], "big", signed=True)


def alive_key(run_id: int) -> int:
    """The advisory lock a run holds while it runs (`run-alive:<id>`): free means its process is gone."""
    return advisory_key(f"run-alive:{run_id}")


@lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s` (a literal `%` doubled); no query quotes a `?`."""
    return sql.replace("%", "%%").replace("?", "%s")


def connect(url: str, redactor: Redactor | None = None, application: str = "funnelwatch") -> psycopg.Connection[Any]:
    """An autocommit connection to the history server, or a `FunnelwatchError` saying where and why (no password)."""
    options: dict[str, Any] = {"autocommit": True, "application_name": application[:63]}
    if "connect_timeout" not in url:
        options["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return psycopg.connect(url, **options)
    except psycopg.Error as exc:
        who = f" as user {user(url)}" if user(url) else ""
        raise FunnelwatchError(
            f"cannot reach the history database at {shown(url)}{who} — {_reason(exc, url, redactor)}; "
            "check `database:` in config/funnelwatch.yaml (host, port, database, user, password) and that the server is up"
        ) from None


def _reason(exc: BaseException, url: str, redactor: Redactor | None) -> str:
    """The driver's words, one line, with the URL's password (and any config secret) masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    secret = password(url)
    if secret:
        text = text.replace(secret, "***")
    return str(redactor.redact(text)) if redactor is not None else text


class PgDb:
    """What the store's modules call on `store.db`: `query` (dict rows) and `execute` (a cursor: `fetchone`, `rowcount`)."""

    def __init__(self, conn: psycopg.Connection[Any], errors: Callable[[], contextlib.AbstractContextManager[None]]):
        self.conn = conn
        self._errors = errors

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Iterator[dict[str, Any]]:
        with self._errors():
            cursor = self.conn.cursor(row_factory=dict_row)
            cursor.execute(_pg(sql) if params else sql, params or None)
            return iter(cursor.fetchall())

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> psycopg.Cursor[Any]:
        with self._errors():
            return self.conn.execute(_pg(sql) if params else sql, params or None)

    def executemany(self, sql: str, rows: list[list[Any]]) -> None:
        with self._errors():
            self.conn.cursor().executemany(_pg(sql), rows)

    def table_names(self) -> list[str]:
        return [r["table_name"] for r in self.query(
            "select table_name from information_schema.tables where table_schema = current_schema() "
            "and table_type = 'BASE TABLE' order by table_name")]

    def view_names(self) -> list[str]:
        return [r["table_name"] for r in self.query(
            "select table_name from information_schema.views where table_schema = current_schema() order by table_name")]

    def columns(self, table: str) -> list[str]:
        return [r["column_name"] for r in self.query(
            "select column_name from information_schema.columns where table_schema = current_schema() "
            "and table_name = ? order by ordinal_position", [table])]


class PgStore(Store):
    """The history database behind one PostgreSQL connection (see the module docstring)."""

    dialect = "postgresql"

    def __init__(self, url: str, readonly_ok: bool = False, clock: Clock = SYSTEM_CLOCK, redactor: Redactor | None = None):
        self.url = url
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor()
        secret = password(url)
        if secret:  # however the URL was written, its password is never written out
            self.redactor.add(secret)
        #: Stands in for SQLite's file in messages and names (`DiskFull.path`): never created.
        self.path = Path(shown(url))
        self._attach_parts()
        conn = connect(url, self.redactor, f"funnelwatch pid {os.getpid()} on {socket.gethostname()}")
        self.db = PgDb(conn, self._errors)
        try:
            self._migrate()
            self._mark_abandoned_runs()
        except BaseException:
            conn.close()
            raise

    @property
    def shown(self) -> str:
        return shown(self.url)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors as ours, by type: a full server disk, a lost server, anything else the server refused."""
        try:
            yield
        except psycopg.errors.DiskFull:
            raise DiskFull(self.path, where=f"the disk of the PostgreSQL server holding {self.shown} is full",
                           name=self.shown) from None
        except psycopg.OperationalError as exc:
            raise FunnelwatchError(f"lost the history database at {self.shown} — {_reason(exc, self.url, self.redactor)}") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise FunnelwatchError(
                f"the history database at {self.shown} refused a write ({_reason(exc, self.url, self.redactor)}) — "
                "grant the user in `database:` the rights to create and write its tables"
            ) from None

    # --- schema ---------------------------------------------------------------

    @property
    def version(self) -> int:
        if self.db.execute("select to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        row = self.db.execute("select max(version) from schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        """Under one advisory lock in one transaction: of several runners starting at once, one migrates."""
        if self.version == len(PG_MIGRATIONS):
            return
        with self.transaction():
            self.db.execute("select pg_advisory_xact_lock(?)", [advisory_key("migrate")])
            self.db.execute("create table if not exists schema_version (version integer not null)")
            current = self.version
            if current > len(PG_MIGRATIONS):
                raise FunnelwatchError(
                    f"{self.shown}: history was written by a newer funnelwatch (schema {current}) — "
                    "it was left untouched; upgrade funnelwatch"
                )
            for migration in PG_MIGRATIONS[current:]:
                migration(self.db)
            self.db.execute("delete from schema_version")
            self.db.execute("insert into schema_version (version) values (?)", [len(PG_MIGRATIONS)])

    def transaction(self) -> Any:
        return _PgTransaction(self)

    # --- the engine seam ---------------------------------------------------------

    def insert_row(self, name: str, row: dict[str, Any]) -> int:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        returning = " returning id" if name in ID_TABLES and "id" not in row else ""
        cursor = self.db.execute(f"insert into {name} ({columns}) values ({marks}){returning}", list(row.values()))
        if returning:
            return int(cursor.fetchone()[0])
        return int(row.get("id") or row.get("result_id") or 0)

    def update_row(self, name: str, row_id: int, values: dict[str, Any]) -> None:
        assignments = ", ".join(f'"{c}" = ?' for c in values)
        self.db.execute(f"update {name} set {assignments} where id = ?", [*values.values(), row_id])

    def upsert_rows(self, name: str, rows: list[dict[str, Any]], pk: str | tuple[str, ...]) -> None:
        keys = (pk,) if isinstance(pk, str) else pk
        for row in rows:
            columns = list(row)
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in keys)
            action = f"do update set {updates}" if updates else "do nothing"
            self.db.execute(
                f"insert into {name} ({', '.join(chr(34) + c + chr(34) for c in columns)}) "
                f"values ({', '.join('?' for _ in columns)}) on conflict ({', '.join(keys)}) {action}",
                list(row.values()),
            )

    def get_row(self, name: str, row_id: int) -> dict[str, Any]:
        found = list(self.db.query(f"select * from {name} where id = ?", [row_id]))
        if not found:
            raise KeyError(f"{name} {row_id}")
        return found[0]

    @staticmethod
    def json_text(column: str, key: str) -> str:
        return f"({column}::json ->> '{key}')"

    def serialise(self, key: str) -> None:
        self.db.execute("select pg_advisory_xact_lock(?)", [advisory_key(key)])

    def reset_sequences(self) -> None:
        """Move each id sequence past the ids in its table (after rows were inserted with their ids: `migrate --to`)."""
        for name in ID_TABLES:
            self.db.execute(f"select setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"coalesce((select max(id) from {name}), 0) + 1, false)")

    def _check_writable(self) -> None:
        """A server that refuses a write says so when it is made (`_errors`)."""

    # --- no file, no reserve ----------------------------------------------------

    def keep_reserve(self) -> None:
        """The server's disk is the server's: nothing is kept on this machine."""

    def release_reserve(self) -> bool:
        return False

    def _hold_run(self, run_id: int) -> None:
        """A session lock (kept past the transaction it is taken in) on `run-alive:<id>`, until `_let_go_run` or close."""
        self.db.execute("select pg_advisory_lock(?)", [alive_key(run_id)])

    def _let_go_run(self, run_id: int) -> None:
        self.db.execute("select pg_advisory_unlock(?)", [alive_key(run_id)])

    def _mark_abandoned_runs(self) -> None:
        """A `running` run whose alive lock nobody holds is dead (its session is gone), on whatever host it ran."""
        for row in list(self.db.query("select id from runs where state = 'running'")):
            with self.transaction():  # the try-lock goes with this transaction: a later opener may judge again
                if self.db.execute("select pg_try_advisory_xact_lock(?)", [alive_key(row["id"])]).fetchone()[0]:
                    self.mark_abandoned(row["id"])

    def close(self) -> None:
        self.db.conn.close()


class _PgTransaction:
    """BEGIN … COMMIT/ROLLBACK on the autocommit connection (psycopg's own), with the store's error mapping."""

    def __init__(self, store: PgStore):
        self.store = store
        self._inner: Any = None

    def __enter__(self) -> None:
        with self.store._errors():
            self._inner = self.store.db.conn.transaction()
            self._inner.__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        with self.store._errors():
            self._inner.__exit__(exc_type, exc, tb)


class AdvisoryRunLock:
    """`on_overlap` on a shared PostgreSQL history: a session-level advisory lock on `run` (or a shard's name).

    Held by its own connection for as long as the run lasts, so it goes when the run's process does (the
    server drops a dead client's session). The connection's application_name says which run holds it, for
    the message the second run shows.
    """

    def __init__(self, url: str, on_overlap: Literal["wait", "exit"] = "exit", notify: Callable[[str], None] | None = None,
                 name: str | None = None, redactor: Redactor | None = None):
        self.url = url
        self.on_overlap = on_overlap
        self.notify = notify or (lambda message: None)
        self.name = name or "run"
        self.key = advisory_key(f"run-lock:{self.name}")
        #: The whole history's lock: an unsharded run holds it alone, each shard shares it (as RunLock's flock does).
        self.base = advisory_key("run-lock:run")
        self.redactor = redactor
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        conn = connect(self.url, self.redactor, f"funnelwatch pid {os.getpid()} on {socket.gethostname()} since {started}")
        try:
            if self.key != self.base:  # a shard shares the history with the other shards, never with an unsharded run
                self._take(conn, "_shared", self.base, ("an unsharded", "the unsharded"), lambda: "funnelwatch run",
                           f" — this run of {self.name}")
            what = "" if self.name == "run" else f" for {self.name}"
            self._take(conn, "", self.key, ("another", "the other"), lambda: f"funnelwatch run{self._holder(conn)}{what}",
                       " — this run")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _take(self, conn: psycopg.Connection[Any], mode: str, key: int, articles: tuple[str, str],
              run: Callable[[], str], this: str) -> None:
        """Hold `key` (`mode` "": alone, "_shared": with others) at once, else exit (`RunBusy`) or wait (`on_overlap`).

        `run()` names the holder (asked only when there is one); `articles` are "another" / "the other"."""
        if conn.execute(f"select pg_try_advisory_lock{mode}(%s)", [key]).fetchone()[0]:  # type: ignore[index]
            return
        holder = run()
        if self.on_overlap == "exit":
            raise RunBusy(
                f"{articles[0]} {holder} is using {shown(self.url)}{this} exits without checking; "
                "set `on_overlap: wait` in config/funnelwatch.yaml to queue behind it instead"
            )
        self.notify(f"waiting for {articles[1]} {holder} on {shown(self.url)} to finish")
        conn.execute(f"select pg_advisory_lock{mode}(%s)", [key])

    def _holder(self, conn: psycopg.Connection[Any]) -> str:
        """` (funnelwatch pid 12 on web-1 since …)`: the holding session's application_name, when the server tells."""
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        row = conn.execute(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.classid = %s::bigint::oid and l.objid = %s::bigint::oid "
            "and l.objsubid = 1 limit 1",
            [high, low],
        ).fetchone()
        name = str(row[0]) if row and row[0] else ""
        return f" ({name.removeprefix('funnelwatch ')})" if name.startswith("funnelwatch pid") else ""

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("select pg_advisory_unlock_all()")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "AdvisoryRunLock":
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
