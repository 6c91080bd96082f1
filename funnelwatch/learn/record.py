"""`new --learn`: submit once with the form step itself, and write down what a good run looked like.

The submission is the nightly form step's own (`steps.form.Form.run`: find,
fill, click, judge), run with no `success` yet, so a 500, a validation
message, a CAPTCHA or a script error stops `new` exactly as it would fail a
check. What follows the success — the thank-you URL and text, the delivery
email, the asset behind its link or attachment, how long the email took —
becomes the check's expectations.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..asset_facts import AssetFacts, download, inspect_file, save_bytes
from ..email_facts import Attachment, DeliveryEmail, Link
from ..netguard import AddressGuard
from ..steps.form import Form, FormSection
from ..steps.pagekit import normalize, wait_ready
from .yamltext import clean

if TYPE_CHECKING:
    from ..inbox.base import ReceivedEmail
    from ..steps.base import StepContext

#: Once some email arrived, how long to wait on for one that carries the asset (a confirmation often comes first).
ASSET_EMAIL_GRACE_S = 15.0
POLL_S = 0.5
MAX_ASSET_BYTES = 50_000_000
_ASSET_LINK = re.compile(r"download|get (it|the|your)|access|read|view (the|your)|your (copy|guide|report|e-?book|checklist)|"
                         r"herunterladen|jetzt lesen|t[ée]l[ée]charger|descargar|pdf|e-?book|white.?paper|guide|report|checklist", re.I)
_NOT_ASSET = re.compile(r"unsubscribe|abmelden|preferences|privacy|datenschutz|view (this email )?in (your )?browser|"
                        r"webversion|impressum|imprint|terms|facebook|twitter|linkedin|instagram|youtube", re.I)
_ASSET_URL = re.compile(r"\.(pdf|docx?)(\?|#|$)", re.I)


@dataclass
class LearnedAsset:
    source: str  # "link" | "attachment"
    facts: AssetFacts
    link_text: str = ""
    url: str = ""
    filename: str = ""


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
    #: Conversion tags seen firing after success — see `record_conversions`.
    conversions: list[dict[str, Any]] = field(default_factory=list)


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
    learned.conversions = record_conversions(ctx)
    return learned


def record_conversions(ctx: "StepContext") -> list[dict[str, Any]]:
    """TODO(conversions): the conversion tags that fired after success, as `conversions:` entries.

    The `conversions` step kind (GA4, Google Ads, Meta, LinkedIn hits recognised by path and
    parameters, answered inside the browser) is being built on another branch. Once it has
    landed, read the hits it recorded on `ctx` here and return them as check entries
    (`{"ga4": "G-…", "event": "generate_lead"}`); `draft.py` writes a non-empty list as the
    check's `conversions:` section. Until then nothing is recorded and the file says so.
    """
    return []


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
        seen = await asyncio.to_thread(inbox.messages_for, ctx.token)
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
