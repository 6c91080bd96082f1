"""Blocking network I/O off the event loop, in threads a stuck peer can never keep alive.

`asyncio.to_thread` uses the loop's default executor, whose threads are joined
when `asyncio.run()` ends: one download that a server feeds a byte every two
seconds would keep the process (and its cron lock) alive for good. A daemon
thread is abandoned instead, and `deadline_s` bounds the wait for it.

Per-read socket timeouts never fire on a trickle (each byte resets them), so
every network exchange also gets an overall deadline: a `Watchdog` that cuts
the exchange's socket when the deadline passes, which wakes the blocked read
in its thread (cancellable I/O). Threads abandoned all the same are counted;
`exit_on_time` leaves without waiting for them (the CLI's last step).

    got = await in_daemon_thread(download, url, max_bytes, timeout_s, deadline_s=2 * timeout_s + 10)
    with Watchdog(30, lambda: sock.shutdown(socket.SHUT_RDWR)) as dog: ...; dog.fired
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: Threads whose callers stopped waiting for them (a peer that never finished answering).
_abandoned: list[threading.Thread] = []
_abandoned_lock = threading.Lock()


async def in_daemon_thread(function: Callable[..., T], *args: Any, deadline_s: float | None = None) -> T:
    """`function(*args)` in a new daemon thread; raises `asyncio.TimeoutError` after `deadline_s` (the thread is left behind).

    A cancelled caller (a step's time cap) abandons the thread the same way.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def work() -> None:
        try:
            value = function(*args)
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            error = exc
            _call_soon(loop, lambda: settle(lambda: future.set_exception(error)))
        else:
            _call_soon(loop, lambda: settle(lambda: future.set_result(value)))

    thread = threading.Thread(target=work, name=f"funnelwatch-{getattr(function, '__name__', 'io')}", daemon=True)
    thread.start()
    try:
        if deadline_s is None:
            return await future
        return await asyncio.wait_for(future, deadline_s)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        _abandon(thread)
        raise


def run_with_deadline(function: Callable[..., T], *args: Any, deadline_s: float) -> T:
    """`function(*args)` in a daemon thread, waited for at most `deadline_s`; raises `TimeoutError` (the thread is left behind).

    For synchronous callers (alerts, the heartbeat) that must return on time whatever the peer does.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"funnelwatch-{getattr(function, '__name__', 'io')}", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if thread.is_alive():
        _abandon(thread)
        raise TimeoutError(f"no answer within {deadline_s:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class Watchdog:
    """Calls `cut` once, from a timer thread, if the `with` block is still running after `deadline_s`.

    `cut` should make the blocked I/O fail at once (`shutdown(SHUT_RDWR)` on its
    socket); `fired` tells the caller the failure that followed was the deadline's.
    """

    def __init__(self, deadline_s: float, cut: Callable[[], None]):
        self.deadline_s = deadline_s
        self.fired = False
        self._cut = cut
        self._timer = threading.Timer(deadline_s, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        try:
            self._cut()
        except Exception:  # the socket is already gone: nothing left to cut
            pass

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._timer.cancel()


def shut(sock: socket.socket | None) -> None:
    """Make every read and write on `sock` fail now, from any thread (closing alone does not wake a blocked read)."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _abandon(thread: threading.Thread) -> None:
    with _abandoned_lock:
        _abandoned[:] = [t for t in _abandoned if t.is_alive()]
        _abandoned.append(thread)


def abandoned_alive() -> int:
    """How many abandoned threads are still blocked (on a peer that never finished)."""
    with _abandoned_lock:
        _abandoned[:] = [t for t in _abandoned if t.is_alive()]
        return len(_abandoned)


def exit_on_time(code: int) -> None:
    """Exit with `code` now: when abandoned work is still blocked, without waiting for it.

    The interpreter joins every non-daemon thread at exit (a library's thread
    pool among them); after a deadline gave up on a peer, nothing may wait for it.
    """
    if abandoned_alive():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop has closed: nobody waits for this answer any more
        pass
