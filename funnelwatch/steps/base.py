"""What every step kind implements, and the context steps share within one attempt.

A step kind is a module with a `Step` class: `name`, `section` (the key in the
check file it reads, or None for custom steps) and `async run(ctx, section)`.
A step signals "the funnel is broken here" by raising `StepFailed`, and
"funnelwatch could not check" by raising `MonitorProblem`; anything it learns
goes into `ctx.evidence[step_name]` for the report.

A kind whose work outlives one attempt (the follow-up step: a demo request
settled in later runs) also implements some of the optional `RunHooks`; the
runner calls them through `steps.settle_all`, `claim_for` and `release_for`
without knowing which kind they belong to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..results import Status

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

    from ..config import Check, Config
    from ..errors import MonitorProblem
    from ..inbox.base import Inbox
    from ..plan import Plan, PlanItem
    from ..results import CheckResult
    from ..runner import Runner
    from ..store import Store


class Step(Protocol):
    """One kind of step (ad, landing, form, asset, followup, custom)."""

    name: str

    async def run(self, ctx: "StepContext", section: Any) -> None: ...


class RunHooks(Protocol):
    """Optional hooks a step kind may implement; each is called only if the kind has it.

    - `settle`: once at the start of every run, before any check (results are
      recorded with kind `followup`);
    - `claim`: before a check that uses the kind opens a browser; a result
      means "do not run it, record this instead";
    - `release`: after that check's attempts, whatever their outcome;
    - `submits_once`: once the check submitted its form, a failed attempt is
      not retried (a demo request is never sent twice to a sales team).
    """

    submits_once: bool

    async def settle(self, runner: "Runner", plan: "Plan") -> list["CheckResult"]: ...

    def claim(self, store: "Store", item: "PlanItem", run_id: int,
              inbox_problem: "MonitorProblem | None") -> "CheckResult | None": ...

    def release(self, store: "Store", item: "PlanItem", run_id: int, submitted: bool) -> None: ...


@dataclass
class StepOutcome:
    """A step's verdict on an attempt that did not raise (e.g. `pending` after a demo request)."""

    status: Status
    latency_s: float | None = None
    reason: str | None = None


@dataclass
class StepContext:
    """Shared state of one attempt of one check on one viewport.

    Steps run in order on the same page: the ad step leaves the browser on the
    landing page, the landing step checks it, the form step submits from it.
    """

    check: "Check"
    config: "Config"
    page: "Page"
    context: "BrowserContext"
    viewport: str
    run_id: int
    token: str
    address: str
    timeout_s: float
    artifacts_dir: Any
    inbox: "Inbox | None" = None
    store: "Store | None" = None
    attempt: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)
    console_errors: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: list[dict[str, Any]] = field(default_factory=list)
    page_errors: list[dict[str, Any]] = field(default_factory=list)
    submitted_at: float | None = None
    no_retry: bool = False
    outcome: StepOutcome | None = None
    #: Locators of the fields a step filled with a secret: masked in every screenshot.
    secret_fields: list[Any] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def timeout_ms(self) -> float:
        return self.timeout_s * 1000

    def fill_placeholders(self, value: Any) -> Any:
        """Replace `{inbox}`, `{token}` and `{run_id}` in a configured value."""
        if not isinstance(value, str):
            return value
        return (
            value.replace("{inbox}", self.address)
            .replace("{token}", self.token)
            .replace("{run_id}", str(self.run_id))
        )
