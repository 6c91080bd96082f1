"""Blocking network I/O off the event loop, in threads a stuck peer can never keep alive.

`asyncio.to_thread` uses the loop's default executor, whose threads are joined
when `asyncio.run()` ends: one download that a server feeds a byte every two
seconds would keep the process (and its cron lock) alive for good. A daemon
thread is abandoned instead, and `deadline_s` bounds the wait for it.

    got = await in_daemon_thread(download, url, max_bytes, timeout_s, deadline_s=2 * timeout_s + 10)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def in_daemon_thread(function: Callable[..., T], *args: Any, deadline_s: float | None = None) -> T:
    """`function(*args)` in a new daemon thread; raises `asyncio.TimeoutError` after `deadline_s` (the thread is left behind)."""
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

    threading.Thread(target=work, name=f"funnelwatch-{getattr(function, '__name__', 'io')}", daemon=True).start()
    if deadline_s is None:
        return await future
    return await asyncio.wait_for(future, deadline_s)


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
        raise TimeoutError(f"no answer within {deadline_s:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the loop has closed: nobody waits for this answer any more
        pass
