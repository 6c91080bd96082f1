"""Step kinds, one module each, listed in one table.

A check runs its sections in `ORDER`; custom `steps:` run after the browser
sections and before the inbox-side ones (asset, followup), so a two-step form
driven by `steps:` can still be followed by an asset check. Adding a kind is
one new module plus one line in `STEP_KINDS`.

Kinds whose work outlives an attempt implement optional `RunHooks`; the
helpers below call whichever hooks a kind has, so the runner never names a
kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..schema import CheckSpec
from . import ad, asset, custom, followup, form, landing
from .base import RunHooks, Step, StepContext, StepOutcome

if TYPE_CHECKING:
    from ..errors import MonitorProblem
    from ..plan import Plan, PlanItem
    from ..results import CheckResult
    from ..runner import Runner
    from ..store import Store

STEP_KINDS: dict[str, Step] = {
    "ad": ad.Step(),
    "landing": landing.Step(),
    "form": form.Step(),
    "steps": custom.Step(),
    "asset": asset.Step(),
    "followup": followup.Step(),
}
ORDER = ("ad", "landing", "form", "steps", "asset", "followup")


def steps_of(spec: CheckSpec) -> list[tuple[str, Step, Any]]:
    """The (label, step, section) triples a check runs, in order."""
    planned: list[tuple[str, Step, Any]] = []
    for kind in ORDER:
        if kind == "steps":
            planned += [(f"steps[{i}]", STEP_KINDS["steps"], item) for i, item in enumerate(spec.steps)]
            continue
        section = getattr(spec, kind)
        if section is not None:
            planned.append((kind, STEP_KINDS[kind], section))
    return planned


def _kinds_of(spec: CheckSpec) -> list[Any]:
    """The step kinds a check uses, each once, in `ORDER`."""
    return [STEP_KINDS[kind] for kind in ORDER
            if (spec.steps if kind == "steps" else getattr(spec, kind)) not in (None, [])]


async def settle_all(runner: "Runner", plan: "Plan") -> list["CheckResult"]:
    """Run every kind's `settle` hook once, at the start of a run."""
    settled: list[CheckResult] = []
    for kind in STEP_KINDS.values():
        settle = getattr(kind, "settle", None)
        if settle is not None:
            settled += await settle(runner, plan)
    return settled


def claim_for(store: "Store", item: "PlanItem", run_id: int,
              inbox_problem: "MonitorProblem | None" = None) -> "CheckResult | None":
    """The first result a kind of this check claims instead of running it; None: run it."""
    for kind in _kinds_of(item.check.spec):
        claim = getattr(kind, "claim", None)
        if claim is not None:
            result = claim(store, item, run_id, inbox_problem)
            if result is not None:
                return result
    return None


def release_for(store: "Store", item: "PlanItem", run_id: int, submitted: bool) -> None:
    """Let every kind of this check release what its `claim` held."""
    for kind in _kinds_of(item.check.spec):
        release = getattr(kind, "release", None)
        if release is not None:
            release(store, item, run_id, submitted)


def submits_once(spec: CheckSpec) -> bool:
    """True when a kind of this check forbids resubmitting a form that went out."""
    return any(getattr(kind, "submits_once", False) for kind in _kinds_of(spec))


__all__ = [
    "STEP_KINDS", "ORDER", "RunHooks", "Step", "StepContext", "StepOutcome",
    "claim_for", "release_for", "settle_all", "steps_of", "submits_once",
]
