"""The journey strip: the stages a funnel has, in order, and where it broke.

A marketer reads the funnel page to learn where in the journey it broke; the
strip answers at a glance: ad click → landing → form → … → follow-up, each
stage with ✓/✗/…/!, its time, and the failing one with its reason. Stages
come from the step registry (a new kind shows up with its own title), in the
order the check runs them; a result from before the strip existed, or of a
check no longer configured, still gets one from the steps it names.

    stages = journey(result, ["landing", "form", "asset"])
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results import CheckResult, Status
from ..steps import KINDS, title_of
from ..units import format_duration

#: Mark and words per stage status: text, not colour alone.
_SHOWN = {
    "pass": ("✓", "works"),
    "flaky": ("✓", "works"),
    "fail": ("✗", "broken"),
    "error": ("!", "could not check"),
    "pending": ("…", "waiting"),
    "skipped": ("–", "not reached"),
}


@dataclass
class Stage:
    """One box of the strip."""

    step: str  # the step label (`form`, `steps[2]`)
    kind: str  # the kind's name: `data-stage`
    title: str
    status: str  # pass | fail | error | pending | skipped: `data-status`
    time: str = ""
    reason: str = ""

    @property
    def mark(self) -> str:
        return _SHOWN[self.status][0]

    @property
    def words(self) -> str:
        return _SHOWN[self.status][1]


def journey(result: CheckResult | None, planned: list[str] | None = None) -> list[Stage]:
    """The stages of `result`'s funnel: `planned` labels (from the check as configured) or the ones it ran."""
    if result is None:
        return []
    labels = list(planned or [record.step for record in result.steps])
    if result.step and result.step not in labels:
        labels.append(result.step)
    times = {record.step: record.duration_s for record in result.steps}
    stopped_at = result.step if result.status in (Status.FAIL, Status.ERROR, Status.PENDING) else None
    reached_stop = False
    stages: list[Stage] = []
    for label in labels:
        name = label.partition("[")[0]
        kind = KINDS.get(name)
        stage = Stage(label, name, title_of(label), "pass", _time(times.get(label)))
        if label == stopped_at:
            reached_stop = True
            stage.status, stage.reason = result.status.value, result.reason or ""
            if kind is not None and kind.settles and result.latency_s is not None:
                stage.time = f"after {format_duration(result.latency_s)}"
        elif reached_stop:
            stage.status = "skipped"
        elif kind is not None and kind.settles:
            _settling(stage, result)
        stages.append(stage)
    return stages


def _settling(stage: Stage, result: CheckResult) -> None:
    """A stage a later run settles (the follow-up): its answer, or still waiting for it."""
    if result.step == stage.step and result.latency_s is not None:
        stage.time = f"after {format_duration(result.latency_s)}"
    elif result.step != stage.step and result.status in (Status.PASS, Status.FLAKY):
        stage.status, stage.time = "pending", ""
        stage.reason = "waiting for the answer; a later run settles it"


def _time(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else ""
