"""Step kinds, one module each, listed in one table: `KINDS`.

The table's order is the order a check runs its sections in: the browser
sections (ad, landing, form), then custom `steps:`, then the inbox-side ones
(asset, followup, contact), so a two-step form driven by `steps:` can still be followed
by an asset check. Adding a kind is one new module (a `StepKind` subclass, see
`base.py`) plus one line here; the check schema, the plan, the runner, the
report and JUnit learn about it from the kind itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ad, asset, contact, custom, followup, form, landing
from .base import EvidenceKit, RunServices, StepContext, StepKind, StepOutcome

if TYPE_CHECKING:
    from ..schema import CheckBase

KINDS: dict[str, StepKind] = {}


def register(kind: StepKind, before: str | None = None) -> StepKind:
    """Add a kind to the table (at the end, or before the kind named `before`); a name is taken once."""
    if kind.name in KINDS:
        raise ValueError(f"a step kind named {kind.name!r} is already registered")
    items = list(KINDS.items())
    at = next((i for i, (name, _) in enumerate(items) if name == before), len(items))
    items.insert(at, (kind.name, kind))
    KINDS.clear()
    KINDS.update(items)
    return kind


def unregister(name: str) -> None:
    """Remove a kind (for tests that register a throwaway one)."""
    KINDS.pop(name, None)


register(ad.Ad())
register(landing.Landing())
register(form.Form())
register(custom.Custom())
register(asset.Asset())
register(followup.Followup())
register(contact.Contact())


def steps_of(spec: "CheckBase") -> list[tuple[str, StepKind, Any]]:
    """The (label, kind, section) triples a check runs, in order; a repeated kind's items are `name[i]`."""
    planned: list[tuple[str, StepKind, Any]] = []
    for kind, section in spec.sections():
        if kind.repeated:
            planned += [(f"{kind.name}[{i}]", kind, item) for i, item in enumerate(section)]
        else:
            planned.append((kind.name, kind, section))
    return planned


def kinds_of(spec: "CheckBase") -> list[StepKind]:
    """The kinds a check uses, each once, in table order."""
    return [kind for kind, _ in spec.sections()]


def title_of(step: str | None) -> str:
    """A step label for people: `form` → "Lead form", `steps[2]` → "Custom step 3"."""
    if not step:
        return ""
    name, _, index = step.partition("[")
    kind = KINDS.get(name)
    if kind is None:
        return step
    if index.rstrip("]").isdigit():
        return f"{kind.title} {int(index.rstrip(']')) + 1}"
    return kind.title


__all__ = [
    "KINDS", "EvidenceKit", "RunServices", "StepContext", "StepKind", "StepOutcome",
    "kinds_of", "register", "steps_of", "title_of", "unregister",
]
