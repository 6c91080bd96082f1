"""The `contact` step: do the published inboxes (sales@, support@, info@) answer a prospect in time?

A contact check sends a real question (`subject`, `body`) to `email` through
the outbox (`outbox:` in config/funnelwatch.yaml), from this probe's own
address (`outbox.from` with `{token}`) and with a unique `Message-ID`, and
times the first human reply in the same pending ledger as demo follow-ups
(`steps/probes.py`): `pending` → `pass` (latency) / `late_reply` /
`missing_reply`, or `bounced` at once when a delivery status notification
(RFC 3464) for the probe comes back.

- A reply is a message to the probe's token address, or one whose
  `In-Reply-To`/`References` names the probe's `Message-ID`. Auto-replies
  (RFC 3834 `Auto-Submitted`, `X-Autoreply`, `Precedence`) are ignored with
  the reason, as for follow-ups; the first one is kept to show.
- A reply in a junk folder (both searches look there) keeps its latency but
  fails as `email_in_spam`; one the receiving server distrusts as
  `email_auth_fail` (`steps/probes.py`, `placement.py`).
- `within` defaults to 1d. With `hours:` a whole number of days is that many
  business days (`1d` = one opening day), otherwise open time.
- `every` (default 7d) is reserved in one transaction before anything is
  sent, so overlapping runs never ask twice; a send the SMTP server refuses
  is an `error` (`outbox`), never the inbox's fault.

Evidence, under `evidence["contact"]`: the followup shape plus
`channel` (the address probed), `question` (the email as sent), `auto_reply`
and `reply` (as received, rendered like the asset emails), `bounce`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from ..clock import show
from ..dsn import delivery_status, is_report
from ..email_facts import DeliveryEmail
from ..errors import MonitorProblem
from ..fields import Duration
from ..followup_rules import automation_marker
from ..ledger import Ledger, Probe, when
from ..results import Category, CheckResult, Status
from ..units import format_duration
from . import probes
from .base import EvidenceKit, RunServices, StepKind, StepOutcome
from .probes import ProbeKind, ProbeSection, Sorted

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..plan import PlanItem
    from ..schema import Settings
    from .base import StepContext

DAY_S = 86400.0


class ContactSection(ProbeSection):
    email: str
    subject: str
    body: str
    within: Duration = DAY_S

    @field_validator("email")
    @classmethod
    def _one_address(cls, value: str) -> str:
        value = value.strip()
        if value.count("@") != 1 or any(c.isspace() or c in "<>,;" for c in value):
            raise ValueError(f"'{value}' is not an email address; write the published address, like sales@example.com")
        return value


def sla_text(section: ContactSection) -> str:
    """`1 business day`, `2 business days`, `1 day`, `4h 0m business time`."""
    if section.within % DAY_S == 0:
        days = int(section.within // DAY_S)
        return f"{days} {'business ' if section.hours else ''}day{'s' if days != 1 else ''}"
    return format_duration(section.within) + (" business time" if section.hours else "")


class ContactProbes(ProbeKind):
    """Replies to a probe email: by token or Message-ID; auto-replies and our own copy ignored; a DSN bounces it."""

    step = "contact"
    late = Category.LATE_REPLY
    missing = Category.MISSING_REPLY
    sent = "question"
    answer = "reply"
    not_sent = "no question"
    sending = "sending"

    def sort(self, probe: Probe, messages: list["ReceivedEmail"]) -> Sorted:
        sorting = Sorted()
        own = (probe.message_id or "").strip().lower()
        for message in sorted(messages, key=lambda m: m.received_at):
            if own and message.header("Message-ID").strip().lower() == own:
                continue  # our own question (a copy the server kept, or a forward back to us)
            if is_report(message.message):
                self._bounce(probe, message, sorting)
                continue
            marker = automation_marker(message)
            if marker:
                sorting.ignored.append({**probes.describe(message), "why": marker})
                sorting.automatic = sorting.automatic or message
                continue
            if not (message.addressed_to(probe.token) or (own and message.refers_to(own))):
                sorting.ignored.append({**probes.describe(message), "why": "neither sent to this probe's address nor a reply to it"})
                continue
            if sorting.reply is None:
                sorting.reply = message
        return sorting

    def _bounce(self, probe: Probe, message: "ReceivedEmail", sorting: Sorted) -> None:
        status = delivery_status(message)
        assert status is not None
        original = status.original_message_id.strip().lower()
        ours = (original and original == (probe.message_id or "").strip().lower()) or probe.token.lower() in message.raw.lower().decode("utf-8", "replace")
        if not ours:
            sorting.ignored.append({**probes.describe(message), "why": "a bounce of another email"})
        elif not status.failed:
            sorting.ignored.append({**probes.describe(message), "why": f"delivery delayed, not failed (Status: {status.status or '?'})"})
        elif sorting.bounce is None:
            sorting.bounce = {**probes.describe(message), **status.as_dict()}

    def describe(self, message: "ReceivedEmail") -> dict[str, Any]:
        return {**DeliveryEmail.of(message).evidence(), **probes.describe(message)}

    def late_reason(self, probe: Probe, reply: "ReceivedEmail", spent: str) -> str:
        """`support@example.com took 2d 4h to answer (…); the SLA is 1 business day` — what the alert says."""
        return (f"{probe.channel or 'the address'} took {spent} to answer (first human reply from "
                f"{reply.sender or 'an unknown sender'}); the SLA is {self.sla_text(probe)}")

    def missing_reason(self, probe: Probe, ignored: list[dict[str, Any]], gave_up: bool) -> str:
        reason = (f"{probe.channel or 'the address'} did not answer the question of {show(probe.submitted_at)} "
                  f"within {self.sla_text(probe)}")
        return reason + probes.ignored_and_watching(probe, ignored, gave_up)

    def bounced_reason(self, probe: Probe, bounce: dict[str, Any]) -> str:
        said = " ".join(p for p in (bounce.get("diagnostic") or "", f"(status {bounce['status']})" if bounce.get("status") else "") if p)
        return f"{probe.channel or 'the address'} bounced the question: {said or 'the delivery failed'} — the published address takes no mail"

    def evidence(self, probe: Probe) -> dict[str, Any]:
        return {**super().evidence(probe), "channel": probe.channel, "question": probe.sent}


PROBES = ContactProbes()


class Contact(StepKind):
    """A question to a published inbox: sent now by email, its reply timed by later runs through the ledger."""

    name = "contact"
    title = "Published inbox"
    model = ContactSection
    submits_once = True
    one_viewport = True
    settles = True
    settled_name = "reply"
    settled_title = "Replies"

    def needs_inbox(self, section: ContactSection) -> bool:
        return True

    def needs_browser(self, section: ContactSection) -> bool:
        return False

    def settings_problem(self, section: ContactSection, settings: "Settings") -> str | None:
        if settings.outbox is None:
            return ("needs outbox: in config/funnelwatch.yaml (the SMTP server that sends the question, and a from "
                    "address with {token}) — see the README's outbox section")
        from ..inbox import BACKENDS, backend_of

        backend = backend_of(settings.inbox)
        if backend is None or not backend.keeps_mail:
            keepers = " or ".join(name for name, b in BACKENDS.items() if b.keeps_mail)
            return (f"needs an inbox that keeps mail between runs ({keepers}) to read the replies: "
                    + (f"{backend.forgets}" if backend is not None else "add inbox: to config/funnelwatch.yaml"))
        from ..outbox import from_address

        _, sent_from = from_address(settings.outbox, "{token}")
        if sent_from.lower() != settings.inbox.address.lower():
            return (f"outbox.from sends as {sent_from}, but replies are read at inbox.address {settings.inbox.address}: "
                    "make them the same address, so every reply reaches the inbox")
        return None

    def sla_s(self, section: ContactSection) -> float | None:
        return section.within

    def channel(self, section: ContactSection) -> tuple[str, str] | None:
        return section.email, sla_text(section)

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        if not isinstance(value, dict):
            return kit.facts(self.title, value)
        shown = kit.email("The question sent", value.get("question"))
        shown += kit.email("The auto-reply", value.get("auto_reply"))
        reply = value.get("reply")
        if isinstance(reply, dict):
            shown += kit.delivery("Where the reply landed, and whether receivers trust it", reply.get("email"))
            reply = {k: v for k, v in reply.items() if k != "email"}
        shown += kit.email("The first human reply", reply)
        shown += kit.facts("The bounce", value.get("bounce")) if isinstance(value.get("bounce"), dict) else []
        return shown + kit.facts(self.title, value, {"question", "auto_reply", "reply", "bounce"})

    def summary(self, ledger: Ledger, check_name: str, section: ContactSection, now: datetime) -> list[str]:
        return probes.summary_lines(ledger, check_name, self, section, now, "question", "reply")

    async def settle(self, services: RunServices) -> list[CheckResult]:
        return await probes.settle_open_probes(services, PROBES)

    def claim(self, services: RunServices, item: "PlanItem") -> CheckResult | None:
        refused = probes.claim_submission(services.ledger, item, services.run_id, services.clock.now(), PROBES,
                                          services.inbox_problem)
        return services.attach_check(refused) if refused is not None else None

    def release(self, services: RunServices, item: "PlanItem", submitted: bool) -> None:
        services.ledger.release(item.check.spec.name, item.viewport, services.run_id, submitted)

    async def run(self, ctx: "StepContext", section: ContactSection) -> None:
        from ..outbox import from_address, probe_message, send

        services, outbox = ctx.services, ctx.config.settings.outbox
        if services is None or outbox is None:
            raise MonitorProblem(Category.CONFIG, "contact probes need the history database and outbox: in config/funnelwatch.yaml")
        now = services.clock.now()
        _, address = from_address(outbox, ctx.token)
        message = probe_message(outbox, ctx.token, section.email.strip(), ctx.fill_placeholders(section.subject),
                                ctx.fill_placeholders(section.body), now.timestamp())
        values = contact_values(section, now, ctx.token, address, ctx.check.file, message)
        services.ledger.arm(ctx.check.spec.name, ctx.viewport, ctx.run_id, values)  # a run killed mid-send still watches it
        ctx.no_retry = True  # asking twice bothers the people who answer; a refused login only gets worse with retries
        ca_file = ctx.config.resolve(outbox.smtp.ca_file) if outbox.smtp.ca_file else None
        await asyncio.to_thread(send, outbox, message, ca_file, ctx.redactor)
        ctx.submitted_at = now.timestamp()
        probe_id = services.ledger.record(ctx.check.spec.name, ctx.viewport, ctx.run_id, values)
        reason = (f"question sent to {section.email.strip()}; waiting up to {sla_text(section)} for a human reply "
                  f"(until {show(when(values['sla_deadline']))})")
        ctx.outcome = StepOutcome(Status.PENDING, None, reason)
        ctx.evidence["contact"] = {
            "probe_id": probe_id, "state": "pending", "token": ctx.token, "address": address,
            "channel": section.email.strip(), "question": question_of(message),
            **{k: values[k] for k in ("submitted_at", "sla_deadline", "give_up_at", "within_s")},
            "hours": section.hours, "reply": None, "ignored": [],
        }


def question_of(message: Any) -> dict[str, Any]:
    """The probe email as the report shows it."""
    body = message.get_body(preferencelist=("plain",))
    return {"from": str(message["From"]), "to": str(message["To"]), "subject": str(message["Subject"]),
            "date": str(message["Date"]), "message_id": str(message["Message-ID"]),
            "text": body.get_content() if body is not None else ""}


def contact_values(section: ContactSection, sent: datetime, token: str, address: str, file: str, message: Any) -> dict[str, Any]:
    """The ledger row of a question sent at `sent`: a probe of kind `contact` with its channel and Message-ID."""
    from ..business_hours import BusinessHours

    business_s = None
    if section.hours and section.within % DAY_S == 0:
        business_s = section.within / DAY_S * BusinessHours.parse(section.hours, section.holidays).day_length_s
    values = probes.probe_values(section, sent, token, address, file, {"sla_text": sla_text(section)}, business_s)
    return {**values, "kind": "contact", "channel": section.email.strip(), "message_id": str(message["Message-ID"]),
            "sent": probes.as_json(question_of(message))}
