"""Watches one page follow a click: every hop of the chain, and when the final page is ready.

Playwright's `page.goto` reports only the first document; trackers and
attribution scripts hop on with meta refreshes and `location.replace`, and a
page with a chat widget never reaches `networkidle`. `ChainRecorder` listens to
the page's request/response/framenavigated events from before the click, so
every hop counts (HTTP 3xx via `request.redirected_from`, client-side hops as
fresh main-frame navigations), and it keeps its own network-quiet clock so
"ready" means what a person means: load event (or DOMContentLoaded and a quiet
network if load never comes) plus a short quiet, capped.

    recorder = await ChainRecorder(page).attach()
    await page.goto(url, wait_until="commit")
    ... poll recorder.ready_at() ...
    recorder.detach(); await recorder.finish()
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..hops import has_meta_refresh, parse_refresh
from . import page_idle

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, Request, Response

#: Connections a page may keep open and still count as quiet (polls, long-polls, beacons).
QUIET_MAX_IN_FLIGHT = 2
#: How long the network must stay quiet before the page counts as ready (every page pays it once after load).
QUIET_S = 0.3
#: After the load event, stop waiting for quiet after this long.
QUIET_CAP_S = 3.0
#: A meta refresh due within this many seconds is a hop to wait for; a later one is the page refreshing itself.
META_REFRESH_WAIT_S = 5.0
#: Without a load event (a hanging image), DOMContentLoaded plus this much quiet is ready.
NO_LOAD_QUIET_S = 2.0

_BINDING = "__funnelwatchMetaRefresh"
_META_SCRIPT = (
    "document.addEventListener('DOMContentLoaded', () => {"
    " const m = document.querySelector('meta[http-equiv=\"refresh\" i]');"
    " if (m && window.%s) window.%s(location.href, m.getAttribute('content') || ''); });"
    % (_BINDING, _BINDING)
)
_RECORDERS: "weakref.WeakKeyDictionary[Any, ChainRecorder]" = weakref.WeakKeyDictionary()
_WATCHED: "weakref.WeakSet[Any]" = weakref.WeakSet()
_PREPARED: "weakref.WeakSet[Any]" = weakref.WeakSet()


@dataclass
class RedirectHop:
    """One URL the browser visited on the way, and how it left it.

    `kind` is `http` (a 3xx; `status` says which), `meta_refresh`, `js`
    (`location.replace`, `location.href = …`), `history` (the page rewrote its
    own URL with pushState/replaceState), or `final`.
    """

    url: str
    t_s: float
    status: int | None = None
    kind: str = "final"
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"url": self.url, "status": self.status, "kind": self.kind, "t_s": round(self.t_s, 3)}
        if self.error:
            found["error"] = self.error
        return found


class ChainRecorder:
    """Records the main frame's navigations and network activity of one page."""

    def __init__(self, page: "Page"):
        self.page = page
        self.started = time.monotonic()
        self.hops: list[RedirectHop] = []
        self.last_nav_at = self.started
        self.nav_pending = False
        self.committed_at: float | None = None
        self.dcl_at: float | None = None
        self.load_at: float | None = None
        self.in_flight: set[Any] = set()
        self.quiet_since: float | None = self.started
        self.net_changed_at = self.started  # the last request that started or ended, any origin
        self.refresh_header = False  # the current document's answer carries a Refresh header: a hop to come
        self._hop_of: dict[Any, RedirectHop] = {}
        self.meta_refresh_urls: set[str] = set()
        self.hop_expected_by = 0.0
        self._bodies: list[tuple[RedirectHop, asyncio.Task[Any], str]] = []
        self._handlers = {
            "request": self._on_request,
            "response": self._on_response,
            "requestfinished": self._on_request_done,
            "requestfailed": self._on_request_failed,
            "framenavigated": self._on_framenavigated,
            "domcontentloaded": self._on_dcl,
            "load": self._on_load,
        }

    async def attach(self) -> "ChainRecorder":
        await _watch_meta_refresh(self.page)
        _RECORDERS[self.page] = self
        for event, handler in self._handlers.items():
            self.page.on(event, handler)  # type: ignore[call-overload]
        return self

    def detach(self) -> None:
        if _RECORDERS.get(self.page) is self:
            del _RECORDERS[self.page]
        for event, handler in self._handlers.items():
            try:
                self.page.remove_listener(event, handler)
            except Exception:
                pass

    # --- events -------------------------------------------------------------------

    def _is_main_nav(self, request: "Request") -> bool:
        try:
            return request.is_navigation_request() and request.frame.parent_frame is None
        except Exception:
            return False

    def _on_request(self, request: "Request") -> None:
        now = time.monotonic()
        self.in_flight.add(request)
        self.net_changed_at = now
        self._update_quiet(now)
        if not self._is_main_nav(request):
            return
        self.hop_expected_by = 0.0
        self.refresh_header = False
        if request.redirected_from is None and self.hops and self.hops[-1].kind == "final":
            self.hops[-1].kind = "client"
        hop = RedirectHop(request.url, now - self.started)
        self.hops.append(hop)
        self._hop_of[request] = hop
        self.last_nav_at = now
        self.nav_pending = True

    def _on_response(self, response: "Response") -> None:
        # Chromium does not always report a fetch whose body the page never reads as finished.
        self._on_request_done(response.request)
        hop = self._hop_of.get(response.request)
        if hop is None:
            return
        hop.status = response.status
        if 300 <= response.status < 400 and response.headers.get("location"):
            hop.kind = "http"
            return
        refresh_header = "refresh" in response.headers
        self.refresh_header = refresh_header
        self._bodies.append((hop, asyncio.ensure_future(_body_text(response)), "refresh" if refresh_header else ""))

    def _on_request_done(self, request: "Request") -> None:
        if request in self.in_flight:
            self.in_flight.discard(request)
            self.net_changed_at = time.monotonic()
        self._update_quiet(time.monotonic())

    def _on_request_failed(self, request: "Request") -> None:
        self._on_request_done(request)
        hop = self._hop_of.get(request)
        if hop is not None and hop.status is None:
            hop.error = _failure(request)
            self.nav_pending = False

    def _on_framenavigated(self, frame: Any) -> None:
        if frame.parent_frame is not None:
            return
        now = time.monotonic()
        url = frame.url
        if self.hops and url not in {h.url for h in self.hops[-2:]} and not url.startswith("chrome-error:"):
            previous = self.hops[-1]
            previous.kind = "history" if previous.kind == "final" else previous.kind
            self.hops.append(RedirectHop(url, now - self.started, previous.status))
            return
        if url.startswith("chrome-error:") or (self.hops and url == self.hops[-1].url) or not self.hops:
            self.nav_pending = False
            self.committed_at = now
            self.dcl_at = self.load_at = None

    def _on_dcl(self, _: Any) -> None:
        self.dcl_at = time.monotonic()

    def _on_load(self, _: Any) -> None:
        self.load_at = time.monotonic()
        if self.dcl_at is None:
            self.dcl_at = self.load_at

    def _update_quiet(self, now: float) -> None:
        if len(self.in_flight) > QUIET_MAX_IN_FLIGHT:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = now

    # --- questions the navigation loop asks --------------------------------------------

    @property
    def hop_count(self) -> int:
        return max(0, len(self.hops) - 1)

    def ready_at(self, now: float) -> float | None:
        """When the current document became ready, or None while it is not yet (or is about to hop on)."""
        if self.nav_pending or self.committed_at is None or self.dcl_at is None or now < self.hop_expected_by:
            return None
        self._update_quiet(now)
        quiet = now - self.quiet_since if self.quiet_since is not None else 0.0
        if self.load_at is not None:
            if quiet >= QUIET_S:
                return max(self.load_at, self.quiet_since or self.load_at)
            if now - self.load_at >= QUIET_CAP_S:
                return self.load_at + QUIET_CAP_S
            return None
        if quiet >= NO_LOAD_QUIET_S:
            return max(self.dcl_at, self.quiet_since or self.dcl_at)
        return None

    def may_be_final(self, now: float) -> bool:
        """Loaded, not leaving, no hop announced and the network silent: worth asking the page (`page_idle`)."""
        return (not self.nav_pending and self.committed_at is not None and self.load_at is not None
                and now >= self.hop_expected_by and not self.refresh_header and not self.in_flight
                and now - max(self.net_changed_at, self.load_at) >= page_idle.SETTLE_MS / 1000)

    def page_started_at(self) -> float:
        """When the browser asked for the final document (tracker hops before it are not its load time)."""
        documents = [h for h in self.hops if h.kind != "history"]
        return self.started + documents[-1].t_s if documents else self.started

    async def finish(self) -> list[RedirectHop]:
        """Settle what the events left open: tell meta refreshes from JavaScript hops."""
        for hop, task, hint in self._bodies:
            if hop.kind != "client":
                task.cancel()
                continue
            try:
                body = await asyncio.wait_for(task, timeout=1.0)
            except BaseException:
                body = ""
            meta = hint or hop.url in self.meta_refresh_urls or has_meta_refresh(body or "")
            hop.kind = "meta_refresh" if meta else "js"
        for hop in self.hops:
            if hop.kind == "client":
                hop.kind = "js"
        return self.hops


def _seen_meta_refresh(source: Any, url: str, content: str = "") -> None:
    """The page's script says its document carries a meta refresh (its body may be gone once it hops on)."""
    recorder = _RECORDERS.get((source or {}).get("page"))
    if recorder is not None:
        recorder.meta_refresh_urls.add(url)
        refresh = parse_refresh(content or "")
        if refresh is not None and refresh[0] <= META_REFRESH_WAIT_S:
            recorder.hop_expected_by = time.monotonic() + refresh[0] + 1.0


async def prepare_context(context: "BrowserContext") -> None:
    """Install the page scripts on a context before its first page opens.

    On the context they ride along with the page's creation; on a live page
    each is a round trip that evaluates into every frame (0.1-0.5 s per page
    with four checks at once on two cores, bench/RESULTS.md #21). Popups of
    the context get them too.
    """
    try:
        await asyncio.gather(context.expose_binding(_BINDING, _seen_meta_refresh),
                             context.add_init_script(_META_SCRIPT + "\n" + page_idle.INIT_JS))
    except Exception:
        return
    _PREPARED.add(context)


async def _watch_meta_refresh(page: "Page") -> None:
    """Have each document tell us it carries a meta refresh, unless its context already does (`prepare_context`)."""
    if page in _WATCHED or page.context in _PREPARED:
        return
    _WATCHED.add(page)
    try:
        await page.expose_binding(_BINDING, _seen_meta_refresh)
        await page.add_init_script(_META_SCRIPT + "\n" + page_idle.INIT_JS)
    except Exception:
        pass


async def _body_text(response: "Response") -> str:
    try:
        return (await response.text())[:200_000]
    except Exception:
        return ""


def _failure(request: "Request") -> str:
    try:
        return str(request.failure or "failed")
    except Exception:
        return "failed"
