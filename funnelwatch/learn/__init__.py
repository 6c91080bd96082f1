"""`funnelwatch new URL`: a working check from a landing page's address.

The browser already knows how to find and fill a lead form (the form step
does it every night); here it looks at the page once and writes the check a
person would have written: the consent banner it dismissed, the form it
found (iframes too), a value for each field, the submit button, the
headline, a load limit. With `learn=True` it submits once — through the form
step itself — and records what a good run looked like: the thank-you URL and
text, the delivery email and the asset behind it.

    import funnelwatch
    from funnelwatch.learn import new_check
    made = new_check(funnelwatch.load_config("."), "https://example.com/lp/guide", learn=True, yes=True)
    print(made.path, made.notes)

Refusals (no form, a login page, a failed test submission, an existing file)
raise `FunnelwatchError` with one line saying what to do; nothing is written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..config import BrokenCheck, Config, load_check
from ..errors import ConfigError, Diagnostic, FunnelwatchError
from ..fields import web_url
from ..text import short_hash, slugify
from .draft import Draft, ad_facts, name_of
from .guess import COMPANY, FIRST_NAME, LAST_NAME, PHONE, guess_fill
from .look import Discovery, FoundLeadForm
from .yamltext import render

if TYPE_CHECKING:
    from ..steps.base import StepContext
    from .record import Learned

DEFAULT_EMAIL_WAIT_S = 300.0
#: The test values `new` types: a learned phrase (subject, thank-you text) never depends on them.
TYPED = (f"{FIRST_NAME} {LAST_NAME}", FIRST_NAME, LAST_NAME, COMPANY, PHONE)
_LOGIN_URL = re.compile(r"/(log-?in|sign-?in|signin|sso|auth|account/login|wp-login\.php|users/sign_in)\b", re.I)
LEAD_WARNING = ("--learn submits the form once: a real lead will be created on {url} "
                "(as {address}, company 'funnelwatch test - please ignore').")


@dataclass
class NewCheck:
    """What `new` wrote."""

    path: Path
    name: str
    text: str
    #: Things the user should know (what was not learned, forms not chosen).
    notes: list[str] = field(default_factory=list)


def new_check(config: Config, url: str, *, name: str | None = None, ad_url: str | None = None, learn: bool = False,
              yes: bool = False, confirm: Callable[[str], bool] | None = None, viewport: str = "desktop",
              output: Path | None = None, force: bool = False, email_wait_s: float = DEFAULT_EMAIL_WAIT_S,
              headed: bool = False, progress: Callable[[str], None] | None = None) -> NewCheck:
    """Look at `url` (through `ad_url` when given), write a check file and validate it.

    `progress(line)` hears what is going on while it takes time (the page, the test submission, the email wait).

    With `learn`, the form is submitted once: `confirm(warning)` is asked first
    unless `yes` (no `confirm` and no `yes`: refused, since a real lead would be created).
    """
    for given, what in ((url, "URL"), (ad_url, "--ad-url")):
        if given is not None:
            try:
                web_url(given)
            except ValueError as exc:
                raise FunnelwatchError(f"{what}: {exc}") from None
    if viewport not in ("desktop", "mobile"):
        raise FunnelwatchError(f"--viewport {viewport}: use desktop or mobile")
    if output is None and name:
        output = _default_path(config, name)
    if output is not None:
        _refuse_existing(output, force)
    if learn and not yes:  # asked before anything is opened: a lead must never go out unannounced
        warning = LEAD_WARNING.format(url=_host(ad_url or url), address=config.settings.inbox.address)
        if confirm is None:
            raise FunnelwatchError("--learn submits the form once and creates a real lead — confirm with --yes to go ahead")
        if not confirm(warning):
            raise FunnelwatchError("not submitted: nothing written (pass --yes to create the test lead)")
    say = progress or (lambda line: None)
    return asyncio.run(_new(config, url, name, ad_url, learn, viewport, output, force, email_wait_s, headed, say))


def _default_path(config: Config, name: str) -> Path:
    base = slugify(name, keep="", lower=True, max_length=60, fallback="")
    return config.root / "checks" / f"{base or 'check-' + short_hash(name)}.yaml"


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise FunnelwatchError(f"{path} already exists — pass --force to overwrite it, or choose another file with -o FILE")


async def _new(config: Config, url: str, name: str | None, ad_url: str | None, learn: bool, viewport: str,
               output: Path | None, force: bool, email_wait_s: float, headed: bool, say: Callable[[str], None]) -> NewCheck:
    from ..errors import MonitorProblem
    from ..inbox import make_inbox
    from .look import browser_page, discover

    inbox = make_inbox(config) if learn else None
    if inbox is not None:
        try:
            await asyncio.to_thread(inbox.open)
        except MonitorProblem as problem:
            raise FunnelwatchError(f"{problem.reason} — nothing submitted; fix the inbox: section, or run without --learn") from None
    try:
        async with browser_page(config, viewport, url, inbox, headed) as ctx:
            say(f"opening {ad_url or url} in Chromium ({viewport}) …")
            discovery = await discover(ctx, ad_url or url)
            form = _refuse_unusable(discovery, ad_url or url)
            plan = guess_fill(form.info["fields"])
            check_name, why = (name, "given with --name") if name else name_of(discovery, url)
            path = output or _default_path(config, check_name)
            _refuse_existing(path, force)
            check_name, why = _unique_name(config, check_name, why, path)
            draft = Draft(check_name, why, url, viewport, discovery, form, plan, learn=learn, inbox=inbox is not None,
                          personal=[v for v in TYPED if v in {g.value for g in plan.fill}] + [ctx.address, ctx.token])
            if ad_url:
                draft.ad = ad_facts(ad_url, discovery.nav.final_url)
            if learn:
                draft.learned = await _learn(ctx, draft, email_wait_s, say)
            text = render(draft.document(), draft.header())
    finally:
        if inbox is not None:
            await asyncio.to_thread(inbox.close)
    notes = list(draft.learned.notes) if draft.learned else []
    others = [f for f in discovery.email_forms if f is not form]
    if others:
        notes.append(f"{len(others)} other form{'s' if len(others) > 1 else ''} with an email field on the page "
                     "(named in the file's comments); this one was chosen")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _validate(config, path)
    return NewCheck(path, check_name, text, notes)


def _unique_name(config: Config, name: str, why: str, path: Path) -> tuple[str, str]:
    """Two checks may not share a name: a page checked twice (another viewport, another file) gets `name (2)`."""
    taken = {c.name.casefold() for c in config.checks if (config.root / c.file).resolve() != path.resolve()}
    if name.casefold() not in taken:
        return name, why
    n = 2
    while f"{name} ({n})".casefold() in taken:
        n += 1
    return f"{name} ({n})", f"{why}; ({n}) because another check has that name"


def _refuse_unusable(discovery: Discovery, url: str) -> FoundLeadForm:
    """The lead form to check, or a one-line refusal saying why there is none and what to do."""
    nav = discovery.nav
    status = nav.status or 0
    if status in (401, 403) or _LOGIN_URL.search(urlsplit(nav.final_url).path) and not _LOGIN_URL.search(urlsplit(url).path):
        raise FunnelwatchError(f"{nav.final_url} needs a login (HTTP {status or 'login page'}) — give the URL of the public "
                               "landing page (a check cannot sign in)")
    if status >= 400:
        raise FunnelwatchError(f"{nav.final_url} answered HTTP {status} — give the URL of a working landing page")
    candidates = discovery.email_forms
    usable = [f for f in candidates if not f.info["password"]]
    if not usable and (discovery.password or candidates):
        raise FunnelwatchError(f"{nav.final_url} needs a login (its form asks for a password) — give the URL of the public "
                               "landing page with the lead form (a check cannot sign in; a sign-up flow can be written with steps:)")
    if not usable:
        searched = f"page and {discovery.frames - 1} iframe(s) searched"
        raise FunnelwatchError(f"no lead form with an email field on {nav.final_url} ({searched}) — give the URL of the page "
                               "with the form, or write the check by hand (funnelwatch init has an example)")

    def weight(found: FoundLeadForm) -> tuple[int, int, int]:
        info = found.info
        shown = [f for f in info["fields"] if f["kind"] != "hidden" and not f["honeypot"]]
        return len(shown), int(info["visible"]), -discovery.forms.index(found)

    return max(usable, key=weight)


async def _learn(ctx: "StepContext", draft: Draft, email_wait_s: float, say: Callable[[str], None]) -> "Learned":
    from ..errors import StepFailed
    from ..outcome import classify
    from ..results import CheckResult, Status, summary_line
    from ..steps.form import FormSection
    from ..units import format_duration
    from .record import inspect_asset, submit_once, wait_for_delivery

    info = draft.form.info
    fill: dict[str, str | int | bool] = {g.key: g.value for g in draft.plan.fill}
    section = FormSection(selector=info.get("selector"), fill=fill, submit=(info.get("button") or {}).get("selector"))
    try:
        learned = await submit_once(ctx, section, draft.discovery.nav.final_url, draft.discovery.text, draft.personal)
    except (StepFailed, asyncio.TimeoutError) as exc:
        verdict = classify(exc, "form")
        shown = CheckResult(check=draft.name, file="", status=Status.FAIL, step="form", category=verdict.category,
                            reason=verdict.reason, viewport=draft.viewport)
        raise FunnelwatchError(f"the test submission failed, nothing written: {summary_line(shown)} — fix the form "
                               "(or run `funnelwatch new` without --learn)") from None
    if not (learned.url_contains or learned.text):
        learned.notes.append("the page showed nothing new after the test submission, so no success: was written — add what "
                             "the thank-you state shows")
    if ctx.inbox is None:
        return learned
    say(f"submitted; waiting up to {format_duration(email_wait_s)} for the delivery email at {ctx.address} …")
    message, seen, delay = await wait_for_delivery(ctx, email_wait_s)
    if message is None:
        return learned
    from ..email_facts import DeliveryEmail

    learned.email = DeliveryEmail.of(message)
    learned.delay_s = delay
    learned.other_subjects = [m.subject for m in seen if m is not message]
    learned.asset, learned.asset_problem = await inspect_asset(ctx, learned.email)
    if learned.asset is None:
        learned.notes.append(f"the delivery email's asset was not learned: {learned.asset_problem}")
    return learned


def _validate(config: Config, path: Path) -> None:
    """`funnelwatch validate` on the new file: a problem here is a bug in `new`, shown as validate shows it."""
    loaded = load_check(path, config.root, (config.root.resolve(), path.parent.resolve()))
    if isinstance(loaded, BrokenCheck):
        raise ConfigError(loaded.diagnostics)
    problems = [Diagnostic(loaded.file, None, kind.name, problem) for kind, section in loaded.spec.sections()
                if (problem := kind.settings_problem(section, config.settings))]
    if problems:
        raise ConfigError(problems)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


__all__ = ["NewCheck", "new_check"]
