"""The one exception type meant for users, and the step-level failure signal.

`FunnelwatchError` is raised anywhere funnelwatch cannot do its job for a
reason a user can fix; the CLI catches it once and exits 2 with its message.
`StepFailed` is how a step says "the funnel is broken here"; the runner turns
it into a `fail` result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import Category
from .text import one_line


class FunnelwatchError(Exception):
    """A problem the user can act on. The message is shown as-is, exit code 2."""

    exit_code = 2


@dataclass
class Diagnostic:
    """One problem found in a config file, located precisely."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        """One line, always: control characters from the user's value are shown escaped (`\\r`)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return one_line(text)


class ConfigError(FunnelwatchError):
    """Every problem found in one or more config files, reported in one pass."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


class StepFailed(Exception):
    """Raised by a step when the funnel itself is broken at that step."""

    def __init__(self, category: Category, reason: str, **evidence: Any):
        self.category = category
        self.reason = reason
        self.evidence = evidence
        super().__init__(reason)


class MonitorProblem(Exception):
    """Raised by a step when funnelwatch could not check (inbox down, ...): status error."""

    def __init__(self, category: Category, reason: str, **evidence: Any):
        self.category = category
        self.reason = reason
        self.evidence = evidence
        super().__init__(reason)
