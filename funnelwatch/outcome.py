"""What an exception out of a step means: the one boundary where library errors become ours.

`classify()` is a pure function — exception in, `Verdict` out — so its table
is tested without a browser (tests/test_outcome.py). Errors are told apart by
type (httpx's `map_httpcore_exceptions` is the model), never by their text:

| raised                                   | status | category                |
|------------------------------------------|--------|-------------------------|
| `StepFailed`                             | fail   | the step's own          |
| `MonitorProblem`                         | error  | the problem's own       |
| Playwright `TimeoutError`                | fail   | timeout (its action named) |
| `asyncio.TimeoutError` (the step's cap)  | fail   | timeout                 |
| anything, once the tab crashed           | fail   | connection              |
| anything, once the browser went away     | error  | browser                 |
| Playwright `TargetClosedError`           | error  | browser                 |
| anything else                            | error  | internal                |
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import MonitorProblem, StepFailed
from .results import Category, Status


@dataclass(frozen=True)
class Verdict:
    """How one attempt ended."""

    status: Status
    category: Category | None = None
    reason: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def classify(exc: BaseException, step: str | None, *, browser_alive: bool = True, tab_crashed: bool = False) -> Verdict:
    """The verdict on an attempt that raised `exc` during `step`."""
    if not browser_alive and not isinstance(exc, MonitorProblem):  # not the site's fault: never cry wolf
        return Verdict(Status.ERROR, Category.BROWSER, f"the browser closed unexpectedly during step '{step}'")
    if tab_crashed and not isinstance(exc, MonitorProblem):
        return Verdict(Status.FAIL, Category.CONNECTION,
                       f"the page crashed the browser tab (out of memory or a browser bug) during step '{step}'")
    if isinstance(exc, StepFailed):
        return Verdict(Status.FAIL, exc.category, exc.reason, dict(exc.evidence))
    if isinstance(exc, MonitorProblem):
        return Verdict(Status.ERROR, exc.category, exc.reason, dict(exc.evidence))
    playwright_error, playwright_timeout, target_closed = _playwright_errors()
    if isinstance(exc, playwright_timeout):
        return Verdict(Status.FAIL, Category.TIMEOUT, plain_timeout(first_line(exc), step))
    if isinstance(exc, asyncio.TimeoutError):
        return Verdict(Status.FAIL, Category.TIMEOUT, f"step '{step}' did not finish in time")
    if isinstance(exc, target_closed):
        return Verdict(Status.ERROR, Category.BROWSER, f"the browser closed unexpectedly during step '{step}'")
    name = type(exc).__name__
    return Verdict(Status.ERROR, Category.INTERNAL, f"funnelwatch could not finish step '{step}': {name}: {first_line(exc)}")


def _playwright_errors() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """Playwright's error types, imported only when an attempt failed (validate imports no Playwright)."""
    try:
        from playwright._impl._errors import TargetClosedError
        from playwright.async_api import Error, TimeoutError
    except ImportError:  # pragma: no cover - Playwright is a dependency
        return _Never, _Never, _Never
    return Error, TimeoutError, TargetClosedError


class _Never(Exception):
    """Matches nothing."""


def plain_timeout(text: str, step: str | None) -> str:
    """`Locator.click: Timeout 30000ms exceeded.` → `step 'form' timed out after 30s while trying to click`."""
    match = re.match(r"^\w+\.(\w+): Timeout (\d+)ms exceeded", text)
    if not match:
        return f"step '{step}' timed out: {text}"
    action = re.sub(r"(?<!^)([A-Z])", r" \1", match.group(1)).lower()
    return f"step '{step}' timed out after {int(match.group(2)) / 1000:g}s while trying to {action}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
