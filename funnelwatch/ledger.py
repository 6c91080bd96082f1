"""The pending ledger: submissions whose answer comes later than a run lasts.

A demo request's follow-up (and a contact probe's reply) arrives hours or days
after the submission, so the submission is kept here as a *probe* and settled
by later runs. This module holds what the ledger *is* — the probe, its states,
its statistics and the small interface a step kind uses — and no SQL: the
store package implements `Ledger` (`store/ledger.py`).

States and their transitions (every transition is guarded by the state it
leaves, so of two runs settling the same probe exactly one moves it):

    reserved → pending → passed | late | bounced | overdue → late | bounced | missing
    reserved → released | aborted

A reservation belongs to a live run: when its run is found dead (the store
marks it `incomplete`), a reservation noted as submitting (`arm`: token,
address and deadlines are written right before the form goes out) becomes
`pending` and is settled like any probe; one that was not is `released`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .clock import parse_iso

PROBE_STATES = {
    "reserved": "a run is about to submit (counts towards `every`); token and deadlines are noted right before it does",
    "released": "the run stopped (or died) before submitting (does not count)",
    "aborted": "the form was submitted but the funnel failed before the probe was recorded (counts, never settled)",
    "pending": "submitted, SLA window open, no human reply yet",
    "overdue": "SLA passed without a human reply (reported missing_followup), still watched until give-up",
    "passed": "a human replied within the SLA",
    "late": "a human replied after the SLA",
    "missing": "no human reply until give-up",
    "bounced": "the probe email bounced (a delivery status notification): the address takes no mail",
}
OPEN_PROBE_STATES = ("pending", "overdue")
SETTLED_PROBE_STATES = ("passed", "late", "overdue", "missing", "bounced")


@dataclass
class Probe:
    """A submitted probe, as the ledger holds it (see PROBE_STATES)."""

    id: int
    check_name: str
    file: str
    viewport: str
    token: str
    address: str
    submitted_at: datetime
    sla_deadline: datetime
    give_up_at: datetime
    state: str
    within_s: float
    rules: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    reply_at: datetime | None = None
    latency_s: float | None = None
    business_latency_s: float | None = None
    #: The step kind that recorded it (`followup`, `contact`), what it probed, and the probe email's Message-ID.
    kind: str = "followup"
    channel: str | None = None
    message_id: str | None = None
    sent: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reservation:
    """The ledger row that holds a check's `every` window (the newest not released)."""

    id: int
    state: str
    reserved_at: datetime
    submitted_at: datetime | None = None
    sla_deadline: datetime | None = None


@dataclass
class ProbeStats:
    """Follow-up figures of one check over its last probes, for the report and `history`.

    Latencies are wall-clock seconds from submission to the first human reply,
    over probes that got a reply; `within_sla_share` counts every settled probe
    (a missing follow-up is not within SLA). `business_*` are set when the
    check has `hours:`.
    """

    check_name: str
    probes: int = 0
    replied: int = 0
    missing: int = 0
    last_state: str | None = None
    last_latency_s: float | None = None
    median_latency_s: float | None = None
    p90_latency_s: float | None = None
    within_sla_share: float | None = None
    business_median_latency_s: float | None = None
    business_p90_latency_s: float | None = None
    open_probes: int = 0

    @classmethod
    def of(cls, check_name: str, settled: list[dict[str, Any]], open_probes: int) -> "ProbeStats":
        """Figures from settled probe rows (newest first) and the count still pending."""
        stats = cls(check_name, open_probes=open_probes)
        if not settled:
            return stats
        latencies = [r["latency_s"] for r in settled if r["latency_s"] is not None]
        business = [r["business_latency_s"] for r in settled if r["business_latency_s"] is not None]
        stats.probes, stats.replied = len(settled), len(latencies)
        stats.missing = sum(1 for r in settled if r["latency_s"] is None)
        stats.last_state, stats.last_latency_s = settled[0]["state"], settled[0]["latency_s"]
        stats.median_latency_s = statistics.median(latencies) if latencies else None
        stats.p90_latency_s = percentile(latencies, 0.9)
        stats.within_sla_share = sum(1 for r in settled if r["state"] == "passed") / len(settled)
        stats.business_median_latency_s = statistics.median(business) if business else None
        stats.business_p90_latency_s = percentile(business, 0.9)
        return stats


#: The name the report and `history` have always used.
FollowupStats = ProbeStats


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Ledger(Protocol):
    """What a step kind may do with the ledger; `store.ledger.SqlLedger` implements it."""

    def reserve(self, check_name: str, viewport: str, run_id: int, now: datetime, every_s: float) -> Reservation | None:
        """Claim this check's submission window: None when claimed, else the reservation that holds it."""
        ...

    def holder(self, check_name: str) -> Reservation | None:
        """The newest reservation not released (what `reserve` would compare with), without claiming anything."""
        ...

    def arm(self, check_name: str, viewport: str, run_id: int, values: dict[str, Any]) -> None:
        """Right before submitting: note the probe's token, address and deadlines on this run's reservation."""
        ...

    def record(self, check_name: str, viewport: str, run_id: int, values: dict[str, Any]) -> int:
        """Turn this run's reservation into a `pending` probe (insert one when there was none)."""
        ...

    def release(self, check_name: str, viewport: str, run_id: int, submitted: bool) -> None:
        """Close a reservation no probe came of: `aborted` if submitted anyway, else `released`."""
        ...

    def open_probes(self, kinds: tuple[str, ...] | None = None) -> list[Probe]:
        """Every submitted probe still watched (pending or overdue), oldest first; only of `kinds` when given."""
        ...

    def move(self, probe_id: int, from_state: str, values: dict[str, Any]) -> bool:
        """Move a probe on from `from_state`; False when another run already did (exactly once)."""
        ...

    def has_open_probes(self) -> bool: ...

    def stats(self, check_name: str, limit: int = 30, since: datetime | None = None) -> ProbeStats:
        """Figures over the last `limit` settled probes (submitted after `since`, when given)."""
        ...

    def stats_with_window(self, check_name: str, since: datetime, limit: int = 30,
                          window_limit: int = 100_000) -> tuple[ProbeStats, ProbeStats]:
        """`stats(check_name, limit)` and `stats(check_name, window_limit, since)` from one read of the ledger."""
        ...

    def latencies(self, check_name: str, since: datetime) -> list[tuple[str, float | None, str]]:
        """(submitted_at, latency_s or None, state) of every settled probe submitted after `since`, oldest first."""
        ...


def when(text: str | None) -> datetime:
    """A ledger time that must be there."""
    moment = parse_iso(text)
    assert moment is not None, "probe without a time"
    return moment
