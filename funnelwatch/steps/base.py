"""What a step kind is: one class that declares everything the rest of funnelwatch needs.

A kind is a module with a `StepKind` subclass and one line in `steps/__init__.py`'s
`KINDS`. The class declares

- `name` — the key in the check file and the step label in results (`form`);
- `title` — how people read it, everywhere (report, JUnit, alerts, terminal);
- `model` — the pydantic model of its section (the check schema is built from
  the registry: `schema.check_model()`); `repeated` kinds take a list of items,
  labelled `name[i]` (custom `steps:`);
- its rules: `needs_inbox`, `needs_browser`, `one_viewport`, `submits_once`, `starts_page`,
  `needs_page`, `submits`, `check_rules`, `settings_problem`, `time_cap_s`;
- `run(ctx, section)` — the work on the page, once per attempt. A step signals
  "the funnel is broken here" by raising `StepFailed`, "funnelwatch could not
  check" by raising `MonitorProblem`; what it learns goes into
  `ctx.evidence[name]`;
- `evidence(value, kit)` — its sections on the funnel page;
- run hooks for work that outlives an attempt (`settle`, `claim`, `release`),
  which get the narrow `RunServices`, never the runner or the store.

Every hook has a no-op default here, so a kind writes only what it needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..redaction import Redactor
from ..results import Status

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from playwright.async_api import BrowserContext, Page

    from ..browser import ContextProfile
    from ..clock import Clock
    from ..config import Check, Config
    from ..errors import MonitorProblem
    from ..fields import Strict
    from ..inbox.base import Inbox
    from ..ledger import Ledger, Probe
    from ..plan import PlanItem
    from ..results import CheckResult
    from ..schema import Settings
    from ..shards import Shard


class EvidenceKit(Protocol):
    """The report's building blocks a kind composes its evidence view from (`report/evidence.py`)."""

    def facts(self, title: str, value: Any, skip: set[str] | None = None) -> list[Any]: ...

    def email(self, title: str, value: Any) -> list[Any]: ...

    def delivery(self, title: str, value: Any) -> list[Any]:
        """Where an email landed and receivers' verdicts (`placement.delivery_facts` keys) as badges and facts."""
        ...

    def table(self, title: str, rows: Any, columns: list[str]) -> list[Any]: ...

    def chain(self, value: Any) -> list[Any]: ...

    def match(self, value: Any) -> list[Any]: ...


@dataclass
class Waiting:
    """A long wait a step is in, for live progress: "HIPAA checklist: waiting for the delivery email, 1m 20s of 10m"."""

    what: str
    check: str | None = None  # None: a wait of the whole run ("3 demo requests waiting for a reply")
    viewport: str | None = None
    up_to_s: float | None = None
    since: float = field(default_factory=time.monotonic)


@dataclass
class RunServices:
    """What a kind's run hooks may use: the ledger, the inbox reader (and whose verdicts to trust), the clock, the run id.

    `checks` are the checks as configured now (a probe may outlive a renamed
    file); `inbox_problem` says why there is no inbox, when there is none;
    `scratch` is the run's folder for partial downloads (`scratch.py`).
    """

    run_id: int
    ledger: "Ledger"
    clock: "Clock"
    checks: list["Check"] = field(default_factory=list)
    inbox: "Inbox | None" = None
    inbox_problem: "MonitorProblem | None" = None
    scratch: "Path | None" = None
    #: The loaded config's secrets, for text a hook writes (a settled probe's reason).
    redactor: Redactor = field(default_factory=Redactor)
    #: Where a step says what it is waiting for (a terminal shows it live): `progress("waiting", Waiting(...))`.
    progress: Callable[[str, Any], None] = field(default=lambda event, payload: None)
    #: Whose `Authentication-Results` count (`inbox.trusted_authserv_id`; None: the top-most header).
    trusted_authserv_id: str | None = None

    #: This run's slice of the checks (`run --shard K/N`): it settles only the probes of its own checks.
    shard: "Shard | None" = None

    def owns(self, probe: "Probe") -> bool:
        """This run settles `probe`: unsharded runs settle every probe, a shard those of the checks it owns.

        The check as configured now decides (by its file); a probe whose check is gone goes by the file it was sent from.
        """
        if self.shard is None:
            return True
        for check in self.checks:
            if check.spec.name == probe.check_name:
                return self.shard.owns(check.file)
        return self.shard.owns(probe.file)

    def attach_check(self, result: "CheckResult") -> "CheckResult":
        """Tags and file from the check as configured now; the reason with the config's secrets hidden."""
        for check in self.checks:
            if check.spec.name == result.check:
                result.file, result.tags = check.file, list(check.spec.tags)
        result.reason = self.redactor.redact(result.reason)
        return result


class StepKind:
    """One kind of step; subclass it, set the class attributes, implement `run`."""

    name: ClassVar[str]
    title: ClassVar[str]
    model: ClassVar[type["Strict"]]
    #: The section is a list of items (`steps:`), each run as its own step `name[i]`.
    repeated: ClassVar[bool] = False
    #: The section is a list of items (`conversions:`) judged together as one step `name`.
    listed: ClassVar[bool] = False
    #: Once the check submitted its form, a failed attempt is not retried (a demo request is never sent twice).
    submits_once: ClassVar[bool] = False
    #: Run the check on its first viewport only (one demo request per window: no twin from mobile).
    one_viewport: ClassVar[bool] = False
    #: The kind settles later runs' work: its results are kept under its own history kind.
    settles: ClassVar[bool] = False
    #: How a result settled by a later run is named after its check (JUnit: "Demo [desktop] follow-up").
    settled_name: ClassVar[str] = ""
    #: The funnel page's heading over those settled results ("Sales follow-ups").
    settled_title: ClassVar[str] = "Settled later"

    # --- what the rest needs to know about a section ---------------------------

    def needs_inbox(self, section: Any) -> bool:
        """This section reads email (the run opens the inbox, and an inbox problem stops it here)."""
        return False

    def needs_browser(self, section: Any) -> bool:
        """This section works in the browser (a check whose sections all say no runs without one: an email probe)."""
        return True

    def starts_page(self, section: Any) -> bool:
        """This section opens the funnel's first page (an ad click, a landing URL)."""
        return False

    def needs_page(self, section: Any) -> bool:
        """This section works on a page an earlier section opened."""
        return False

    def submits(self, section: Any) -> bool:
        """This section can submit a form."""
        return False

    def check_rules(self, section: Any, others: list[tuple["StepKind", Any]]) -> str | None:
        """A rule across sections of one check (None: fine); `others` are the check's other sections."""
        return None

    def settings_problem(self, section: Any, settings: "Settings") -> str | None:
        """Why config/funnelwatch.yaml cannot serve this section (None: it can)."""
        return None

    def time_cap_s(self, section: Any, timeout_s: float) -> float:
        """A step may never hang a run: its own waits plus generous slack."""
        return timeout_s * 3 + 10

    def answered_globs(self, section: Any) -> list[str]:
        """Globs (on a request's path and query) of hits the browser answers itself, like the known analytics vendors'."""
        return []

    def sla_s(self, section: Any) -> float | None:
        """The answer time this section promises (follow-ups), for the report."""
        return None

    def sends(self, section: Any) -> str | None:
        """What this section sends into the world, in a few words (`run --list`); None: nothing."""
        return "submits a form" if self.submits(section) else None

    def waiting(self, section: Any, ledger: "Ledger | None", check_name: str, now: datetime) -> str | None:
        """Why this section would hold back its submission if the check ran `now` (`every`), for `run --list`;
        None: it would not. `ledger` is None when there is no history yet."""
        return None

    def summary(self, ledger: "Ledger", check_name: str, section: Any, now: Any) -> list[str]:
        """Lines `funnelwatch history NAME` prints under the results (a probe kind's response times)."""
        return []

    def channel(self, section: Any) -> tuple[str, str] | None:
        """(channel, SLA in words) for the report's "Response times by channel" table; None: not a channel."""
        return None

    # --- work --------------------------------------------------------------------

    async def run(self, ctx: "StepContext", section: Any) -> None:
        raise NotImplementedError

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        """The funnel page's sections for `evidence[name]`: by default its email, then its facts."""
        email = kit.email("The email as received", value.get("email")) if isinstance(value, dict) else []
        return email + kit.facts(self.title, value, {"email"} if email else None)

    # --- run hooks (work that outlives one attempt) -------------------------------

    async def settle(self, services: RunServices) -> list["CheckResult"]:
        """Once at the start of every run, before any check: settle what earlier runs left open."""
        return []

    def claim(self, services: RunServices, item: "PlanItem") -> "CheckResult | None":
        """Before a check using this kind opens a browser: a result means "record this instead of running"."""
        return None

    def release(self, services: RunServices, item: "PlanItem", submitted: bool) -> None:
        """After that check's attempts, whatever their outcome: free what `claim` held."""

    def before_submit(self, ctx: "StepContext", section: Any, at: float) -> None:
        """Right before the check's form goes out at `at` (`ctx.submitting()`): note what a killed run must not lose."""


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
    services: RunServices | None = None
    attempt: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)
    console_errors: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: list[dict[str, Any]] = field(default_factory=list)
    page_errors: list[dict[str, Any]] = field(default_factory=list)
    #: Every analytics and ad hit the browser attempted (`tag_hits.Seen`), from the context's first request on.
    tag_hits: list[Any] = field(default_factory=list)
    #: Every request of the context (capped): {"url", "at", "resource", "page"}, for `url:` tag globs.
    requests_seen: list[dict[str, Any]] = field(default_factory=list)
    submitted_at: float | None = None
    no_retry: bool = False
    outcome: StepOutcome | None = None
    crashed: bool = False
    #: The page's requests to its own origin still in flight (`page_quiet.OwnRequests`), once the page listens.
    own_requests: Any = None
    #: Locators of the fields a step filled with a secret: masked in every screenshot.
    secret_fields: list[Any] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)  # epoch seconds, to place page events beside `submitted_at`
    profile: "ContextProfile | None" = None  # the browser's user agent, locale and proxy, for plain HTTP downloads

    @property
    def inbox(self) -> "Inbox | None":
        return self.services.inbox if self.services else None

    @property
    def redactor(self) -> Redactor:
        """The loaded config's secrets: what a step keeps as evidence is redacted with it."""
        return self.config.redactor

    def waiting(self, what: str, up_to_s: float | None = None) -> None:
        """Tell a watching terminal this attempt now waits (for an email, a reply) up to `up_to_s`."""
        if self.services is not None and self.check is not None:
            self.services.progress("waiting", Waiting(what, self.check.spec.name, self.viewport, up_to_s))

    def submitting(self) -> float:
        """The form is about to go out: the time it does (for `submitted_at`), once each kind noted it (the ledger)."""
        submitted_at = time.time()
        for kind, section in self.check.spec.sections():
            kind.before_submit(self, section, submitted_at)
        return submitted_at

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
