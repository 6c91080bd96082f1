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
     "reply": {"from", "subject", "received_at", "latency_s", "business_latency_s"} | None,
     "ignored": [{"from", "subject", "received_at", "why"}],   # auto-replies, wrong subject/sender
     # waiting results only:
     "last_submitted_at": ISO, "next_submission_at": ISO, "every_s": 604800.0}

Time comes from the run's clock (`RunServices.clock`), so tests move time by
handing `funnelwatch.run` a clock; nothing here sleeps. The ledger itself
(states, exactly-once moves, statistics) is `funnelwatch/ledger.py`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ..business_hours import BusinessHours
from ..clock import iso, show, stamp
from ..errors import MonitorProblem
from ..fields import Duration, Strict, dates_as_text
from ..followup_rules import FollowupRules, judge
from ..ledger import Ledger, Probe, ProbeStats, when
from ..results import Category, CheckResult, Status
from ..units import format_duration
from .base import EvidenceKit, RunServices, StepKind, StepOutcome

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..plan import PlanItem
    from ..schema import Settings
    from .base import StepContext


class FollowupSection(Strict):
    within: Duration
    every: Duration = 7 * 86400.0
    subject_contains: str | None = None
    from_: str | None = Field(None, alias="from")
    give_up: Duration = 7 * 86400.0
    hours: str | None = None
    holidays: Annotated[list[str], BeforeValidator(dates_as_text)] = []

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, value: str | None) -> str | None:
        from ..business_hours import BusinessHours

        return BusinessHours.parse(value).text if value else value

    @field_validator("holidays")
    @classmethod
    def _holidays_parse(cls, value: list[str]) -> list[str]:
        from ..business_hours import BusinessHours

        BusinessHours.parse("Mon 00:00-01:00", value)
        return value

    @model_validator(mode="after")
    def _holidays_need_hours(self) -> "FollowupSection":
        if self.holidays and not self.hours:
            raise ValueError("holidays only apply with hours: (e.g. hours: Mon-Fri 09:00-17:00 Europe/Berlin)")
        return self


class Followup(StepKind):
    """The demo request's follow-up: submitted now, settled by later runs through the ledger."""

    name = "followup"
    title = "Sales follow-up"
    model = FollowupSection
    submits_once = True
    one_viewport = True
    settles = True
    settled_name = "follow-up"

    def needs_inbox(self, section: FollowupSection) -> bool:
        return True

    def check_rules(self, section: FollowupSection, others: list[tuple[StepKind, Any]]) -> str | None:
        if not any(kind.submits(other) for kind, other in others):
            return "followup needs a form (or steps:) that submits the demo request"
        return None

    def settings_problem(self, section: FollowupSection, settings: "Settings") -> str | None:
        if settings.inbox.backend == "smtp":
            return ("needs an inbox that keeps mail between runs (imap or maildir): the smtp receiver only listens "
                    "while funnelwatch runs, so replies that come later would be lost")
        return None

    def sla_s(self, section: FollowupSection) -> float | None:
        return section.within

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        if not isinstance(value, dict):
            return kit.facts(self.title, value)
        email = kit.email("The follow-up email as received", value.get("email"))
        probes = value.get("probes")
        table = kit.table("Follow-up probes", probes, ["submitted_at", "state", "reply_at", "latency_s"]) \
            if isinstance(probes, list) and probes else []
        skip = ({"email"} if email else set()) | ({"probes"} if table else set())
        return email + table + kit.facts(self.title, value, skip)

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


def probe_values(section: FollowupSection, submitted: datetime, token: str, address: str, file: str) -> dict[str, Any]:
    """The ledger row of a probe submitted at `submitted`: deadlines and the rules it is judged by.

    The rules travel with the probe, so a probe is settled by the SLA that was
    promised when it was sent, even if the check file changed since.
    """
    hours = business_hours(section)
    sla_deadline = hours.add(submitted, section.within) if hours else submitted + timedelta(seconds=section.within)
    give_up_at = max(sla_deadline, submitted + timedelta(seconds=section.give_up))
    rules = {**FollowupRules(section.subject_contains, section.from_).to_dict(),
             "hours": section.hours, "holidays": section.holidays, "every_s": section.every}
    return {
        "file": file, "token": token, "address": address, "submitted_at": stamp(submitted),
        "sla_deadline": stamp(sla_deadline), "give_up_at": stamp(give_up_at), "within_s": section.within,
        "rules": _json(rules),
    }


def business_hours(section: FollowupSection | dict[str, Any]) -> BusinessHours | None:
    text = section.get("hours") if isinstance(section, dict) else section.hours
    holidays = section.get("holidays", []) if isinstance(section, dict) else section.holidays
    return BusinessHours.parse(text, holidays) if text else None


# --- sparing the sales team: one submission per `every` ------------------------


def claim_submission(ledger: Ledger, item: "PlanItem", run_id: int, now: datetime,
                     inbox_problem: MonitorProblem | None = None) -> CheckResult | None:
    """Reserve this check's submission window before any browser opens.

    None: go ahead (a `reserved` row now holds the window; the followup step
    turns it into a probe, `release` frees it if nothing was sent).
    A CheckResult: report it instead of submitting — `pending` "waiting" when
    a probe went out less than `every` ago, `error` when the inbox cannot be
    read (a demo request nobody can watch would only bother the sales team).
    """
    spec = item.check.spec
    section: FollowupSection | None = spec.section("followup")
    if section is None:
        return None
    if inbox_problem is not None:
        return CheckResult(
            check=spec.name, file=item.check.file, status=Status.ERROR, step="followup", category=inbox_problem.category,
            reason=f"no demo request sent: its follow-up could not be watched — {inbox_problem.reason}",
            viewport=item.viewport, started_at=iso(now), tags=list(spec.tags),
        )
    holder = ledger.reserve(spec.name, item.viewport, run_id, now, section.every)
    if holder is None:
        return None
    last = holder.reserved_at
    next_at = last + timedelta(seconds=section.every)
    if holder.state == "reserved":
        why = "another run is submitting this demo request right now"
    else:
        why = f"the last demo request went out {format_duration((now - last).total_seconds())} ago"
    reason = (f"no demo request this run: {why}; every: {format_duration(section.every)} allows the next "
              f"from {show(next_at)}")
    if holder.state == "pending" and holder.sla_deadline is not None:
        reason += f"; its follow-up is still awaited (SLA until {show(holder.sla_deadline)})"
    return CheckResult(
        check=spec.name, file=item.check.file, status=Status.PENDING, step="followup", reason=reason,
        viewport=item.viewport, started_at=iso(now), tags=list(spec.tags),
        evidence={"followup": {"state": "waiting", "probe_id": holder.id, "last_state": holder.state,
                               "last_submitted_at": stamp(holder.submitted_at or holder.reserved_at),
                               "next_submission_at": stamp(next_at), "every_s": section.every}},
    )


# --- settling -----------------------------------------------------------------------


async def settle_open_probes(services: RunServices) -> list[CheckResult]:
    """Settle every open probe (whatever the run's selection); the runner records the results."""
    probes = services.ledger.open_probes()
    if not probes:
        return []
    now = services.clock.now()
    results: list[CheckResult] = []
    for probe in probes:
        problem = services.inbox_problem
        messages: list[ReceivedEmail] = []
        if services.inbox is None:
            problem = problem or MonitorProblem(Category.INBOX, "no inbox is open")
        else:
            try:
                messages = await asyncio.to_thread(services.inbox.messages_for, probe.token)
            except MonitorProblem as exc:
                problem = exc
            except Exception as exc:
                problem = MonitorProblem(Category.INBOX, f"reading the inbox failed: {exc}")
        if problem is not None:
            results.append(services.attach_check(_unchecked(probe, problem, now)))
            continue
        settled = settle_probe(services.ledger, probe, messages, now, services.run_id)
        if settled is not None:
            results.append(services.attach_check(settled))
    return results


def settle_probe(ledger: Ledger, probe: Probe, messages: list["ReceivedEmail"], now: datetime, run_id: int) -> CheckResult | None:
    """Decide one probe from the messages its address received; None when nothing changes.

    Every state change is a guarded update (`where state = <what we read>`),
    so a probe that an overlapping run settled first is left alone here.
    """
    rules = FollowupRules.from_dict(probe.rules)
    hours = business_hours(probe.rules)
    ignored: list[dict[str, Any]] = []
    reply: ReceivedEmail | None = None
    for message in sorted(messages, key=lambda m: m.received_at):
        why = judge(message, rules)
        if why is None and reply is None:
            reply = message
        elif why is not None:
            ignored.append({**_describe(message), "why": why})
    evidence = {
        "probe_id": probe.id, "token": probe.token, "address": probe.address,
        "submitted_at": stamp(probe.submitted_at), "sla_deadline": stamp(probe.sla_deadline),
        "give_up_at": stamp(probe.give_up_at), "within_s": probe.within_s, "hours": probe.rules.get("hours"),
        "reply": None, "ignored": ignored,
    }
    values: dict[str, Any] = {"settled_at": stamp(now), "settled_run_id": run_id}
    if reply is not None:
        latency = _latency(probe.submitted_at, reply.received_at)
        business = hours.seconds_between(probe.submitted_at, reply.received_at) if hours else None
        on_time = reply.received_at <= probe.sla_deadline
        state = "passed" if on_time else "late"
        evidence["reply"] = {**_describe(reply), "latency_s": round(latency, 3), "business_latency_s": business}
        values.update(state=state, reply_at=stamp(reply.received_at), latency_s=latency, business_latency_s=business,
                      evidence=_json({"reply": evidence["reply"], "ignored": ignored}))
        if not ledger.move(probe.id, probe.state, values):
            return None
        evidence["state"] = state
        if on_time:
            return _result(probe, Status.PASS, None, None, latency, evidence, now)
        late_by = _spent(probe, hours, latency, business)
        reason = (f"the first human follow-up came after {late_by} (from {reply.sender or 'an unknown sender'}); "
                  f"the SLA is {format_duration(probe.within_s)}{' business time' if hours else ''}")
        return _result(probe, Status.FAIL, Category.LATE_FOLLOWUP, reason, latency, evidence, now)
    if now >= probe.give_up_at:
        values.update(state="missing", evidence=_json({"ignored": ignored}))
        if not ledger.move(probe.id, probe.state, values):
            return None
        if probe.state == "overdue":
            return None  # missing_followup was reported at the breach; giving up changes nothing for people
        evidence["state"] = "missing"
        return _result(probe, Status.FAIL, Category.MISSING_FOLLOWUP, _missing_reason(probe, ignored, gave_up=True), None, evidence, now)
    if now >= probe.sla_deadline and probe.state == "pending":
        values = {"state": "overdue", "overdue_at": stamp(now), "settled_run_id": run_id, "evidence": _json({"ignored": ignored})}
        if not ledger.move(probe.id, "pending", values):
            return None
        evidence["state"] = "overdue"
        return _result(probe, Status.FAIL, Category.MISSING_FOLLOWUP, _missing_reason(probe, ignored), None, evidence, now)
    return None


def _latency(submitted: datetime, reply_at: datetime) -> float:
    """Seconds from submission to reply; email dates have whole seconds, so compare like with like."""
    if reply_at.microsecond == 0:
        submitted = submitted.replace(microsecond=0)
    return max(0.0, (reply_at - submitted).total_seconds())


def _missing_reason(probe: Probe, ignored: list[dict[str, Any]], gave_up: bool = False) -> str:
    reason = (f"no human follow-up to the demo request of {show(probe.submitted_at)} within "
              f"{format_duration(probe.within_s)}{' business time' if probe.rules.get('hours') else ''}")
    if ignored:
        kinds = sorted({i["why"] for i in ignored})
        reason += f"; ignored {len(ignored)} message{'s' if len(ignored) > 1 else ''}: {', '.join(kinds)}"
    reason += "; gave up watching" if gave_up else f"; still watching for a late reply until {show(probe.give_up_at)}"
    return reason


def _spent(probe: Probe, hours: BusinessHours | None, latency: float, business: float | None) -> str:
    text = format_duration(latency)
    return f"{text} ({format_duration(business)} in business hours)" if hours and business is not None else text


def _unchecked(probe: Probe, problem: MonitorProblem, now: datetime) -> CheckResult:
    reason = f"could not check the follow-up to the demo request of {show(probe.submitted_at)}: {problem.reason}"
    return _result(probe, Status.ERROR, problem.category, reason, None,
                   {"probe_id": probe.id, "state": probe.state, "token": probe.token}, now)


def _result(probe: Probe, status: Status, category: Category | None, reason: str | None, latency: float | None,
            evidence: dict[str, Any], now: datetime) -> CheckResult:
    return CheckResult(
        check=probe.check_name, file=probe.file, status=status, step="followup", category=category,
        reason=reason or None, viewport=probe.viewport, latency_s=latency, token=probe.token,
        evidence={"followup": evidence}, started_at=iso(now),
    )


def _describe(message: "ReceivedEmail") -> dict[str, Any]:
    return {"from": message.sender[:200], "subject": message.subject[:200], "received_at": stamp(message.received_at)}


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def describe_stats(stats: ProbeStats) -> str | None:
    """One line for `funnelwatch history NAME`; None for a check without follow-up probes."""
    if not stats.probes and not stats.open_probes:
        return None
    parts = [f"follow-up over the last {stats.probes} demo request{'s' if stats.probes != 1 else ''}:"]
    if stats.probes:
        last = format_duration(stats.last_latency_s) if stats.last_latency_s is not None else "no reply"
        parts.append(f"last {last}, median {format_duration(stats.median_latency_s)}, p90 {format_duration(stats.p90_latency_s)},")
        parts.append(f"{stats.within_sla_share or 0:.0%} within SLA")
        if stats.missing:
            parts.append(f"({stats.missing} without a reply)")
        if stats.business_median_latency_s is not None:
            parts.append(f"; business time: median {format_duration(stats.business_median_latency_s)}, "
                         f"p90 {format_duration(stats.business_p90_latency_s)}")
    if stats.open_probes:
        parts.append(f"; {stats.open_probes} awaiting a reply")
    return " ".join(parts).replace(" ;", ";")
