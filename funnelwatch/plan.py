"""Which checks run, on which viewports: the plan, before any browser starts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .config import BrokenCheck, Check, Config
from .errors import FunnelwatchError


@dataclass(frozen=True)
class PlanItem:
    """One check on one viewport: the unit the runner schedules and retries."""

    check: Check
    viewport: str
    retries: int


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)
    broken: list[BrokenCheck] = field(default_factory=list)
    selection: str = "all checks"

    @property
    def needs_inbox(self) -> bool:
        return any(kind.needs_inbox(section) for item in self.items for kind, section in item.check.spec.sections())


def make_plan(config: Config, names: list[str] | None = None, tags: list[str] | None = None) -> Plan:
    """Select checks by exact name (or file stem) and/or tag; every selected check on every viewport."""
    names = names or []
    tags = tags or []

    def chosen(name: str, slug: str, check_tags: list[str]) -> bool:
        if names and name not in names and slug not in names:
            return False
        if tags and not set(tags) & set(check_tags):
            return False
        return True

    plan = Plan(selection=_describe(names, tags))
    for check in config.checks:
        spec = check.spec
        if not spec.enabled or not chosen(spec.name, check.slug, spec.tags):
            continue
        retries = spec.retries if spec.retries is not None else config.settings.defaults.retries
        viewports = spec.viewports or config.settings.browser.viewports
        if any(kind.one_viewport for kind, _ in spec.sections()):
            viewports = viewports[:1]  # e.g. one demo request per window: the sales team gets no twin from mobile
        for viewport in viewports:
            plan.items.append(PlanItem(check, viewport, retries))
    for broken in config.broken:
        if chosen(broken.name, broken.slug, broken.tags) or (not names and not tags):
            plan.broken.append(broken)
    if names:
        known = {c.name for c in config.checks} | {c.slug for c in config.checks} | {b.name for b in config.broken} | {b.slug for b in config.broken}
        unknown = [n for n in names if n not in known]
        if unknown:
            listing = ", ".join(sorted(c.name for c in config.checks)) or "none"
            raise FunnelwatchError(f"no check named {', '.join(repr(u) for u in unknown)} — checks are: {listing}"
                                   + _did_you_mean(unknown[0], sorted(known), []))
    if tags:
        _known_tags(config, tags)
    if (names or tags) and not plan.broken and not any(chosen(c.name, c.slug, c.spec.tags) for c in config.checks):
        raise FunnelwatchError(f"no check matches {plan.selection} — run `funnelwatch validate` to list the checks and their tags")
    return plan


def _known_tags(config: Config, tags: list[str]) -> None:
    """A tag no check has is a typo: exit 2 with a did-you-mean, never "nothing to run"."""
    known = sorted({t for c in config.checks for t in c.spec.tags} | {t for b in config.broken for t in b.tags})
    unknown = [t for t in tags if t not in known]
    if unknown:
        names = sorted({c.name for c in config.checks} | {b.name for b in config.broken})
        raise FunnelwatchError(f"no check has the tag {', '.join(repr(u) for u in unknown)} — tags are: {', '.join(known) or 'none'}"
                               + _did_you_mean(unknown[0], known, names))


def _did_you_mean(typo: str, candidates: list[str], names: list[str]) -> str:
    close = difflib.get_close_matches(typo, candidates, n=1, cutoff=0.6)
    if close:
        return f" — did you mean '{close[0]}'?"
    close = difflib.get_close_matches(typo, names, n=1, cutoff=0.6)
    return f" — did you mean --check '{close[0]}'?" if close else ""


def _describe(names: list[str], tags: list[str]) -> str:
    parts = [f"check {n}" for n in names] + [f"tag {t}" for t in tags]
    return ", ".join(parts) or "all checks"
