"""Step kinds, one module each, listed in one table.

A check runs its sections in `ORDER`; custom `steps:` run after the browser
sections and before the inbox-side ones (asset, followup), so a two-step form
driven by `steps:` can still be followed by an asset check. Adding a kind is
one new module plus one line in `STEP_KINDS`.
"""

from __future__ import annotations

from typing import Any

from ..schema import CheckSpec
from . import ad, asset, custom, followup, form, landing
from .base import Step, StepContext

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


__all__ = ["STEP_KINDS", "ORDER", "Step", "StepContext", "steps_of"]
