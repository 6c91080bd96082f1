"""The `landing` step: the page loads, answers 2xx, shows what it must, fast enough.

If the check has an `ad`, the ad step already brought the browser here and
this step checks the page it landed on; otherwise it opens `landing.url`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import field_validator

from ..errors import StepFailed
from ..fields import Duration, Strict, StrList, web_url
from ..results import Category
from .base import StepKind
from .page_quiet import read_until
from .pagekit import Navigation, contains, navigate, title_of, visible_text

if TYPE_CHECKING:
    from .base import StepContext

DISMISS_WAIT_S = 2.5
#: The longest a missing phrase is waited for on a page that keeps changing (a settled page is judged at once).
COPY_WAIT_CAP_S = 3.0


class LandingSection(Strict):
    url: str | None = None
    must_show: StrList = []
    must_not_show: StrList = []
    max_load: Duration | None = None
    dismiss: str | None = None

    _url_is_web = field_validator("url")(web_url)


class Landing(StepKind):
    """The landing page: status, copy, load time, consent banner."""

    name = "landing"
    title = "Landing page"
    model = LandingSection

    def starts_page(self, section: LandingSection) -> bool:
        return bool(section.url)

    def needs_page(self, section: LandingSection) -> bool:
        return True

    async def run(self, ctx: "StepContext", section: LandingSection) -> None:
        nav: Navigation | None = ctx.evidence.get("_navigation")
        if section.url and nav is None:  # an ad step that ran already brought the browser here
            nav = await navigate(ctx, ctx.fill_placeholders(section.url))
            ctx.evidence["_navigation"] = nav
        facts = ctx.evidence.setdefault("landing", {})
        if nav is not None:
            facts.update(url=nav.final_url, status=nav.status, load_s=round(nav.ready_s, 2))
            if nav.status is not None and nav.status >= 400:
                raise StepFailed(Category.HTTP_STATUS, f"{nav.final_url} answered HTTP {nav.status}")
        if section.dismiss:
            facts["dismissed"] = await dismiss(ctx, section.dismiss)
        text = await _text_showing(ctx, section.must_show)
        facts["title"] = title_of(text)[:300]
        missing = [phrase for phrase in section.must_show if not contains(text, phrase)]
        if missing:
            raise StepFailed(
                Category.TEXT_MISSING,
                f"the page at {ctx.page.url} does not show {_quoted(missing)}",
                missing=missing,
            )
        forbidden = [phrase for phrase in section.must_not_show if contains(text, phrase)]
        if forbidden:
            raise StepFailed(Category.TEXT_FORBIDDEN, f"the page at {ctx.page.url} shows {_quoted(forbidden)}", found=forbidden)
        if section.max_load is not None and nav is not None and nav.ready_s > section.max_load:
            raise StepFailed(
                Category.SLOW_PAGE,
                f"the page took {nav.ready_s:.1f}s to load (limit {section.max_load:g}s)",
            )


async def _text_showing(ctx: "StepContext", phrases: list[str]) -> str:
    """The page's text, re-read while copy fetched by scripts may still arrive: until the page settles (`page_quiet`)."""
    return await read_until(ctx, visible_text, lambda text: all(contains(text, phrase) for phrase in phrases),
                            cap_s=min(COPY_WAIT_CAP_S, ctx.timeout_s / 3))


async def dismiss(ctx: "StepContext", selector: str) -> bool:
    """Click a consent banner if it shows up, also one that appears a moment after load.

    Consent tools fade in behind an overlay that intercepts clicks for a moment,
    so a normal click gets a short try before a forced click and a DOM click.
    """
    locator = ctx.page.locator(selector).first
    try:
        await locator.wait_for(state="visible", timeout=DISMISS_WAIT_S * 1000)
    except Exception:
        return False
    for timeout_ms, force in ((2000, False), (1000, True)):
        try:
            await locator.click(timeout=timeout_ms, force=force)
            break
        except Exception:
            continue
    else:
        try:
            await locator.dispatch_event("click", timeout=1000)
        except Exception:
            return False
    try:
        await locator.wait_for(state="hidden", timeout=1500)
    except Exception:
        pass
    return True


def _quoted(phrases: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases)
