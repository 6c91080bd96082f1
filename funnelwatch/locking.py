"""One run at a time per history database: the second waits or exits (`on_overlap`).

Two runs on one database would double-submit forms (two probes for one
follow-up window), interleave alert state and race on the report. An advisory
`flock` on `<database>.lock` serialises them; the kernel drops it when the
holder dies, so a killed run never leaves a stale lock behind. The file holds
the holder's pid and start time, for the message the second run shows.

    with RunLock(config.database_path, on_overlap="wait", notify=print):
        ...

Shards (`run --shard K/N`) split the checks, so two shards never submit the
same form: each takes its own lock, `<database>.shard-K-of-N.lock` (`name` is
`Shard.lock_name`, the one place that name is made), and holds
`<database>.lock` *shared*, so shards 1/2 and 2/2 run at once while an
unsharded run (which takes `<database>.lock` exclusively, as before) still
waits for, or exits beside, any of them.

This is the SQLite history's lock; `funnelwatch.store.run_lock()` hands out the
right one for any `database:` (advisory locks with the same shape on a shared PostgreSQL).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Literal

from .errors import FunnelwatchError


class RunBusy(FunnelwatchError):
    """Another run holds the database and `on_overlap` is `exit`."""


class RunLock:
    """The overlap lock of the whole database (`name` empty) or of one shard (`name` = `Shard.lock_name`)."""

    def __init__(self, database: str | os.PathLike[str], on_overlap: Literal["wait", "exit"] = "exit",
                 notify: Callable[[str], None] | None = None, name: str | None = ""):
        self.name = name or ""
        self.base = Path(str(database) + ".lock")
        self.path = Path(f"{database}.{name}.lock") if name else self.base
        self._database_name = Path(database).name
        self.on_overlap = on_overlap
        self.notify = notify or (lambda message: None)
        self._fd: int | None = None
        self._shared: int | None = None

    def acquire(self) -> None:
        if self.name:  # a shard shares the database with the other shards, never with an unsharded run
            self._shared = self._take(self.base, fcntl.LOCK_SH, "an unsharded funnelwatch run", "the unsharded funnelwatch run")
        try:
            run = f"funnelwatch run of {self._shard}" if self.name else "funnelwatch run"
            fd = self._take(self.path, fcntl.LOCK_EX, f"another {run}", f"the other {run}")
        except BaseException:
            self._drop_shared()
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode(), 0)
        self._fd = fd

    def _take(self, path: Path, mode: int, who: str, waited: str) -> int:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FunnelwatchError(
                f"{path}: cannot create the run lock next to the history database ({exc.strerror or exc}) — "
                f"make {path.parent} writable, or set `database:` to a file in a writable folder"
            ) from None
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if self.on_overlap == "exit":
                os.close(fd)
                raise RunBusy(
                    f"{who}{holder} is using {self._database} — this run exits without checking; "
                    "set `on_overlap: wait` in config/funnelwatch.yaml to queue behind it instead"
                ) from None
            self.notify(f"waiting for {waited}{holder} on {self._database} to finish")
            fcntl.flock(fd, mode)
        return fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._drop_shared()

    def _drop_shared(self) -> None:
        if self._shared is not None:
            fcntl.flock(self._shared, fcntl.LOCK_UN)
            os.close(self._shared)
            self._shared = None

    @property
    def _shard(self) -> str:
        """`shard 1/2` out of `shard-1-of-2`, for the messages."""
        parts = self.name.split("-")
        return f"shard {parts[1]}/{parts[3]}" if len(parts) == 4 and parts[0] == "shard" else self.name

    @property
    def _database(self) -> str:
        return self._database_name

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        pid, started = os.pread(fd, 200, 0).decode().split()[:2]
        return f" (pid {int(pid)}, started {started})"
    except (ValueError, OSError):
        return ""
