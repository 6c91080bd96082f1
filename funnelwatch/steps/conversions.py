"""The `conversions` step: once the form succeeded, did the ad platforms hear about the lead?

A conversion tag that stopped firing (a tag-manager update, a new thank-you
template, a consent-tool change) starves Google Ads' and Meta's bidding while
the form keeps working. This step runs after the form (or custom steps)
succeeded, on the same page — or after landing when the check has no form —
and looks at the hits the browser attempted. They are collected for the
whole context from its first request (`page_events`, `tag_hits`), so a hit
sent while the form's page unloads is seen, and so is one sent on landing,
before the submit.

    conversions:
      - ga4: G-ABC123XYZ          # event defaults to generate_lead
      - google_ads: AW-123456789/AbC-D_efG-hIjk
      - meta: "1234567890"        # event defaults to Lead
        value: 49.00
        currency: EUR
      - linkedin: "123456"
        conversion: "789"
      - url: "/collect?*ev=lead*"

The wait is bounded by `browser.tag_quiet` (default 3s): it ends as soon as
every tag fired, else once no new hit arrived for that long.

Failures: `conversion_missing` (the reason names the tag and what did fire
instead) and `conversion_early` (the conversion fired before the form was
submitted: every visitor would count as a lead).

Evidence, `ctx.evidence["conversions"]` (every hit itself is in `evidence["tags"]`):

    {"expected": [{"seen": "✓", "tag": "GA4 G-ABC123XYZ generate_lead", "fired": "+0.4s after submit (sendBeacon)"}],
     "waited_s": 0.42, "quiet_s": 3.0}
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, model_validator

from ..errors import StepFailed
from ..fields import Strict
from ..results import Category
from ..tag_hits import VENDOR_NAMES, Hit, Seen, path_and_query, transport_of
from .base import EvidenceKit, StepKind

if TYPE_CHECKING:
    from .base import StepContext

VENDORS = ("ga4", "google_ads", "meta", "linkedin", "url")
DEFAULT_EVENTS = {"ga4": "generate_lead", "meta": "Lead"}
POLL_S = 0.1
#: However busy the page, the wait ends after this many quiet periods.
MAX_QUIET_PERIODS = 4


def _text(value: Any) -> Any:
    """Ids and values are text as written (`meta: 1234567890` unquoted is still the pixel id)."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


_text.accepts_numbers = True  # type: ignore[attr-defined]  # the JSON Schema says so (config_schema.py)
Text = Annotated[str, BeforeValidator(_text)]


class ConversionTag(Strict):
    """One tag that must fire: exactly one of ga4, google_ads, meta, linkedin, url."""

    ga4: Text | None = None
    google_ads: Text | None = None
    meta: Text | None = None
    linkedin: Text | None = None
    url: Text | None = None
    event: Text | None = None
    conversion: Text | None = None
    value: Text | None = None
    currency: Text | None = None

    @model_validator(mode="after")
    def _one_vendor(self) -> "ConversionTag":
        given = [v for v in VENDORS if getattr(self, v) is not None]
        if len(given) != 1:
            raise ValueError(f"each tag names exactly one of {', '.join(VENDORS)}; this one has {', '.join(given) or 'none'}")
        vendor, ident = given[0], getattr(self, given[0]).strip()
        if self.event is not None and vendor not in DEFAULT_EVENTS:
            raise ValueError(f"event is for ga4 and meta tags; a {vendor} tag "
                             + ("names its conversion id with conversion:" if vendor == "linkedin" else "has no event"))
        if self.conversion is not None and vendor != "linkedin":
            raise ValueError("conversion is the LinkedIn conversion id; for Google Ads write google_ads: AW-<id>/<label>")
        if (self.value is not None or self.currency is not None) and vendor not in ("ga4", "meta", "google_ads"):
            raise ValueError(f"a {vendor} tag carries no value or currency funnelwatch can compare")
        if vendor == "ga4" and not ident.upper().startswith("G-"):
            raise ValueError(f"'{ident}' is not a GA4 measurement id — it looks like G-ABC123XYZ (Admin → Data streams)")
        if vendor == "google_ads" and not (ident.upper().startswith("AW-") and ident[3:].split("/", 1)[0].isdigit()):
            raise ValueError(f"'{ident}' is not a Google Ads conversion — write AW-<conversion id>/<label>, as in the tag's send_to")
        if vendor in ("meta", "linkedin") and not ident.isdigit():
            raise ValueError(f"'{ident}' is not a {VENDOR_NAMES[vendor]} id — it is a number, like \"1234567890\"")
        if vendor == "url" and not ident.startswith(("/", "*")):
            raise ValueError(f"'{ident}' is a glob on the hit's path and query — start it with / or *, like \"/collect?*ev=lead*\"")
        return self

    # --- what this tag is -----------------------------------------------------------

    @property
    def vendor(self) -> str:
        return next(v for v in VENDORS if getattr(self, v) is not None)

    @property
    def ident(self) -> str:
        """The id hits carry: `G-ABC123XYZ`, `AW-123456789`, the pixel or partner id, the glob."""
        raw = str(getattr(self, self.vendor)).strip()
        return raw.split("/", 1)[0].upper() if self.vendor == "google_ads" else (raw.upper() if self.vendor == "ga4" else raw)

    @property
    def wanted_event(self) -> str | None:
        """The event a hit must carry (None: any event of this id)."""
        if self.vendor == "google_ads":
            _, _, label = str(self.google_ads).partition("/")
            return label.strip() or None
        if self.vendor == "linkedin":
            return self.conversion
        return self.event or DEFAULT_EVENTS.get(self.vendor)

    def label(self) -> str:
        """`GA4 G-ABC123XYZ`, `Meta pixel 1234567890`, `the tag matching /collect?*ev=lead*`."""
        if self.vendor == "url":
            return f"the tag matching {self.ident}"
        return f"{VENDOR_NAMES[self.vendor]} {self.ident}"

    def describe(self) -> str:
        event = self.wanted_event
        money = f" with value {self.value}{' ' + self.currency if self.currency else ''}" if self.value or self.currency else ""
        return f"{self.label()}{' ' + event_words(self.vendor, event) if event else ''}{money}"

    # --- matching -----------------------------------------------------------------------

    def same_tag(self, hit: Hit) -> bool:
        return hit.vendor == self.vendor and _same_id(self.vendor, hit.id, self.ident)

    def same_event(self, hit: Hit) -> bool:
        return self.wanted_event is None or hit.event == self.wanted_event

    def same_money(self, hit: Hit) -> bool:
        if self.value is not None and not _same_number(self.value, hit.value):
            return False
        return self.currency is None or hit.currency == self.currency


def _same_id(vendor: str, got: str, wanted: str) -> bool:
    return got.upper() == wanted.upper() if vendor in ("ga4", "google_ads") else got == wanted


def _same_number(wanted: str, got: str | None) -> bool:
    if got is None:
        return False
    try:
        return Decimal(wanted.strip()) == Decimal(got.strip())
    except InvalidOperation:
        return wanted.strip() == got.strip()


def event_words(vendor: str, event: str) -> str:
    return f"conversion {event}" if vendor in ("google_ads", "linkedin") and event != "page view" else event


class Conversions(StepKind):
    """The conversion tags: each expected hit fired after the form's success, not before its submit."""

    name = "conversions"
    title = "Conversion tags"
    model = ConversionTag
    listed = True

    def needs_page(self, section: list[ConversionTag]) -> bool:
        return True

    def answered_globs(self, section: list[ConversionTag]) -> list[str]:
        """A `url:` tag's hits are answered in the browser too: no synthetic lead reaches that tool either."""
        return [tag.ident for tag in section if tag.vendor == "url"]

    def time_cap_s(self, section: Any, timeout_s: float) -> float:
        return timeout_s + 10

    async def run(self, ctx: "StepContext", section: list[ConversionTag]) -> None:
        quiet = ctx.config.settings.browser.tag_quiet
        began = time.time()
        submitted = ctx.submitted_at
        urls = [tag for tag in section if tag.vendor == "url"]
        cap = min(quiet * MAX_QUIET_PERIODS, ctx.timeout_s)
        told = False
        while True:
            _add_url_hits(ctx, urls)
            rows = [_judge(tag, ctx.tag_hits, submitted) for tag in section]
            now = time.time()
            last = max([began] + [seen.at for seen in ctx.tag_hits])
            if all(row["state"] != "missing" for row in rows) or now - last >= quiet or now - began >= cap:
                break
            if not told:  # a watching terminal says what this attempt waits for
                ctx.waiting("waiting for the conversion tags", cap)
                told = True
            await asyncio.sleep(POLL_S)
        ctx.evidence["conversions"] = {
            "expected": [{k: v for k, v in row.items() if not k.startswith("_") and k != "state"} for row in rows],
            "waited_s": round(time.time() - began, 2), "quiet_s": quiet,
        }
        early = [row for row in rows if row["state"] == "early"]
        missing = [row for row in rows if row["state"] == "missing"]
        if early:
            raise StepFailed(Category.CONVERSION_EARLY, early[0]["_reason"] + _more(len(early) - 1, "fired early"))
        if missing:
            raise StepFailed(Category.CONVERSION_MISSING, missing[0]["_reason"] + _more(len(missing) - 1, "missing"))

    def evidence(self, value: Any, kit: EvidenceKit) -> list[Any]:
        if not isinstance(value, dict) or not isinstance(value.get("expected"), list):
            return kit.facts(self.title, value)
        rows = kit.table("Tags: the conversions this funnel must send", value["expected"], ["seen", "tag", "fired"])
        return rows + kit.facts("Tag wait", {k: v for k, v in value.items() if k != "expected"})


def _more(count: int, what: str) -> str:
    return f" (and {count} more tag{'s' if count > 1 else ''} {what})" if count > 0 else ""


def _add_url_hits(ctx: "StepContext", tags: list[ConversionTag]) -> None:
    """Requests a `url:` glob matches become hits of their own (vendor `url`), once each."""
    if not tags:
        return
    known = {seen.source for seen in ctx.tag_hits if seen.source is not None}
    for index, request in enumerate(list(ctx.requests_seen)):
        if index in known:
            continue
        target = path_and_query(request["url"])
        for tag in tags:
            if fnmatch.fnmatchcase(target, tag.ident):
                answered = ctx.config.settings.browser.analytics == "answer"
                ctx.tag_hits.append(Seen(Hit("url", tag.ident, "match"), request["at"], request["url"],
                                         transport_of(request["resource"]), answered, page=request["page"], source=index))
                break


def _judge(tag: ConversionTag, hits: list[Seen], submitted: float | None) -> dict[str, Any]:
    """One expected tag: fired (✓), early, or missing — with the reason and what fired instead."""
    after = [s for s in hits if submitted is None or s.at >= submitted]
    before = [s for s in hits if submitted is not None and s.at < submitted]
    fired = [s for s in after if tag.same_tag(s.hit) and tag.same_event(s.hit) and tag.same_money(s.hit)]
    early = [s for s in before if tag.same_tag(s.hit) and tag.same_event(s.hit)]
    for seen in fired:
        seen.expected = "✓"
    for seen in early:
        seen.expected = "✗ before submit"
    row: dict[str, Any] = {"tag": tag.describe()}
    if early and submitted is not None:
        first = early[0]
        where = f" on {first.page}" if first.page else ""
        row.update(seen="✗", state="early", fired=f"{submitted - first.at:.1f}s before submit{where}",
                   _reason=f"{tag.describe()} fired {submitted - first.at:.1f}s before the form was submitted{where}: "
                           "every visitor counts as a lead")
        return row
    if fired:
        first = fired[0]
        when = f"+{first.at - submitted:.1f}s after submit" if submitted is not None else "on the page"
        row.update(seen="✓", state="fired", fired=f"{when} ({first.transport})")
        return row
    reason = _missing_reason(tag, [s.hit for s in after], submitted is not None)
    row.update(seen="✗", state="missing", fired="not fired", _reason=reason)
    return row


def _missing_reason(tag: ConversionTag, hits: list[Hit], submitted: bool) -> str:
    """ "GA4 G-ABC123 sent page_view but no generate_lead; a generate_lead went to G-OTHER999"."""
    where = "after the form's success" if submitted else "on the page"
    event = tag.wanted_event
    wanted = event_words(tag.vendor, event) if event else "hit"
    own = [h for h in hits if tag.same_tag(h)]
    own_event = [h for h in own if tag.same_event(h)]
    if own_event:
        got = own_event[0]
        money = f"{got.value}{' ' + got.currency if got.currency else ''}" if got.value is not None else "no value"
        want = f"{tag.value or ''}{' ' + tag.currency if tag.currency else ''}".strip()
        reason = f"{tag.label()} sent {wanted} with {money}, not {want}"
    elif own:
        sent = ", ".join(dict.fromkeys(event_words(h.vendor, h.event) for h in own))
        reason = f"{tag.label()} sent {sent} but no {wanted}"
    else:
        reason = f"{tag.label()} sent no {wanted} {where}" if event else f"{tag.label()} sent nothing {where}"
    elsewhere = list(dict.fromkeys(h.id for h in hits if h.vendor == tag.vendor and not tag.same_tag(h) and tag.same_event(h)))
    if elsewhere and tag.vendor != "url":
        reason += f"; a{'n' if wanted[:1] in 'aeiou' else ''} {wanted} went to {', '.join(elsewhere[:3])}"
    elif not own:
        others = list(dict.fromkeys(h.describe() for h in hits if h.vendor != "url"))
        reason += f"; fired instead: {', '.join(others[:3])}" + (f" and {len(others) - 3} more" if len(others) > 3 else "") \
            if others else "; no analytics or ad hit fired at all"
    return reason
