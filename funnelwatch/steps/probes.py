"""What every kind that is answered later shares: the `every` window, the probe row, settling.

A demo request's follow-up (`followup`) and a published inbox's reply
(`contact`) are both *probes*: sent now, answered hours or days later, kept
in the pending ledger (`funnelwatch/ledger.py`) and settled by later runs.
This module is the machinery; a kind supplies a `ProbeKind` that says how it
speaks (its step, categories, nouns) and which message answers its probe.

- `claim_submission` reserves the `every` window in one transaction before
  anything is sent (overlapping runs: exactly one sends);
- `probe_values` is the ledger row: deadlines and the rules the probe is judged
  by (they travel with it, so a later edit of the check changes nothing);
- `settle_open_probes` / `settle_probe` decide each open probe from its
  messages: `passed` / `late` / `overdue` → `missing`, or `bounced` at once.

A reply found in a junk folder still settles the probe with its latency (the
person did answer: statistics count it), but the result fails as
`email_in_spam`, since the one who asked would never see that answer; a reply
the receiving server distrusts (DKIM/DMARC fail, see `placement.py`) fails as
`email_auth_fail`. The reply's delivery facts are kept in its evidence.

    probes = ProbeKind(step="followup", ...)
    results = await settle_open_probes(services, probes)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, field_validator, model_validator

from ..business_hours import BusinessHours
from ..clock import iso, show, stamp
from ..errors import MonitorProblem
from ..fields import Duration, Strict, dates_as_text
from ..ledger import Ledger, Probe, ProbeStats
from ..placement import delivery_facts
from ..placement import judge as judge_placement
from ..results import Category, CheckResult, Status
from ..threads import in_daemon_thread
from ..units import format_duration
from .base import Waiting

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..plan import PlanItem
    from .base import RunServices


class ProbeSection(Strict):
    """The keys every probe section shares: its SLA (`within`, business `hours`, `holidays`), `every`, `give_up`."""

    within: Duration
    every: Duration = 7 * 86400.0
    give_up: Duration = 7 * 86400.0
    hours: str | None = None
    holidays: Annotated[list[str], BeforeValidator(dates_as_text)] = []

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, value: str | None) -> str | None:
        return BusinessHours.parse(value).text if value else value

    @field_validator("holidays")
    @classmethod
    def _holidays_parse(cls, value: list[str]) -> list[str]:
        BusinessHours.parse("Mon 00:00-01:00", value)
        return value

    @model_validator(mode="after")
    def _holidays_need_hours(self) -> "ProbeSection":
        if self.holidays and not self.hours:
            raise ValueError("holidays only apply with hours: (e.g. hours: Mon-Fri 09:00-17:00 Europe/Berlin)")
        return self


@dataclass
class Sorted:
    """A probe's messages sorted out: the answer (if any), a bounce (if any), and why the rest do not count."""

    reply: "ReceivedEmail | None" = None
    bounce: dict[str, Any] | None = None
    ignored: list[dict[str, Any]] = field(default_factory=list)
    automatic: "ReceivedEmail | None" = None


class ProbeKind:
    """How one kind's probes speak and which message answers them; subclass and override `sort`."""

    step = "followup"
    late = Category.LATE_FOLLOWUP
    missing = Category.MISSING_FOLLOWUP
    #: What went out, and what answers it, for people: "demo request" / "follow-up".
    sent = "demo request"
    answer = "follow-up"
    #: Who would not see an answer that landed in Junk.
    reader = "the prospect"
    #: Reasons said when no probe is sent this run.
    not_sent = "no demo request"
    sending = "submitting"

    def sort(self, probe: Probe, messages: list["ReceivedEmail"]) -> Sorted:
        raise NotImplementedError

    def describe(self, message: "ReceivedEmail") -> dict[str, Any]:
        """A message in the evidence: sender, subject, arrival."""
        return describe(message)

    def sla_text(self, probe: Probe) -> str:
        return probe.rules.get("sla_text") or (
            f"{format_duration(probe.within_s)}{' business time' if probe.rules.get('hours') else ''}")

    def late_reason(self, probe: Probe, reply: "ReceivedEmail", spent: str) -> str:
        return (f"the first human {self.answer} came after {spent} (from {reply.sender or 'an unknown sender'}); "
                f"the SLA is {self.sla_text(probe)}")

    def missing_reason(self, probe: Probe, ignored: list[dict[str, Any]], gave_up: bool) -> str:
        reason = f"no human {self.answer} to the {self.sent} of {show(probe.submitted_at)} within {self.sla_text(probe)}"
        return reason + ignored_and_watching(probe, ignored, gave_up)

    def placement_reason(self, probe: Probe, reply: "ReceivedEmail", landed: str, spent: str, on_time: bool) -> str:
        """A reply in Junk (or distrusted): `the first human follow-up arrived in Junk, not INBOX: the prospect …`."""
        when_ = "on time" if on_time else f"late (the SLA is {self.sla_text(probe)})"
        return (f"{landed}: {self.reader} would not see it (it came after {spent}, {when_}, "
                f"from {reply.sender or 'an unknown sender'})")

    def bounced_reason(self, probe: Probe, bounce: dict[str, Any]) -> str:
        return f"the {self.sent} bounced: {bounce.get('status', '')} {bounce.get('diagnostic', '')}".strip()

    def evidence(self, probe: Probe) -> dict[str, Any]:
        """What every result of this probe shows."""
        return {
            "probe_id": probe.id, "token": probe.token, "address": probe.address,
            "submitted_at": stamp(probe.submitted_at), "sla_deadline": stamp(probe.sla_deadline),
            "give_up_at": stamp(probe.give_up_at), "within_s": probe.within_s, "hours": probe.rules.get("hours"),
            "reply": None, "ignored": [],
        }


def business_hours(section: Any) -> BusinessHours | None:
    """The section's (or a probe's stored rules') business hours, or None for wall-clock SLAs."""
    text = section.get("hours") if isinstance(section, dict) else section.hours
    holidays = section.get("holidays", []) if isinstance(section, dict) else section.holidays
    return BusinessHours.parse(text, holidays) if text else None


def probe_values(section: Any, submitted: datetime, token: str, address: str, file: str,
                 rules: dict[str, Any], business_s: float | None = None) -> dict[str, Any]:
    """The ledger row of a probe sent at `submitted`: deadlines, and the rules it is judged by.

    `business_s` is the SLA in open seconds when it differs from `within`
    (a contact's `1d` with `hours:` is one business day, not 24 open hours).
    """
    hours = business_hours(section)
    if hours:
        sla_deadline = hours.add(submitted, business_s if business_s is not None else section.within)
    else:
        sla_deadline = submitted + timedelta(seconds=section.within)
    give_up_at = max(sla_deadline, submitted + timedelta(seconds=section.give_up))
    rules = {**rules, "hours": section.hours, "holidays": section.holidays, "every_s": section.every}
    return {
        "file": file, "token": token, "address": address, "submitted_at": stamp(submitted),
        "sla_deadline": stamp(sla_deadline), "give_up_at": stamp(give_up_at), "within_s": section.within,
        "rules": as_json(rules),
    }


# --- sparing the people who answer: one probe per `every` ------------------------------


def claim_submission(ledger: Ledger, item: "PlanItem", run_id: int, now: datetime, probes: ProbeKind,
                     inbox_problem: MonitorProblem | None = None) -> CheckResult | None:
    """Reserve this check's window before anything is sent (one BEGIN IMMEDIATE transaction).

    None: go ahead (a `reserved` row now holds the window; the step turns it
    into a probe, `release` frees it if nothing was sent). A CheckResult:
    report it instead — `pending` "waiting" when a probe went out less than
    `every` ago, `error` when the inbox cannot be read (a probe nobody can
    watch would only bother the people who answer it).
    """
    spec = item.check.spec
    section = spec.section(probes.step)
    if section is None:
        return None
    if inbox_problem is not None:
        return CheckResult(
            check=spec.name, file=item.check.file, status=Status.ERROR, step=probes.step, category=inbox_problem.category,
            reason=f"{probes.not_sent} sent: its {probes.answer} could not be watched — {inbox_problem.reason}",
            viewport=item.viewport, started_at=iso(now), tags=list(spec.tags),
        )
    holder = ledger.reserve(spec.name, item.viewport, run_id, now, section.every)
    if holder is None:
        return None
    last = holder.reserved_at
    next_at = last + timedelta(seconds=section.every)
    if holder.state == "reserved":
        why = f"another run is {probes.sending} this {probes.sent} right now"
    else:
        why = f"the last {probes.sent} went out {format_duration((now - last).total_seconds())} ago"
    reason = (f"{probes.not_sent} this run: {why}; every: {format_duration(section.every)} allows the next "
              f"from {show(next_at)}")
    if holder.state == "pending" and holder.sla_deadline is not None:
        reason += f"; its {probes.answer} is still awaited (SLA until {show(holder.sla_deadline)})"
    return CheckResult(
        check=spec.name, file=item.check.file, status=Status.PENDING, step=probes.step, reason=reason,
        viewport=item.viewport, started_at=iso(now), tags=list(spec.tags),
        evidence={probes.step: {"state": "waiting", "probe_id": holder.id, "last_state": holder.state,
                                "last_submitted_at": stamp(holder.submitted_at or holder.reserved_at),
                                "next_submission_at": stamp(next_at), "every_s": section.every}},
    )


# --- settling ---------------------------------------------------------------------------


def held_back(ledger: Ledger | None, check_name: str, every_s: float, now: datetime, sent: str) -> str | None:
    """For `run --list`: as `claim_submission` would decide at `now`, without reserving — why no probe would go out."""
    holder = ledger.holder(check_name) if ledger is not None else None
    if holder is None:
        return None
    next_at = holder.reserved_at + timedelta(seconds=every_s)
    if next_at <= now:
        return None
    return (f"waiting on every: the last {sent} went out {show(holder.submitted_at or holder.reserved_at)}, "
            f"every: {format_duration(every_s)} allows the next from {show(next_at)}")


async def settle_open_probes(services: "RunServices", probes: ProbeKind) -> list[CheckResult]:
    """Settle every open probe of this kind (whatever the run's selection, but only its shard's); the runner records them.

    Each result passes `services.attach_check`, which also hides the config's secrets in its reason.
    """
    kinds = (probes.step,)
    open_now = [probe for probe in services.ledger.open_probes(kinds) if services.owns(probe)]  # a shard settles its own
    if not open_now:
        return []
    count = len(open_now)
    services.progress("waiting", Waiting(f"{count} {probes.sent}{'s' if count != 1 else ''} waiting for a reply"))
    now = services.clock.now()
    results: list[CheckResult] = []
    for probe in open_now:
        problem = services.inbox_problem
        messages: list[ReceivedEmail] = []
        if services.inbox is None:
            problem = problem or MonitorProblem(Category.INBOX, "no inbox is open")
        else:
            try:
                messages = await in_daemon_thread(messages_about, services.inbox, probe)
            except MonitorProblem as exc:
                problem = exc
            except Exception as exc:
                problem = MonitorProblem(Category.INBOX, f"reading the inbox failed: {exc}")
        if problem is not None:
            results.append(services.attach_check(_unchecked(probe, problem, now, probes)))
            continue
        settled = settle_probe(services.ledger, probe, messages, now, services.run_id, probes, services.trusted_authserv_id)
        if settled is not None:
            results.append(services.attach_check(settled))
    return results


def messages_about(inbox: Any, probe: Probe) -> list["ReceivedEmail"]:
    """The messages addressed to the probe's token, plus (for a probe email) those that name its Message-ID."""
    found = list(inbox.messages_for(probe.token, probe.submitted_at))  # its mail came after it went out
    referencing = getattr(inbox, "messages_referencing", None)
    if probe.message_id and referencing is not None:
        seen = {m.key for m in found if m.key}
        found += [m for m in referencing(probe.message_id, probe.submitted_at) if not m.key or m.key not in seen]
    return found


def settle_probe(ledger: Ledger, probe: Probe, messages: list["ReceivedEmail"], now: datetime, run_id: int,
                 probes: ProbeKind, trusted: str | None = None) -> CheckResult | None:
    """Decide one probe from its messages; None when nothing changes.

    `trusted` is the receiving server's authserv-id: only its `Authentication-Results` count.

    Every state change is a guarded update (`where state = <what we read>`),
    so a probe that an overlapping run settled first is left alone here.
    """
    hours = business_hours(probe.rules)
    sorting = probes.sort(probe, messages)
    ignored = sorting.ignored
    evidence = probes.evidence(probe)
    evidence["ignored"] = ignored
    if sorting.automatic is not None:
        evidence["auto_reply"] = probes.describe(sorting.automatic)
    values: dict[str, Any] = {"settled_at": stamp(now), "settled_run_id": run_id}
    reply = sorting.reply
    if sorting.bounce is not None and reply is None:
        values.update(state="bounced", evidence=as_json({"bounce": sorting.bounce, "ignored": ignored}))
        if not ledger.move(probe.id, probe.state, values):
            return None
        evidence.update(state="bounced", bounce=sorting.bounce)
        return _result(probe, Status.FAIL, Category.BOUNCED, probes.bounced_reason(probe, sorting.bounce), None, evidence, now, probes)
    if reply is not None:
        latency = latency_s(probe.submitted_at, reply.received_at)
        business = hours.seconds_between(probe.submitted_at, reply.received_at) if hours else None
        on_time = reply.received_at <= probe.sla_deadline
        state = "passed" if on_time else "late"
        delivery = {"from": reply.sender[:200], **delivery_facts(reply, trusted)}
        evidence["reply"] = {**probes.describe(reply), **_as_read(reply), "latency_s": round(latency, 3),
                             "business_latency_s": business, "email": delivery}
        values.update(state=state, reply_at=stamp(reply.received_at), latency_s=latency, business_latency_s=business,
                      evidence=as_json({"reply": {**describe(reply), "latency_s": round(latency, 3),
                                                  "business_latency_s": business, "email": delivery}, "ignored": ignored}))
        if not ledger.move(probe.id, probe.state, values):
            return None
        evidence["state"] = state
        spent = format_duration(latency)
        if hours and business is not None:
            spent += f" ({format_duration(business)} in business hours)"
        landed = judge_placement(reply, trusted, f"the first human {probes.answer}")
        if landed is not None:
            reason = probes.placement_reason(probe, reply, landed[1], spent, on_time)
            return _result(probe, Status.FAIL, landed[0], reason, latency, evidence, now, probes)
        if on_time:
            return _result(probe, Status.PASS, None, None, latency, evidence, now, probes)
        return _result(probe, Status.FAIL, probes.late, probes.late_reason(probe, reply, spent), latency, evidence, now, probes)
    if now >= probe.give_up_at:
        values.update(state="missing", evidence=as_json({"ignored": ignored}))
        if not ledger.move(probe.id, probe.state, values):
            return None
        if probe.state == "overdue":
            return None  # the miss was reported at the breach; giving up changes nothing for people
        evidence["state"] = "missing"
        return _result(probe, Status.FAIL, probes.missing, probes.missing_reason(probe, ignored, True), None, evidence, now, probes)
    if now >= probe.sla_deadline and probe.state == "pending":
        values = {"state": "overdue", "overdue_at": stamp(now), "settled_run_id": run_id, "evidence": as_json({"ignored": ignored})}
        if not ledger.move(probe.id, "pending", values):
            return None
        evidence["state"] = "overdue"
        return _result(probe, Status.FAIL, probes.missing, probes.missing_reason(probe, ignored, False), None, evidence, now, probes)
    return None


def latency_s(submitted: datetime, reply_at: datetime) -> float:
    """Seconds from sending to the reply; email dates have whole seconds, so compare like with like."""
    if reply_at.microsecond == 0:
        submitted = submitted.replace(microsecond=0)
    return max(0.0, (reply_at - submitted).total_seconds())


def ignored_and_watching(probe: Probe, ignored: list[dict[str, Any]], gave_up: bool) -> str:
    text = ""
    if ignored:
        kinds = sorted({i["why"] for i in ignored})
        text += f"; ignored {len(ignored)} message{'s' if len(ignored) > 1 else ''}: {', '.join(kinds)}"
    return text + ("; gave up watching" if gave_up else f"; still watching for a late reply until {show(probe.give_up_at)}")


def _unchecked(probe: Probe, problem: MonitorProblem, now: datetime, probes: ProbeKind) -> CheckResult:
    reason = f"could not check the {probes.answer} to the {probes.sent} of {show(probe.submitted_at)}: {problem.reason}"
    return _result(probe, Status.ERROR, problem.category, reason, None,
                   {"probe_id": probe.id, "state": probe.state, "token": probe.token}, now, probes)


def _result(probe: Probe, status: Status, category: Category | None, reason: str | None, latency: float | None,
            evidence: dict[str, Any], now: datetime, probes: ProbeKind) -> CheckResult:
    return CheckResult(
        check=probe.check_name, file=probe.file, status=status, step=probes.step, category=category,
        reason=reason or None, viewport=probe.viewport, latency_s=latency, token=probe.token,
        evidence={probes.step: evidence}, started_at=iso(now),
    )


def describe(message: "ReceivedEmail") -> dict[str, Any]:
    return {"from": message.sender[:200], "subject": message.subject[:200], "received_at": stamp(message.received_at)}


#: How much of a reply's text and HTML the result keeps, to show it as received (the ledger keeps only its facts).
MAX_REPLY_CHARS = 100_000


def _as_read(message: "ReceivedEmail") -> dict[str, str]:
    """The reply's text and HTML, so the funnel page shows what the prospect got, as the asset emails are shown."""
    from ..email_facts import DeliveryEmail

    try:
        read = DeliveryEmail.of(message)
    except Exception:  # noqa: BLE001 - a body the parser chokes on is left out, the reply still counts
        return {}
    return {key: value[:MAX_REPLY_CHARS] for key, value in (("text", read.text), ("html", read.html)) if value}


def as_json(value: Any) -> str:
    return json.dumps(value, default=str)


def describe_stats(stats: ProbeStats, sent: str = "demo request", answer: str = "follow-up") -> str | None:
    """One line for `funnelwatch history NAME`; None for a check without probes."""
    if not stats.probes and not stats.open_probes:
        return None
    parts = [f"{answer} over the last {stats.probes} {sent}{'s' if stats.probes != 1 else ''}:"]
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


# --- response times by channel (the report's table and `funnelwatch history`) --------------

CHANNEL_WINDOW_DAYS = 30
#: At most this many probes count in the channel window (a ceiling, not a sample).
CHANNEL_PROBES = 100_000


@dataclass
class ChannelFigures:
    """One channel (a demo form, a published address) over the last 30 days: what the index table shows."""

    check_name: str
    channel: str
    sla_s: float | None
    sla_text: str
    stats: ProbeStats
    #: (submitted_at, latency_s or None, state), oldest first: the sparkline.
    points: list[tuple[str, float | None, str]] = field(default_factory=list)

    @property
    def late_now(self) -> bool:
        """The channel's newest settled probe missed its SLA (a red row)."""
        return self.stats.last_state not in (None, "passed")

    @property
    def last_text(self) -> str:
        if self.stats.last_state is None:
            return "—"
        if self.stats.last_latency_s is not None:
            return format_duration(self.stats.last_latency_s)
        return "bounced" if self.stats.last_state == "bounced" else "no reply"

    def line(self) -> str:
        """The same figures in one line, for `funnelwatch history NAME`."""
        s = self.stats
        share = f"{s.within_sla_share:.0%}" if s.within_sla_share is not None else "—"
        return (f"response time over {CHANNEL_WINDOW_DAYS} days ({self.channel}): SLA {self.sla_text}, last {self.last_text}, "
                f"median {format_duration(s.median_latency_s)}, p90 {format_duration(s.p90_latency_s)}, "
                f"{share} within SLA of {s.probes} settled")


def channel_figures(ledger: Ledger, check_name: str, spec: Any, now: datetime,
                    stats: ProbeStats | None = None) -> ChannelFigures | None:
    """The figures of the check's channel (its first kind that is one), or None when it has none.

    `stats`: the ledger's figures over the window, when the caller read them already (the report does).
    """
    for kind, section in spec.sections():
        found = kind.channel(section)
        if found is None:
            continue
        since = now - timedelta(days=CHANNEL_WINDOW_DAYS)
        stats = stats or ledger.stats(check_name, limit=CHANNEL_PROBES, since=since)
        return ChannelFigures(check_name, found[0], kind.sla_s(section), found[1], stats, ledger.latencies(check_name, since))
    return None


def summary_lines(ledger: Ledger, check_name: str, kind: Any, section: Any, now: datetime, sent: str, answer: str) -> list[str]:
    """`funnelwatch history NAME`: the last-30-probes line, then the channel table's figures."""
    lines = [line] if (line := describe_stats(ledger.stats(check_name), sent, answer)) else []
    found = kind.channel(section)
    if found is not None and lines:
        since = now - timedelta(days=CHANNEL_WINDOW_DAYS)
        figures = ChannelFigures(check_name, found[0], kind.sla_s(section), found[1],
                                 ledger.stats(check_name, limit=100_000, since=since))
        lines.append(figures.line())
    return lines
