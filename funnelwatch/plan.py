"""Which checks run, on which viewports: the plan, before any browser starts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .config import BrokenCheck, Check, Config
from .errors import FunnelwatchError
from .shards import Shard

if TYPE_CHECKING:
    from .ledger import Ledger


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
    #: Selected checks that are switched off (`enabled: false`): not run, but `run --list` names them.
    disabled: list[Check] = field(default_factory=list)
    #: The slice of the checks this run covers (`run --shard K/N`); None: every check.
    shard: Shard | None = None

    @property
    def needs_inbox(self) -> bool:
        return any(kind.needs_inbox(section) for item in self.items for kind, section in item.check.spec.sections())


def make_plan(config: Config, names: list[str] | None = None, tags: list[str] | None = None,
              shard: Shard | None = None) -> Plan:
    """Select checks by exact name (or file stem) and/or tag; every selected check on every viewport.

    With a `shard`, the selection is then cut to the checks whose file that
    shard owns (see shards.py): names and tags are still checked against every
    check, so a typo is an error on every shard, while a shard that owns none
    of the selection simply has nothing to run.
    """
    plan = _select(config, names or [], tags or [])
    if shard is None:
        return plan
    return Plan(items=[i for i in plan.items if shard.owns(i.check.file)],
                broken=[b for b in plan.broken if shard.owns(b.file)],
                selection=f"{plan.selection}, {shard}",
                disabled=[c for c in plan.disabled if shard.owns(c.file)], shard=shard)


def _select(config: Config, names: list[str], tags: list[str]) -> Plan:

    def chosen(name: str, slug: str, check_tags: list[str]) -> bool:
        if names and name not in names and slug not in names:
            return False
        if tags and not set(tags) & set(check_tags):
            return False
        return True

    plan = Plan(selection=_describe(names, tags))
    for check in config.checks:
        spec = check.spec
        if not chosen(spec.name, check.slug, spec.tags):
            continue
        if not spec.enabled:
            plan.disabled.append(check)
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
    if (names or tags) and not plan.items and not plan.broken:
        off = ", ".join(sorted(c.spec.name for c in plan.disabled))
        raise FunnelwatchError(f"nothing to run for {plan.selection}: {off} {'is' if len(plan.disabled) == 1 else 'are'} "
                               "switched off (enabled: false) — set enabled: true to run it")
    return plan


@dataclass(frozen=True)
class Listed:
    """One line of `run --list`: a check on a viewport (None: not run, see `notes`) and what it would do."""

    check: str
    file: str
    viewport: str | None
    notes: list[str]


def describe(plan: Plan, ledger: "Ledger | None", now: datetime) -> list[Listed]:
    """What running `plan` at `now` would do, check by check, asking each step kind (nothing is run or reserved).

    `ledger` is the history's (None before the first run): it says which
    submissions are held back by their `every`.
    """
    listed = []
    for item in plan.items:
        spec = item.check.spec
        notes = [f"retries {item.retries}"] if item.retries else []
        for kind, section in spec.sections():
            sends = kind.sends(section)
            if sends:
                notes.append(sends)
            waiting = kind.waiting(section, ledger, spec.name, now)
            if waiting:
                notes.append(waiting)
        listed.append(Listed(spec.name, item.check.file, item.viewport, list(dict.fromkeys(notes))))
    for broken in plan.broken:
        listed.append(Listed(broken.name, broken.file, None, ["invalid: recorded as error — run `funnelwatch validate`"]))
    for check in plan.disabled:
        listed.append(Listed(check.spec.name, check.file, None, ["switched off (enabled: false): not run"]))
    return listed


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
