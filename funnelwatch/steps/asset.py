"""The `asset` step: the delivery email arrives, reads right, and carries the promised asset.

Order of proof: the email addressed to this submission (`ctx.token`) whose
subject contains `email.subject_contains` arrives within `email.within`
(other mail to the same address, such as a subscription confirmation, is
listed but never taken for it); it shows no raw merge tag; its link (found by
visible text and followed through click trackers), its attachment, or the
thank-you page's download link (`page_link`) serves the promised file, judged
from its bytes: type, size, title, text. Where the email landed and whether
receivers trust it (`placement.py`) is judged last and comes first: an email
in a junk folder fails as `email_in_spam`, one whose DKIM/DMARC (or SPF
without DKIM) failed as `email_auth_fail`, and the email and its asset are
still checked, their verdict kept as `content_verdict`.

Evidence, in `ctx.evidence["asset"]` (every string came from the outside
world: the report must escape it, html included)::

    {"email": {"from", "to", "subject", "date", "text" (excerpt), "html",
               "links": [{"text", "url"}], "attachments": [{"filename", "content_type", "size", "inline"}],
               "folder", "in_spam", "auth": {"authserv_id", "spf", "dkim", "dmarc", "signing_domain", ...} | "not reported ...",
               "return_path", "list_unsubscribe", "arc"?},
     "content_verdict": {"ok", "category", "reason"},      # only when placement failed the step
     "other_messages": [{"from", "subject", "date"}],     # same address, not the delivery email
     "waited_s": 3.1,
     "source": "link" | "attachment" | "page_link",
     "link": {"text", "url"},                              # link or page_link
     "chain": [{"url", "status", "content_type"}],        # every hop to the file
     "asset": {"type", "size", "title", "heading", "pages", "url", "content_type", "filename"}}
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from ..asset_facts import KIND_NAMES, AssetFacts, Download, download, inspect_file, looks_like, save_bytes, sniff
from ..asset_facts import deadline_s as download_deadline_s
from ..email_facts import Attachment, DeliveryEmail, Link, find_link, find_merge_tag, match_link, summary
from ..errors import MonitorProblem, StepFailed
from ..fields import Duration, Size, Strict, StrList
from ..inbox.base import ReceivedEmail, wait_for
from ..netguard import AddressGuard
from ..placement import DELIVERY_KEYS, delivery_facts, judge
from ..results import Category
from ..threads import in_daemon_thread
from ..units import format_duration, format_size
from .base import EvidenceKit, StepKind
from .pagekit import contains

if TYPE_CHECKING:
    from .base import StepContext

MIN_READ_S = 10.0
PAGE_LINK_POLL_S = 0.5

_PAGE_LINKS_JS = """(wanted) => {
  const describe = (a) => ({text: (a.innerText || a.textContent || a.getAttribute('aria-label') || a.title || '').trim(),
                            url: a.href || a.getAttribute('href') || a.getAttribute('data-href') || ''});
  let picked = null;
  try {
    const el = document.querySelector(wanted);
    if (el) {
      const a = el.closest('a[href]') || el.querySelector('a[href]') || el;
      picked = describe(a);
    }
  } catch (e) {}
  return {picked, links: Array.from(document.querySelectorAll('a[href]')).map(describe)};
}"""


class AssetEmail(Strict):
    subject_contains: str | None = None
    within: Duration = 600.0


class AssetExpect(Strict):
    type: Literal["pdf", "docx", "html", "any"] = "any"
    title_contains: str | None = None
    text_contains: StrList = []
    min_size: Size | None = None
    max_size: Size = 50_000_000


class AssetSection(Strict):
    email: AssetEmail | None = None
    link_text: str | None = None
    attachment: bool = False
    page_link: str | None = None
    expect: AssetExpect = AssetExpect()

    @model_validator(mode="after")
    def _one_source(self) -> "AssetSection":
        sources = [s for s, on in (("link_text", self.link_text), ("attachment", self.attachment), ("page_link", self.page_link)) if on]
        if len(sources) > 1:
            raise ValueError(f"choose one of link_text, attachment or page_link, not {' and '.join(sources)}")
        if (self.link_text or self.attachment) and self.email is None:
            raise ValueError("link_text and attachment need an email: section (subject_contains, within)")
        return self


class Asset(StepKind):
    """The delivery email and the asset behind it."""

    name = "asset"
    title = "Delivery email and asset"
    model = AssetSection

    def needs_inbox(self, section: AssetSection) -> bool:
        return section.email is not None

    def needs_page(self, section: AssetSection) -> bool:
        return bool(section.page_link)

    def time_cap_s(self, section: AssetSection, timeout_s: float) -> float:
        return (section.email.within if section.email else 0) + timeout_s * 3 + 10

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        """Where the email landed and who vouches for it, the email itself, then the asset's facts."""
        if not isinstance(value, dict):
            return kit.facts(self.title, value)
        email = value.get("email")
        if not isinstance(email, dict):
            return super().evidence(value, kit)
        delivery = kit.delivery("Where the email landed, and whether receivers trust it", email)
        shown = kit.email("The email as received", {k: v for k, v in email.items() if k not in DELIVERY_KEYS})
        return delivery + shown + kit.facts(self.title, value, {"email"})

    async def run(self, ctx: "StepContext", section: AssetSection) -> None:
        evidence: dict[str, Any] = ctx.evidence.setdefault("asset", {})
        received = None
        if section.email is not None:
            email, received = await _delivery_email(ctx, section, evidence)
        else:
            email = None
        try:
            await _check_content(ctx, section, email, evidence)
        except StepFailed as failure:
            if received is not None:
                _landed_well(ctx, received, evidence, failure)
            raise
        if received is not None:
            _landed_well(ctx, received, evidence, None)


def _landed_well(ctx: "StepContext", received: ReceivedEmail, evidence: dict[str, Any], failure: StepFailed | None) -> None:
    """Spam placement and receivers' distrust fail the step before anything the content did (both facts are kept)."""
    problem = judge(received, ctx.config.settings.inbox.trusted_authserv_id)
    if problem is None:
        return
    evidence["content_verdict"] = ({"ok": False, "category": failure.category.value, "reason": failure.reason}
                                   if failure else {"ok": True, "category": None,
                                                    "reason": "the email and its asset are the promised ones"})
    raise StepFailed(problem[0], problem[1], **(failure.evidence if failure else {})) from None


async def _check_content(ctx: "StepContext", section: AssetSection, email: DeliveryEmail | None, evidence: dict[str, Any]) -> None:
    """No raw merge tag, and the promised asset behind the link, the attachment or the page's download link."""
    if email is not None:
        tag = find_merge_tag(email)
        if tag:
            raise StepFailed(Category.MERGE_TAG, f"the email '{email.subject}' shows the raw merge tag "
                             f"'{tag.tag}' in its {tag.where}: “{tag.context}”")
    if section.attachment and email is not None:
        await _check_attachment(ctx, email, section.expect, evidence)
    elif section.link_text and email is not None:
        link = find_link(email, section.link_text)
        if link is None:
            raise StepFailed(Category.WRONG_ASSET, f"the email '{email.subject}' has no link '{section.link_text}'"
                             f"{_link_list(email.links)}")
        evidence["source"] = "link"
        await _check_link(ctx, link, section.expect, evidence, f"'{link.text or section.link_text}'")
    elif section.page_link:
        link = await _page_link(ctx, section.page_link)
        evidence["source"] = "page_link"
        await _check_link(ctx, link, section.expect, evidence, f"'{link.text or section.page_link}' on the page")


# --- the email -------------------------------------------------------------------


async def _delivery_email(ctx: "StepContext", section: AssetSection,
                          evidence: dict[str, Any]) -> tuple[DeliveryEmail, ReceivedEmail]:
    assert section.email is not None
    if ctx.inbox is None:
        raise MonitorProblem(Category.CONFIG, "this check waits for an email, but config/funnelwatch.yaml has no inbox: section")
    wanted = section.email.subject_contains
    parsed: dict[str, DeliveryEmail] = {}

    def facts(message: ReceivedEmail) -> DeliveryEmail:
        key = message.key or str(id(message))
        if key not in parsed:
            parsed[key] = DeliveryEmail.of(message)
        return parsed[key]

    def subject_ok(message: ReceivedEmail) -> bool:
        return not wanted or contains(message.subject, wanted)

    def carries_asset(message: ReceivedEmail) -> bool:
        email = facts(message)
        if section.attachment:
            return bool(_candidates(email.attachments))
        if section.link_text:
            return find_link(email, section.link_text) is not None
        return True

    within = section.email.within
    if ctx.submitted_at is not None:
        within = max(1.0, within - (time.time() - ctx.submitted_at))
    ctx.waiting("waiting for the delivery email", within)
    sent = datetime.fromtimestamp(ctx.submitted_at or ctx.started_at, timezone.utc)  # its mail can only come later
    wait = await wait_for(ctx.inbox, ctx.token, lambda m: subject_ok(m) and carries_asset(m), within,
                          max_poll_s=max(0.5, ctx.config.settings.inbox.poll), since=sent)
    match = wait.match or next((m for m in reversed(wait.seen) if subject_ok(m)), None)
    evidence["waited_s"] = round(wait.waited_s, 2)
    evidence["other_messages"] = [summary(m) for m in wait.seen if m is not match]
    if match is None:
        raise StepFailed(Category.NO_EMAIL, _no_email_reason(ctx.address, wanted, section.email.within, wait.seen))
    email = facts(match)
    evidence["email"] = {**email.evidence(), **delivery_facts(match, ctx.config.settings.inbox.trusted_authserv_id)}
    return email, match


def _no_email_reason(address: str, wanted: str | None, within_s: float, seen: list[ReceivedEmail]) -> str:
    what = f"no email with '{wanted}' in its subject" if wanted else "no email"
    reason = f"{what} reached {address} within {format_duration(within_s)}"
    if not seen:
        return reason + "; nothing arrived at that address"
    subjects = ", ".join(f"'{m.subject}' from {m.sender}" for m in seen[:3])
    more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
    return reason + f"; what arrived: {subjects}{more}"


def _link_list(links: list[Link]) -> str:
    named = [f"'{link.text}'" for link in links if link.text][:6]
    return f" (its links: {', '.join(named)})" if named else " (it has no links)"


# --- the source of the asset -------------------------------------------------------


def _candidates(attachments: list[Attachment]) -> list[Attachment]:
    return [a for a in attachments if not (a.inline and a.content_type.startswith("image/")) and a.data]


async def _check_attachment(ctx: "StepContext", email: DeliveryEmail, expect: AssetExpect, evidence: dict[str, Any]) -> None:
    evidence["source"] = "attachment"
    candidates = _candidates(email.attachments)
    if not candidates:
        extra = " (only inline images)" if email.attachments else ""
        raise StepFailed(Category.WRONG_ASSET, f"the email '{email.subject}' has no attachment{extra}")
    chosen = next((a for a in candidates if looks_like(a.data, expect.type)), candidates[0])
    label = f"attached as '{chosen.describe()}'"
    if len(chosen.data) > expect.max_size:
        raise StepFailed(Category.WRONG_ASSET, f"the attachment '{chosen.describe()}' is {format_size(len(chosen.data))}, "
                         f"over the {format_size(expect.max_size)} limit (expect.max_size)")
    path = await asyncio.to_thread(save_bytes, chosen.data, _scratch(ctx))
    try:
        facts = await _inspect(ctx, path, len(chosen.data))
        evidence["asset"] = _asset_evidence(facts, "", chosen.content_type, chosen.filename)
        _verify(facts, expect, label, url="")
    finally:
        path.unlink(missing_ok=True)


async def _page_link(ctx: "StepContext", wanted: str) -> Link:
    """The download link shown on the current page: a CSS selector, else the link's visible text."""
    deadline = time.monotonic() + ctx.timeout_s
    found: dict[str, Any] = {"links": []}
    while True:
        try:
            found = await ctx.page.evaluate(_PAGE_LINKS_JS, wanted)
        except Exception:
            found = {"picked": None, "links": []}
        picked = found.get("picked")
        if picked and picked.get("url"):
            return Link(picked.get("text", ""), picked["url"])
        link = match_link([Link(x.get("text", ""), x.get("url", "")) for x in found.get("links", [])], wanted)
        if link is not None:
            return link
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(PAGE_LINK_POLL_S)
    shown = [Link(x.get("text", ""), x.get("url", "")) for x in found.get("links", [])]
    raise StepFailed(Category.WRONG_ASSET, f"the page {ctx.page.url} shows no download link '{wanted}'{_link_list(shown)}")


async def _check_link(ctx: "StepContext", link: Link, expect: AssetExpect, evidence: dict[str, Any], name: str) -> None:
    evidence["link"] = {"text": link.text, "url": link.url}
    cookies = await _cookies(ctx)
    try:
        guard = AddressGuard(ctx.config.settings.browser.allow_private)
        # A daemon thread: a download a server trickles is abandoned at its deadline, never waited for at exit.
        got: Download = await in_daemon_thread(download, link.url, expect.max_size, ctx.timeout_s, cookies, f"the link {name}",
                                               ctx.profile.download_headers() if ctx.profile else None,
                                               ctx.profile.proxy if ctx.profile else None, guard, _scratch(ctx),
                                               deadline_s=download_deadline_s(ctx.timeout_s) + ctx.timeout_s + 5)
    except StepFailed as failure:
        evidence["chain"] = failure.evidence.pop("chain", [])
        raise
    except asyncio.TimeoutError:
        raise StepFailed(Category.ASSET_UNREACHABLE, f"the link {name} leads to {link.url}, whose download did not finish in time "
                         f"({format_duration(download_deadline_s(ctx.timeout_s))})") from None
    evidence["chain"] = got.chain
    try:
        facts = await _inspect(ctx, got.path, got.size)
        evidence["asset"] = _asset_evidence(facts, got.url, got.content_type, Path(got.url.split("?")[0]).name)
        _verify(facts, expect, f"behind {name}", url=got.url)
    finally:
        got.remove()


def _scratch(ctx: "StepContext") -> Path | None:
    return ctx.services.scratch if ctx.services else None


async def _cookies(ctx: "StepContext") -> list[dict[str, Any]]:
    """The browser's cookies, so a download gated by the form's session still works."""
    try:
        return [dict(cookie) for cookie in await ctx.context.cookies()]
    except Exception:
        return []


async def _inspect(ctx: "StepContext", path: Path, size: int) -> AssetFacts:
    limit = max(ctx.timeout_s, MIN_READ_S)
    try:
        return await in_daemon_thread(inspect_file, path, size, deadline_s=limit)
    except asyncio.TimeoutError:
        kind = await asyncio.to_thread(sniff, path)
        raise StepFailed(Category.WRONG_ASSET, f"reading the {KIND_NAMES.get(kind, kind)} took longer than "
                         f"{format_duration(limit)} (a damaged or hostile file?)") from None


def _asset_evidence(facts: AssetFacts, url: str, content_type: str, filename: str) -> dict[str, Any]:
    return {"type": facts.kind, "size": facts.size, "title": facts.title, "heading": facts.heading,
            "pages": facts.pages, "url": url, "content_type": content_type, "filename": filename}


# --- is it the promised asset? ---------------------------------------------------------


def _verify(facts: AssetFacts, expect: AssetExpect, where: str, url: str) -> None:
    """Raise `wrong_asset` naming what was found when the file is not the promised one."""
    promised = KIND_NAMES.get(expect.type, expect.type)
    if expect.type != "any" and facts.kind != expect.type:
        at = f" ({url})" if url else ""
        if facts.kind == "html":
            page = f"an HTML page titled '{facts.title}'" if facts.title else (
                f"an HTML page headed '{facts.heading}'" if facts.heading else "an HTML page with no title")
            raise StepFailed(Category.WRONG_ASSET, f"the file {where} is {page}{at}, not a {promised}")
        raise StepFailed(Category.WRONG_ASSET, f"the file {where} is a {facts.kind_name}{at}, not a {promised}")
    kind = facts.kind_name
    if expect.min_size and facts.size < expect.min_size:
        raise StepFailed(Category.WRONG_ASSET, f"the {kind} {where} is only {format_size(facts.size)}, "
                         f"expected at least {format_size(expect.min_size)}")
    if expect.title_contains and not _title_matches(facts, expect.title_contains):
        found = facts.title or facts.heading
        named = f"is titled '{found}'" if found else "has no title"
        raise StepFailed(Category.WRONG_ASSET, f"the {kind} {where} {named}, expected '{expect.title_contains}'")
    for phrase in expect.text_contains:
        if not contains(f"{facts.title}\n{facts.text}", phrase):
            called = f" '{facts.title or facts.heading}'" if (facts.title or facts.heading) else ""
            raise StepFailed(Category.WRONG_ASSET, f"the {kind}{called} {where} does not mention '{phrase}'")


def _title_matches(facts: AssetFacts, wanted: str) -> bool:
    """The metadata title, or the cover's first lines (metadata titles are often 'Microsoft Word - final_v3')."""
    cover = "\n".join([line for line in facts.text.splitlines() if line.strip()][:3])
    return any(contains(candidate, wanted) for candidate in (facts.title, facts.heading, cover) if candidate)
