"""`new --learn`: submit once with the form step itself, and write down what a good run looked like.

The submission is the nightly form step's own (`steps.form.Form.run`: find,
fill, click, judge), run with no `success` yet, so a 500, a validation
message, a CAPTCHA or a script error stops `new` exactly as it would fail a
check. What follows the success — the thank-you URL and text, the delivery
email, the asset behind its link or attachment, how long the email took —
becomes the check's expectations — and so do the conversion tags that fired
after the submit (`record_conversions`), from the hits the browser attempted.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..asset_facts import AssetFacts, download, inspect_file, save_bytes
from ..email_facts import Attachment, DeliveryEmail, Link
from ..netguard import AddressGuard
from ..steps.form import Form, FormSection
from ..steps.pagekit import normalize, wait_ready
from ..tag_hits import Hit, Seen
from .yamltext import clean

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..steps.base import StepContext

#: Once some email arrived, how long to wait on for one that carries the asset (a confirmation often comes first).
ASSET_EMAIL_GRACE_S = 15.0
POLL_S = 0.5
TAG_POLL_S = 0.1
MAX_ASSET_BYTES = 50_000_000
_ASSET_LINK = re.compile(r"download|get (it|the|your)|access|read|view (the|your)|your (copy|guide|report|e-?book|checklist)|"
                         r"herunterladen|jetzt lesen|t[ée]l[ée]charger|descargar|pdf|e-?book|white.?paper|guide|report|checklist", re.I)
_NOT_ASSET = re.compile(r"unsubscribe|abmelden|preferences|privacy|datenschutz|view (this email )?in (your )?browser|"
                        r"webversion|impressum|imprint|terms|facebook|twitter|linkedin|instagram|youtube", re.I)
_ASSET_URL = re.compile(r"\.(pdf|docx?)(\?|#|$)", re.I)


#: GA4 events a page sends by itself (automatically collected, enhanced measurement): never the lead's conversion.
GA4_NOT_CONVERSIONS = frozenset({
    "page_view", "user_engagement", "scroll", "session_start", "first_visit", "click", "file_download", "form_start",
    "form_submit", "view_search_results", "video_start", "video_progress", "video_complete", "first_open"})
#: Meta pixel events fbevents.js sends by itself.
META_NOT_CONVERSIONS = frozenset({"PageView", "Microdata", "SubscribedButtonClick"})
#: However many tags a thank-you page fires, the file stays readable.
MAX_RECORDED = 10


@dataclass
class LearnedAsset:
    source: str  # "link" | "attachment"
    facts: AssetFacts
    link_text: str = ""
    url: str = ""
    filename: str = ""


@dataclass
class LearnedTag:
    """One conversion seen after the test submission: the `conversions:` item, and what it was recorded from."""

    entry: dict[str, str]
    why: str


@dataclass
class LearnedTags:
    """What the analytics and ad hits after the test submission said."""

    conversions: list[LearnedTag] = field(default_factory=list)
    #: Hits after the submit that are not conversions (page views, engagement): named in a comment, never expected.
    others: list[str] = field(default_factory=list)
    #: Recorded conversions that also fired before the submit (the check will fail `conversion_early` until fixed).
    early: list[str] = field(default_factory=list)
    #: Conversions beyond `MAX_RECORDED`, not written.
    unwritten: int = 0


@dataclass
class Learned:
    """What the one good run looked like."""

    final_url: str
    url_contains: str = ""
    text: str = ""
    email: DeliveryEmail | None = None
    delay_s: float | None = None
    other_subjects: list[str] = field(default_factory=list)
    asset: LearnedAsset | None = None
    asset_problem: str = ""
    notes: list[str] = field(default_factory=list)
    #: The conversion tags seen firing after the submit — see `record_conversions`.
    tags: LearnedTags = field(default_factory=LearnedTags)


async def submit_once(ctx: "StepContext", section: FormSection, landing_url: str, before_text: str,
                      fill_values: list[str]) -> Learned:
    """Submit with the form step (raises its `StepFailed` on a broken form), then read the success state."""
    before_text = before_text + "\n" + await _all_text(ctx)  # every frame: an embed's own text is not new after the click
    await Form().run(ctx, section)
    await wait_ready(ctx.page, min(ctx.timeout_s, 10.0))
    final = ctx.page.url
    learned = Learned(final)
    before_path, after_path = urlsplit(landing_url).path.rstrip("/"), urlsplit(final).path.rstrip("/")
    if after_path != before_path and ctx.token not in after_path:
        learned.url_contains = after_path or "/"
    after = await _all_text(ctx)
    learned.text = _new_sentence(before_text, after, [ctx.address, ctx.token, *fill_values])
    await wait_for_tags(ctx)
    learned.tags = record_conversions(ctx)
    if learned.tags.unwritten:
        learned.notes.append(f"{learned.tags.unwritten} more conversion tags fired than the {MAX_RECORDED} written to conversions:")
    if learned.tags.early:
        learned.notes.append(f"{', '.join(learned.tags.early)} also fired before the form was submitted: the check will fail "
                             "with conversion_early until the landing page stops sending it")
    return learned



async def wait_for_tags(ctx: "StepContext") -> None:
    """Let the thank-you page's tags fire: as the `conversions` step waits, until no new hit came for `browser.tag_quiet`."""
    from ..steps.conversions import MAX_QUIET_PERIODS

    quiet = ctx.config.settings.browser.tag_quiet
    began = time.time()
    cap = min(quiet * MAX_QUIET_PERIODS, ctx.timeout_s)
    while True:
        now = time.time()
        last = max([began] + [seen.at for seen in ctx.tag_hits])
        if now - last >= quiet or now - began >= cap:
            return
        await asyncio.sleep(TAG_POLL_S)


def record_conversions(ctx: "StepContext") -> LearnedTags:
    """The conversion tags that fired after the test submission, as `conversions:` items the kind validates.

    The hits are those the browser attempted (and, with `browser.analytics: answer`, answered itself) —
    collected on `ctx.tag_hits` for the whole context, as for the `conversions` step. A conversion is
    what a page does not send on every view: a GA4 event other than page_view, user_engagement, scroll
    and the other automatic ones; any Google Ads conversion hit; a Meta event other than PageView; a
    LinkedIn hit with a conversionId. Each (tag, event) once, its value and currency only when the hit
    carried a value. Listed by vendor (GA4, Google Ads, Meta, LinkedIn), then as they fired.
    """
    from ..steps.conversions import VENDORS, ConversionTag

    learned = LearnedTags()
    submitted = ctx.submitted_at
    if submitted is None:
        return learned
    hits: list[Seen] = list(ctx.tag_hits)
    after = [s for s in hits if s.at >= submitted and s.hit.vendor != "url"]
    chosen: dict[tuple[str, str, str], list[Seen]] = {}
    others: list[Hit] = []
    for seen in after:
        if _is_conversion(seen.hit):
            chosen.setdefault((seen.hit.vendor, seen.hit.id, seen.hit.event), []).append(seen)
        else:
            others.append(seen.hit)
    by_vendor = sorted(chosen.items(), key=lambda item: VENDORS.index(item[0][0]))  # then as they fired: a stable file
    for (vendor, ident, event), seens in by_vendor:
        first = seens[0]
        money = next((s.hit for s in seens if s.hit.value is not None), None)
        entry = _entry(vendor, ident, event, money)
        try:
            ConversionTag.model_validate(entry)
        except ValueError:  # an id no tag would have (a page's own endpoint that looks alike): named, never expected
            others.append(first.hit)
            continue
        if len(learned.conversions) == MAX_RECORDED:
            learned.unwritten += 1
            continue
        page = urlsplit(first.page).path if first.page else ""
        why = f"fired {first.at - submitted:.1f}s after submit via {first.transport}" + (f" on {page}" if page else "")
        learned.conversions.append(LearnedTag(entry, clean(why, 160)))
        if any(s.at < submitted and (s.hit.vendor, s.hit.id, s.hit.event) == (vendor, ident, event) for s in hits):
            learned.early.append(first.hit.describe())
    others.sort(key=lambda hit: VENDORS.index(hit.vendor))
    learned.others = list(dict.fromkeys(hit.describe() for hit in others))
    return learned


def _is_conversion(hit: Hit) -> bool:
    if len(hit.event) > 100 or len(hit.id) > 100:
        return False
    if hit.vendor == "ga4":
        return hit.event not in GA4_NOT_CONVERSIONS
    if hit.vendor == "meta":
        return hit.event not in META_NOT_CONVERSIONS
    if hit.vendor == "linkedin":
        return hit.event != "page view"  # tag_hits: a hit without conversionId is the Insight tag's page view
    return hit.vendor == "google_ads"


def _entry(vendor: str, ident: str, event: str, money: Hit | None) -> dict[str, str]:
    """`{"ga4": "G-…", "event": "generate_lead", "value": "49.00", "currency": "EUR"}`, in the kind's own keys."""
    if vendor == "google_ads":
        entry = {"google_ads": f"{ident}/{event}" if event else ident}
    elif vendor == "linkedin":
        entry = {"linkedin": ident, "conversion": event}
    else:
        entry = {vendor: ident, "event": event}
    if money is not None and money.value is not None and vendor != "linkedin":
        entry["value"] = money.value
        if money.currency:
            entry["currency"] = money.currency
    return entry


async def _all_text(ctx: "StepContext") -> str:
    async def one(frame: Any) -> str:
        try:
            return str(await asyncio.wait_for(frame.evaluate("() => document.body ? document.body.innerText : ''"), 2.0))
        except Exception:
            return ""

    return "\n".join(await asyncio.gather(*(one(f) for f in ctx.page.frames)))


def _new_sentence(before: str, after: str, personal: list[str]) -> str:
    """The first line the page shows now that it did not show before: a sentence if there is one, else a heading."""
    seen = {normalize(line) for line in before.splitlines() if line.strip()}
    fresh = []
    for line in after.splitlines():
        text = clean(line, 300)
        if not text or normalize(text) in seen or mentions(text, personal):
            continue
        fresh.append(text)
    for line in fresh:
        if len(line.split()) >= 3 and len(line) <= 120:
            return _short(line)
    return _short(fresh[0]) if fresh else ""


def mentions(text: str, personal: list[str]) -> bool:
    """`text` names one of the values typed into the form (whole words, as typed)."""
    return any(value and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) for value in personal)


def _short(text: str, limit: int = 80) -> str:
    """A phrase short enough to survive small copy edits: up to the first sentence end, at most `limit` characters."""
    text = clean(text, limit)
    sentence = re.match(r"(.{12,}?[.!?])(\s|$)", text)
    return (sentence.group(1) if sentence else text).rstrip(" .!?") if len(text) > 40 else text.rstrip(" .")


# --- the delivery email ----------------------------------------------------------------


async def wait_for_delivery(ctx: "StepContext", wait_s: float) -> tuple["ReceivedEmail | None", list["ReceivedEmail"], float | None]:
    """The email that carries the asset (or, after a grace, the first that came), everything seen, and its delay."""
    inbox = ctx.inbox
    assert inbox is not None
    submitted = ctx.submitted_at or time.time()
    deadline = time.monotonic() + wait_s
    first_seen_at: float | None = None
    first_delay: float | None = None
    seen: list[ReceivedEmail] = []
    while True:
        seen = await asyncio.to_thread(inbox.messages_for, ctx.token, datetime.fromtimestamp(submitted, timezone.utc))
        for message in seen:
            if _carries_asset(DeliveryEmail.of(message)):
                return message, seen, time.time() - submitted
        now = time.monotonic()
        if seen and first_seen_at is None:
            first_seen_at = now
            first_delay = time.time() - submitted
        if seen and first_seen_at is not None and now - first_seen_at >= ASSET_EMAIL_GRACE_S:
            return seen[0], seen, first_delay
        if now >= deadline:
            return (seen[0], seen, first_delay) if seen else (None, seen, None)
        await asyncio.sleep(POLL_S)


def _candidates(attachments: list[Attachment]) -> list[Attachment]:
    return [a for a in attachments if not (a.inline and a.content_type.startswith("image/")) and a.data]


def asset_link(email: DeliveryEmail) -> Link | None:
    """The link that most looks like the promised asset: a .pdf/.docx URL or download words, never unsubscribe."""
    usable = [link for link in email.links if link.url.lower().startswith(("http://", "https://"))
              and clean(link.text) and not _NOT_ASSET.search(link.text + " " + link.url)]
    for test in (lambda link: _ASSET_URL.search(link.url), lambda link: _ASSET_LINK.search(link.text)):
        for link in usable:
            if test(link):
                return link
    return None


def _carries_asset(email: DeliveryEmail) -> bool:
    return bool(_candidates(email.attachments)) or asset_link(email) is not None


async def inspect_asset(ctx: "StepContext", email: DeliveryEmail) -> tuple[LearnedAsset | None, str]:
    """The asset the email carries, opened and read (attachment first, else its asset link)."""
    attachments = _candidates(email.attachments)
    if attachments:
        chosen = attachments[0]
        path = await asyncio.to_thread(save_bytes, chosen.data)
        try:
            facts = await asyncio.to_thread(inspect_file, path, len(chosen.data))
        finally:
            path.unlink(missing_ok=True)
        return LearnedAsset("attachment", facts, filename=chosen.filename), ""
    link = asset_link(email)
    if link is None:
        return None, "the email has no attachment and no link that looks like the asset"
    cookies = [dict(c) for c in await ctx.context.cookies()]
    guard = AddressGuard(ctx.config.settings.browser.allow_private)
    from ..errors import StepFailed

    try:
        got = await asyncio.to_thread(download, link.url, MAX_ASSET_BYTES, ctx.timeout_s, cookies, f"the link '{link.text}'",
                                      ctx.profile.download_headers() if ctx.profile else None,
                                      ctx.profile.proxy if ctx.profile else None, guard)
    except StepFailed as failure:
        return None, failure.reason
    try:
        facts = await asyncio.to_thread(inspect_file, got.path, got.size)
    except StepFailed as failure:
        return None, failure.reason
    finally:
        got.remove()
    return LearnedAsset("link", facts, link_text=clean(link.text, 80), url=got.url), ""


def subject_phrase(subject: str, personal: list[str]) -> str:
    """The subject without personalisation (the test name, the address), as a phrase to look for."""
    text = clean(subject, 120)
    for value in sorted(personal, key=len, reverse=True):
        if value:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;:-—!")
    return text or clean(subject, 120)


def title_of(facts: AssetFacts) -> str:
    """What `expect.title_contains` should say: the title, else the heading, else the cover's first line."""
    for candidate in (facts.title, facts.heading, *[line for line in facts.text.splitlines() if line.strip()][:1]):
        text = clean(candidate or "", 80)
        if text and not re.fullmatch(r"(untitled|document\d*|microsoft word.*|\S+\.(pdf|docx?))", text, re.I):
            return text
    return ""


def distinctive_phrase(facts: AssetFacts, title: str) -> str:
    """A line of the asset's own text that another document would not have: words, not the title, not boilerplate."""
    lines = [clean(line, 200) for line in facts.text.splitlines()]
    wanted = normalize(title)
    best = ""
    for line in lines[:80]:
        words = line.split()
        if not (2 <= len(words) <= 8) or len(line) > 60 or normalize(line) in wanted or wanted in normalize(line):
            continue
        if re.search(r"©|copyright|all rights|page \d|seite \d|www\.|https?://|@", line, re.I):
            continue
        if sum(ch.isalpha() for ch in line) < len(line) * 0.6:
            continue
        if len(line) > len(best):
            best = line
            if len(words) >= 3:
                break
    return best


def suggest_within(delay_s: float) -> tuple[str, str]:
    """`within` with headroom (5× the observed delay, at least 2m), and the comment saying so."""
    seconds = max(120.0, delay_s * 5)
    if seconds < 3600:
        value = f"{math.ceil(seconds / 60)}m"
    elif seconds < 2 * 86400:
        value = f"{math.ceil(seconds / 3600)}h"
    else:
        value = f"{math.ceil(seconds / 86400)}d"
    return value, f"arrived {_seconds(delay_s)} after submitting; 5x headroom, at least 2m"


def min_size_of(size: int) -> str:
    half = size // 2
    return f"{half // 1000}KB" if half >= 2000 else f"{max(half, 1)}B"


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.0f}m"
