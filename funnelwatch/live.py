"""Live progress on a terminal: which checks run, what a long wait is waiting for, done of total.

A nightly run says nothing until a check finishes; a person at a terminal
wants to see that it is alive: "[3/10] HIPAA checklist: waiting for the
delivery email, 1m 20s of 10m". One status line is redrawn in place (every
second while something waits); result lines scroll above it. Nothing of it
appears when stderr is not a terminal (cron logs, `--json` consumers).

    live = Live(write=sys.stderr.write, flush=sys.stderr.flush)
    api.run(config, progress=live.progress)
    live.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .steps.base import Waiting
from .text import one_line
from .units import format_duration

CLEAR = "\r\x1b[K"
TICK_S = 1.0
MAX_LINE = 160


class Live:
    """Keeps the running checks and their waits; draws one status line."""

    def __init__(self, write: Callable[[str], Any], flush: Callable[[], Any] = lambda: None,
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.flush, self.clock = write, flush, clock
        self.total = 0
        self.done = 0
        self.running: dict[tuple[str, str], str] = {}  # (check, viewport) -> name
        self.waits: dict[tuple[str | None, str | None], Waiting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="funnelwatch-live", daemon=True)
        self._ticker.start()

    def progress(self, event: str, payload: Any) -> None:
        """The runner's progress callback (results are printed by `say`, above the status line)."""
        with self._lock:
            if event == "plan":
                self.total = int(payload)
            elif event == "start":
                self.running[(payload.check.name, payload.viewport)] = payload.check.name
            elif event == "waiting" and isinstance(payload, Waiting):
                self.waits[(payload.check, payload.viewport)] = payload
            elif event == "result":
                self.running.pop((payload.check, payload.viewport), None)
                self.waits.pop((payload.check, payload.viewport), None)
                self.done += 1
            # A result or notice line is printed next: clear the status line for it; the next tick redraws.
            self._draw(clear_first=event in ("result", "notice"))

    def status_line(self) -> str:
        """The line as it reads now."""
        now = self.clock()
        parts = [f"[{self.done}/{self.total}]" if self.total else f"[{self.done}]"]
        waits = [w for key, w in self.waits.items() if key[0] is None or key in self.running]
        for wait in waits[:2]:
            spent = format_duration(now - wait.since)
            limit = f" of {format_duration(wait.up_to_s)}" if wait.up_to_s else ""
            parts.append(f"{wait.check + ': ' if wait.check else ''}{wait.what}, {spent}{limit}")
        others = [name for key, name in self.running.items() if key not in self.waits]
        if others:
            parts.append("running: " + ", ".join(others[:3]) + (f" +{len(others) - 3}" if len(others) > 3 else ""))
        return one_line(parts[0] + " " + " · ".join(parts[1:]))[:MAX_LINE].rstrip()

    def _draw(self, clear_first: bool = False) -> None:
        if clear_first:
            self.write(CLEAR)
        else:
            self.write(CLEAR + self.status_line())
        self.flush()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                self._draw()

    def close(self) -> None:
        """Stop redrawing and leave the terminal clean."""
        self._stop.set()
        with self._lock:
            self.write(CLEAR)
            self.flush()
