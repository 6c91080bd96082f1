"""The `followup` step: submit a demo request, and settle it in later runs.

Follow-ups take minutes to days, longer than a run, so this step does not
wait: it records a *probe* in the SQLite ledger (`probes`) and the check's
result is `pending`. Every later run (also `--tag`/`--check` subsets) starts by
settling all open probes against the inbox:

- `pass` with `latency_s` when the first human reply arrived within `within`;
- `fail`/`late_followup` with the latency when it arrived after the SLA;
- `fail`/`missing_followup` as soon as a run finds the SLA passed with no human
  reply; the probe stays watched until `give_up` and a later reply is recorded
  as `late_followup` with its real latency;
- nothing while the window is still open (the check's own result said `pending`);
- `error`/`inbox` when the inbox cannot be read (the probe stays open).

A reply found in a junk folder still settles the probe with its latency (the
sales rep did answer: statistics count it), but the result fails as
`email_in_spam`, since the prospect would never see that answer; a reply the
receiving server distrusts (DKIM/DMARC fail, see `placement.py`) fails as
`email_auth_fail`.

Latency runs from the submission to the reply's arrival (`Received:`/`Date:`,
not the time funnelwatch looked). `every` spares the sales team: the runner
asks `claim_submission` (the `claim` hook) before a followup check opens a browser, and between
submissions the check only reports a `pending` "waiting" result (stored with
kind `waiting`, so the funnel's last real run stays its status).

Evidence, under `evidence["followup"]`:

    {"probe_id": 3, "state": "pending" | "passed" | "late" | "overdue" | "missing" | "waiting",
     "token": "fw…", "address": "qa+fw…@example.com",
     "submitted_at": ISO, "sla_deadline": ISO, "give_up_at": ISO, "within_s": 3600.0,
     "hours": "Mon-Fri 09:00-17:00 Europe/Berlin" | None,
     "reply": {"from", "subject", "received_at", "latency_s", "business_latency_s",
               "email": {"folder", "in_spam", "auth", "return_path", "list_unsubscribe", "from"}} | None,
     "ignored": [{"from", "subject", "received_at", "why"}],   # auto-replies, wrong subject/sender
     # waiting results only:
     "last_submitted_at": ISO, "next_submission_at": ISO, "every_s": 604800.0}

Time comes from the run's clock (`RunServices.clock`), so tests move time by
handing `funnelwatch.run` a clock; nothing here sleeps. The ledger itself
(states, exactly-once moves, statistics) is `funnelwatch/ledger.py`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ..clock import show
from ..errors import MonitorProblem
from ..fields import Duration
from ..followup_rules import FollowupRules, judge
from ..ledger import Ledger, Probe, ProbeStats, when
from ..results import Category, CheckResult, Status
from ..units import format_duration
from . import probes
from .base import EvidenceKit, RunServices, StepKind, StepOutcome
from .probes import ProbeKind, ProbeSection, Sorted, describe

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..plan import PlanItem
    from ..schema import Settings
    from .base import StepContext


class FollowupSection(ProbeSection):
    within: Duration
    subject_contains: str | None = None
    from_: str | None = Field(None, alias="from")


class Followup(StepKind):
    """The demo request's follow-up: submitted now, settled by later runs through the ledger."""

    name = "followup"
    title = "Sales follow-up"
    model = FollowupSection
    submits_once = True
    one_viewport = True
    settles = True
    settled_name = "follow-up"
    settled_title = "Sales follow-ups"

    def needs_inbox(self, section: FollowupSection) -> bool:
        return True

    def check_rules(self, section: FollowupSection, others: list[tuple[StepKind, Any]]) -> str | None:
        if not any(kind.submits(other) for kind, other in others):
            return "followup needs a form (or steps:) that submits the demo request"
        return None

    def settings_problem(self, section: FollowupSection, settings: "Settings") -> str | None:
        from ..inbox import BACKENDS, backend_of

        backend = backend_of(settings.inbox)
        if backend is not None and not backend.keeps_mail:
            keepers = " or ".join(name for name, b in BACKENDS.items() if b.keeps_mail)
            return (f"needs an inbox that keeps mail between runs ({keepers}): {backend.forgets}, "
                    "so replies that come later would be lost")
        return None

    def sla_s(self, section: FollowupSection) -> float | None:
        return section.within

    def waiting(self, section: FollowupSection, ledger: Ledger | None, check_name: str, now: datetime) -> str | None:
        return probes.held_back(ledger, check_name, section.every, now, "demo request")

    def channel(self, section: FollowupSection) -> tuple[str, str] | None:
        return "demo form", format_duration(section.within) + (" business time" if section.hours else "")

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        if not isinstance(value, dict):
            return kit.facts(self.title, value)
        reply = value.get("reply")
        delivery = kit.delivery("Where the follow-up landed, and whether receivers trust it",
                                reply.get("email")) if isinstance(reply, dict) else []
        received = value.get("email") or ({k: v for k, v in reply.items() if k != "email"} if isinstance(reply, dict) else None)
        email = delivery + kit.email("The follow-up email as received", received)
        rows = value.get("probes")
        table = kit.table("Follow-up probes", rows, ["submitted_at", "state", "reply_at", "latency_s"]) \
            if isinstance(rows, list) and rows else []
        skip = ({"email", "reply"} if email else set()) | ({"probes"} if table else set())
        return email + table + kit.facts(self.title, value, skip)

    def summary(self, ledger: Ledger, check_name: str, section: FollowupSection, now: datetime) -> list[str]:
        return probes.summary_lines(ledger, check_name, self, section, now, "demo request", "follow-up")

    async def settle(self, services: RunServices) -> list[CheckResult]:
        return await settle_open_probes(services)

    def claim(self, services: RunServices, item: "PlanItem") -> CheckResult | None:
        refused = claim_submission(services.ledger, item, services.run_id, services.clock.now(), services.inbox_problem)
        return services.attach_check(refused) if refused is not None else None

    def release(self, services: RunServices, item: "PlanItem", submitted: bool) -> None:
        services.ledger.release(item.check.spec.name, item.viewport, services.run_id, submitted)

    def before_submit(self, ctx: "StepContext", section: FollowupSection, at: float) -> None:
        """Note token and address on the reservation first: if this run dies after sending, a later run watches it."""
        if ctx.services is not None:
            submitted = datetime.fromtimestamp(at, timezone.utc)
            values = probe_values(section, submitted, ctx.token, ctx.address, ctx.check.file)
            ctx.services.ledger.arm(ctx.check.spec.name, ctx.viewport, ctx.run_id, values)

    async def run(self, ctx: "StepContext", section: FollowupSection) -> None:
        if ctx.services is None:
            raise MonitorProblem(Category.INTERNAL, "follow-up probes need the history database")
        now = ctx.services.clock.now()
        submitted = datetime.fromtimestamp(ctx.submitted_at, timezone.utc) if ctx.submitted_at else now
        values = probe_values(section, submitted, ctx.token, ctx.address, ctx.check.file)
        probe_id = ctx.services.ledger.record(ctx.check.spec.name, ctx.viewport, ctx.run_id, values)
        ctx.no_retry = True
        clock_kind = " business time" if section.hours else ""
        reason = (f"demo request submitted; waiting up to {format_duration(section.within)}{clock_kind} for a human "
                  f"follow-up (until {show(when(values['sla_deadline']))})")
        ctx.outcome = StepOutcome(Status.PENDING, None, reason)
        ctx.evidence["followup"] = {
            "probe_id": probe_id, "state": "pending", "token": ctx.token, "address": ctx.address,
            **{k: values[k] for k in ("submitted_at", "sla_deadline", "give_up_at", "within_s")},
            "hours": section.hours, "reply": None, "ignored": [],
            "submitted_at_source": "form" if ctx.submitted_at else "followup step",
        }


class FollowupProbes(ProbeKind):
    """Demo requests: the first message that passes `followup_rules.judge` is the follow-up."""

    def sort(self, probe: Probe, messages: list["ReceivedEmail"]) -> Sorted:
        rules = FollowupRules.from_dict(probe.rules)
        sorting = Sorted()
        for message in sorted(messages, key=lambda m: m.received_at):
            why = judge(message, rules)
            if why is None and sorting.reply is None:
                sorting.reply = message
            elif why is not None:
                sorting.ignored.append({**describe(message), "why": why})
        return sorting


PROBES = FollowupProbes()


def probe_values(section: FollowupSection, submitted: datetime, token: str, address: str, file: str) -> dict[str, Any]:
    """The ledger row of a demo request submitted at `submitted` (see `probes.probe_values`)."""
    rules = FollowupRules(section.subject_contains, section.from_).to_dict()
    return {**probes.probe_values(section, submitted, token, address, file, rules), "kind": "followup"}


def claim_submission(ledger: Ledger, item: "PlanItem", run_id: int, now: datetime,
                     inbox_problem: MonitorProblem | None = None) -> CheckResult | None:
    """Reserve this check's submission window before any browser opens (see `probes.claim_submission`)."""
    return probes.claim_submission(ledger, item, run_id, now, PROBES, inbox_problem)


async def settle_open_probes(services: RunServices) -> list[CheckResult]:
    """Settle every open demo request (whatever the run's selection); the runner records the results."""
    return await probes.settle_open_probes(services, PROBES)


def settle_probe(ledger: Ledger, probe: Probe, messages: list["ReceivedEmail"], now: datetime, run_id: int,
                 trusted: str | None = None) -> CheckResult | None:
    """Decide one demo request from the messages its address received; None when nothing changes.

    `trusted` is the receiving server's authserv-id (`inbox.trusted_authserv_id`), whose verdicts count.
    """
    return probes.settle_probe(ledger, probe, messages, now, run_id, PROBES, trusted)


def describe_stats(stats: ProbeStats) -> str | None:
    """One line for `funnelwatch history NAME`; None for a check without follow-up probes."""
    return probes.describe_stats(stats)
