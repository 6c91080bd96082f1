"""Which requests after the click carried the lead, and what they answered.

The submission is recognised by its payload (this attempt's token and the
filled values, as forms and fetch encode them), not by URL patterns, so a
site's own `/api/leads` and a HubSpot endpoint are found alike while
analytics beacons fired by the same click are left out.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from ..redaction import Redactor

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Response

    from .base import StepContext
    from .form_find import FoundForm

#: Analytics, tag managers, chat and A/B tools: their requests and errors are evidence, never the form.
TRACKERS = re.compile(
    r"google-analytics\.com|analytics\.google\.com|googletagmanager\.com|doubleclick\.net|googleadservices\.com"
    r"|facebook\.(com|net)/(tr|signals|en_US/fbevents)|connect\.facebook\.net|bat\.bing\.com|clarity\.ms|licdn\.com"
    r"|px\.ads\.linkedin\.com|hotjar|segment\.(io|com)|mixpanel|amplitude|intercom|drift\.com|driftt|hs-analytics"
    r"|hscollectedforms|hs-scripts|hs-banner|track\.hubspot|sentry|newrelic|nr-data\.net|datadoghq|fullstory|heapanalytics"
    r"|optimizely|visualwebsiteoptimizer|vwo\.|crazyegg|tiktok|ads-twitter|analytics\.twitter|pinimg|pinterest"
    r"|redditstatic|quora|taboola|outbrain|criteo|adroll|zdassets|zopim|tawk\.to|livechat|crisp\.chat"
    r"|/g/collect|/j/collect|/collect\b|/analytics\b|/gtag/|/gtm\.js|/pixel\b|/beacon\b|__ptq\.gif",
    re.I,
)
_SCRIPT_AT = re.compile(r"(https?://[^\s()]+?):(\d+):\d+")

@dataclass
class Sent:
    """A request that left the page after the click: the submission itself, or a page it led to."""

    kind: str
    method: str
    url: str
    resource: str
    request: Any
    started: float
    status: int | None = None
    error: str | None = None
    answered: float | None = None

    @property
    def pending(self) -> bool:
        return self.status is None and self.error is None

    def facts(self, redactor: Redactor) -> dict[str, Any]:
        return {"method": self.method, "url": redactor.redact(self.url[:500]), "status": self.status, "error": self.error, "kind": self.kind}


class Traffic:
    """Classifies requests after the click: which one carried the lead, which pages followed."""

    def __init__(self, page: "Page", form: "FoundForm", markers: list[str]):
        self.page = page
        self.form = form
        self.markers = markers
        self.sent: list[Sent] = []
        self.armed = False

    def start(self) -> None:
        self.page.on("request", self._on_request)
        self.page.on("response", self._on_response)
        self.page.on("requestfailed", self._on_failed)

    def stop(self) -> None:
        for event, handler in (("request", self._on_request), ("response", self._on_response), ("requestfailed", self._on_failed)):
            try:
                self.page.remove_listener(event, handler)
            except Exception:
                pass

    def submissions(self) -> list[Sent]:
        return [s for s in self.sent if s.kind == "submission"]

    def navigations(self) -> list[Sent]:
        return [s for s in self.sent if s.kind == "navigation"]

    def awaiting_document(self) -> bool:
        """A page the click led to is asked for and not answered yet: until it is, the old page has nothing new to say."""
        return any(s.pending and s.resource == "document" for s in self.sent)

    def _find(self, request: "Request") -> Sent | None:
        return next((s for s in self.sent if s.request is request), None)

    def _on_request(self, request: "Request") -> None:
        if not self.armed:
            return
        kind = self._classify(request)
        if kind:
            self.sent.append(Sent(kind, request.method, request.url, request.resource_type, request, time.monotonic()))

    def _on_response(self, response: "Response") -> None:
        sent = self._find(response.request)
        if sent is not None:
            sent.status, sent.answered = response.status, time.monotonic()

    def _on_failed(self, request: "Request") -> None:
        sent = self._find(request)
        if sent is not None:
            sent.error, sent.answered = (request.failure or "failed"), time.monotonic()

    def _classify(self, request: "Request") -> str | None:
        url = request.url
        carries = self._carries_lead(request)
        if request.resource_type == "document":
            try:
                frame = request.frame
            except Exception:
                return None
            if frame is not self.page.main_frame and frame is not self.form.frame:
                return None
            if request.redirected_from is not None:
                origin = self._find(request.redirected_from)
                return "navigation" if origin is not None else ("submission" if carries else "navigation")
            return "submission" if request.method != "GET" or carries else "navigation"
        if request.resource_type in ("fetch", "xhr") and not TRACKERS.search(url):
            if carries or (not self.markers and request.method in ("POST", "PUT", "PATCH")):
                return "submission"
        return None

    def _carries_lead(self, request: "Request") -> bool:
        if not self.markers:
            return False
        try:
            body = (request.post_data_buffer or b"").decode("utf-8", "replace")
        except Exception:
            body = ""
        haystack = request.url + "\n" + body
        return any(marker in haystack for marker in self.markers)


def lead_markers(ctx: "StepContext", fill: dict[str, Any]) -> list[str]:
    """Strings that identify this submission in a request: the token and the filled values, encoded as forms send them."""
    values = [str(ctx.fill_placeholders(v)) for v in fill.values() if isinstance(v, str)]
    if any(ctx.token in value for value in values):
        values.append(ctx.token)
    markers: set[str] = set()
    for value in values:
        if len(value) >= 4 and value.lower() not in ("true", "check", "false"):
            markers.update({value, quote_plus(value), quote(value, safe="")})
    return sorted(markers)
