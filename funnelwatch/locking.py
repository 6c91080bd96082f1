"""One run at a time per history database: the second waits or exits (`on_overlap`).

Two runs on one database would double-submit forms (two probes for one
follow-up window), interleave alert state and race on the report. An advisory
`flock` on `<database>.lock` serialises them; the kernel drops it when the
holder dies, so a killed run never leaves a stale lock behind. The file holds
the holder's pid and start time, for the message the second run shows.

    with RunLock(config.database_path, on_overlap="wait", notify=print):
        ...

This is the SQLite history's lock; `funnelwatch.store.run_lock()` hands out the
right one for any `database:` (an advisory lock on a shared PostgreSQL), and
takes a `name` for a lock of one part of a history (a shard: `<database>.<name>.lock`).
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
    def __init__(self, database: str | os.PathLike[str], on_overlap: Literal["wait", "exit"] = "exit",
                 notify: Callable[[str], None] | None = None, name: str | None = None):
        self._database = Path(database).name
        self.path = Path(str(database) + (f".{name}" if name else "") + ".lock")
        self.on_overlap = on_overlap
        self.notify = notify or (lambda message: None)
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FunnelwatchError(
                f"{self.path}: cannot create the run lock next to the history database ({exc.strerror or exc}) — "
                f"make {self.path.parent} writable, or set `database:` to a file in a writable folder"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if self.on_overlap == "exit":
                os.close(fd)
                raise RunBusy(
                    f"another funnelwatch run{holder} is using {self._database} — this run exits without checking; "
                    "set `on_overlap: wait` in config/funnelwatch.yaml to queue behind it instead"
                ) from None
            self.notify(f"waiting for the other funnelwatch run{holder} on {self._database} to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

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
