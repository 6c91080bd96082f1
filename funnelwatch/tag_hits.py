"""Which requests are analytics and ad-platform hits, and what each one says.

A hit is recognised by its path and parameters, never by its host: server-side
tagging serves GA4 and Meta from the site's own domain (`metrics.example.com/g/collect`).
Pure functions over (method, URL, body), so the browser's answering
(`netguard`), the page's evidence (`page_events`) and the `conversions` step
read hits alike, and tests need no browser.

    recognise("GET", "https://www.facebook.com/tr/?id=123&ev=Lead", b"")
    # [Hit(vendor='meta', id='123', event='Lead', ...)]

| vendor | path | needs | id | event | value, currency |
|---|---|---|---|---|---|
| `ga4` | `/g/collect` | `tid`, `en` (query or one body line per event) | `tid` | `en` | `epn.value`, `cu` |
| `google_ads` | `/pagead/conversion/<id>/`, `/pagead/viewthroughconversion/<id>/` (and `1p-conversion`) | | `AW-<id>` | `label` | `value`, `currency_code` |
| `meta` | `/tr`, `/tr/` | `id`, `ev` (query or POST body) | `id` | `ev` | `cd[value]`, `cd[currency]` |
| `linkedin` | `/collect` | `pid` | `pid` | `conversionId`, else page view | |

The tag libraries (gtm.js, gtag/js, fbevents.js, insight.min.js) are none of
these: they load normally, because without them nothing fires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

VENDOR_NAMES = {"ga4": "GA4", "google_ads": "Google Ads", "meta": "Meta pixel", "linkedin": "LinkedIn Insight", "url": "url: glob"}
#: How many events one batched GA4 body may yield (a page cannot flood the evidence).
MAX_EVENTS_PER_HIT = 25
_ADS_PATH = re.compile(r"/pagead/(conversion|viewthroughconversion|1p-conversion)/(\d+)/?$")
_META_PATH = re.compile(r"/tr/?$")


@dataclass(frozen=True)
class Hit:
    """One event a request reports to an analytics or ad platform."""

    vendor: str  # ga4 | google_ads | meta | linkedin
    id: str
    event: str
    value: str | None = None
    currency: str | None = None

    def describe(self) -> str:
        """`GA4 G-ABC123 generate_lead (49.00 EUR)`."""
        money = f" ({self.value}{' ' + self.currency if self.currency else ''})" if self.value is not None else ""
        return f"{VENDOR_NAMES.get(self.vendor, self.vendor)} {self.id} {self.event}{money}"


#: How a hit was sent, by its resource type (the browser-wide interception calls fetch() and XHR alike "fetch/xhr").
_TRANSPORTS = {"ping": "sendBeacon", "fetch": "fetch", "xhr": "XHR", "fetch/xhr": "fetch/XHR", "image": "image", "script": "script", "document": "page"}


@dataclass
class Seen:
    """A hit the browser attempted during one attempt: when, how, from which page, and whether it was answered."""

    hit: Hit
    at: float  # epoch seconds
    url: str
    transport: str
    answered: bool
    page: str = ""  # the page that sent it
    source: int | None = None  # a `url:` glob's hit: its index in the context's requests
    expected: str = ""  # "✓" once the `conversions` step counted it

    def facts(self, submitted_at: float | None, started: float, redactor: Any) -> dict[str, Any]:
        """The funnel page's row: vendor, id, event, value, when (relative to submit), answered or sent."""
        if submitted_at is not None:
            delta = self.at - submitted_at
            when = f"{delta:+.1f}s " + ("after submit" if delta >= 0 else "before submit")
        else:
            when = f"{self.at - started:.1f}s after start"
        return {**as_facts(self.hit), "when": when, "sent_by": self.transport,
                "handling": "answered" if self.answered else "sent", "expected": self.expected,
                "url": redactor.redact(self.url[:300])}


def transport_of(resource_type: str) -> str:
    return _TRANSPORTS.get(resource_type, resource_type)


def body_text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    return body if isinstance(body, str) else body.decode("utf-8", "replace")


def _params(text: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _form_body(body: str, content_type: str = "") -> dict[str, str]:
    """Fields of a urlencoded or multipart/form-data body (a Meta pixel POST is multipart)."""
    if not body:
        return {}
    boundary = re.search(r"boundary=\"?([^\";]+)", content_type)
    marker = ("--" + boundary.group(1)) if boundary else (body.split("\r\n", 1)[0] if body.startswith("--") else "")
    if marker:
        fields: dict[str, str] = {}
        for part in body.split(marker):
            head, _, value = part.partition("\r\n\r\n")
            name = re.search(r'name="([^"]*)"', head)
            if name:
                fields[name.group(1)] = value.rsplit("\r\n", 1)[0] if value.endswith("\r\n") else value
        return fields
    return _params(body.strip())


def recognise(method: str, url: str, body: bytes | str | None = None, content_type: str = "") -> list[Hit]:
    """The hits one request carries (none: it is not an analytics or ad hit)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if parts.scheme not in ("http", "https"):
        return []
    path, query = parts.path, _params(parts.query)
    if path.endswith("/g/collect"):
        return _ga4(query, body_text(body))
    ads = _ADS_PATH.search(path)
    if ads:
        return [Hit("google_ads", f"AW-{ads.group(2)}", query.get("label", ""), query.get("value") or None,
                    query.get("currency_code") or None)]
    if _META_PATH.search(path):
        fields = {**query, **(_form_body(body_text(body), content_type) if method.upper() == "POST" else {})}
        if fields.get("id") and fields.get("ev"):
            return [Hit("meta", fields["id"], fields["ev"], fields.get("cd[value]") or None, fields.get("cd[currency]") or None)]
        return []
    if path.endswith("/collect") and query.get("pid"):
        return [Hit("linkedin", query["pid"], query.get("conversionId") or "page view")]
    return []


def _ga4(query: dict[str, str], body: str) -> list[Hit]:
    """GA4's Measurement Protocol as gtag sends it: shared parameters in the query, one event per body line."""
    tid = query.get("tid")
    if not tid:
        return []
    lines = [query] if query.get("en") else []
    lines += [{**query, **_params(line)} for line in body.splitlines() if "en=" in line]
    hits = []
    for event in lines[:MAX_EVENTS_PER_HIT]:
        if event.get("en"):
            hits.append(Hit("ga4", event.get("tid") or tid, event["en"], event.get("epn.value") or None, event.get("cu") or None))
    return hits


def is_hit(method: str, url: str, body: bytes | str | None = None, content_type: str = "") -> bool:
    """Whether the browser answers this request itself (a CORS preflight of a hit counts too)."""
    if method.upper() == "OPTIONS":
        return bool(recognise("GET", url))
    return bool(recognise(method, url, body, content_type)) or _looks_like_hit_without_body(method, url)


def _looks_like_hit_without_body(method: str, url: str) -> bool:
    """A POST whose body the browser did not hand over (large bodies): its path and query still say what it is."""
    if method.upper() != "POST":
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    query = _params(parts.query)
    return (parts.path.endswith("/g/collect") and bool(query.get("tid"))) or bool(_META_PATH.search(parts.path) and query.get("id"))


def path_and_query(url: str) -> str:
    """What a `url:` glob is matched against: `/collect?ev=lead&x=1`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def matches_glob(url: str, globs: Sequence[str]) -> bool:
    """Whether a URL's path and query match one of `globs` (`*` anything, `?` one character)."""
    import fnmatch

    target = path_and_query(url)
    return any(fnmatch.fnmatchcase(target, glob) for glob in globs)


def as_facts(hit: Hit) -> dict[str, Any]:
    return {"vendor": VENDOR_NAMES.get(hit.vendor, hit.vendor), "id": hit.id, "event": hit.event,
            "value": (f"{hit.value} {hit.currency or ''}".strip() if hit.value is not None else None)}
