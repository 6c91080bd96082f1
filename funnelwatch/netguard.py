"""Keeps the browser and the asset download away from internal addresses.

A hostile or hacked page (or a click tracker) can redirect funnelwatch to
`http://169.254.169.254/` (a cloud's metadata service, which hands out
credentials) or to the office network. So every request is checked before it
leaves, after DNS resolution (a host is blocked if any of its addresses is):

- link-local (169.254.0.0/16, fe80::/10) and cloud-metadata addresses: always blocked;
- private ranges (10/8, 172.16/12, 192.168/16, fc00::/7): blocked unless listed in
  `browser.allow_private` (a staging site, `[10.1.0.0/16]`);
- loopback and public addresses: allowed (local test sites and the demo work).

The browser is guarded at the browser level (every context, frame, worker and
redirect hop is paused until its host is checked; Playwright's `route` never
sees redirect hops); the asset download checks every hop itself.

    guard = AddressGuard(["10.1.0.0/16"])
    guard.check("http://169.254.169.254/latest/meta-data/")  # 'http://169.254.169.254/… is blocked: …'
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .threads import in_daemon_thread

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]

LINK_LOCAL: tuple[IPNetwork, ...] = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
PRIVATE: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
#: AWS/GCP/Azure/OpenStack, AWS ECS, AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata.azure.internal"})
RESOLVE_DEADLINE_S = 10.0
ANSWER_SETTLE_S = 2.0
ANSWER_GRACE_S = 0.3
_KEPT_BLOCKS = 500
_recent_blocks: OrderedDict[str, str] = OrderedDict()
_recent_lock = threading.Lock()


def system_resolver(host: str) -> list[str]:
    """Every address `host` resolves to; none when it does not resolve (the fetch then fails on its own)."""
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError, ValueError):
        return []


def _ip(address: str) -> IPAddress | None:
    """The address (an IPv4-mapped IPv6 one as IPv4, a `%zone` dropped), or None if it is not one."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def kind_of(address: str) -> str | None:
    """`cloud-metadata`, `link-local`, `private`, or None for an address anyone may fetch."""
    ip = _ip(address)
    if ip is None:
        return None
    if ip in METADATA_ADDRESSES:
        return "cloud-metadata"
    if any(ip in network for network in LINK_LOCAL):
        return "link-local"
    if any(ip in network for network in PRIVATE):
        return "private"
    return None


def parse_networks(values: Sequence[str]) -> list[IPNetwork]:
    """`browser.allow_private` as networks; raises ValueError naming a bad entry."""
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise ValueError(f"'{value}' is not an address range — write it like 10.1.0.0/16 or 192.168.5.20") from None
        if any(network.overlaps(n) for n in LINK_LOCAL) or any(ipaddress.ip_address(a) in network for a in METADATA_ADDRESSES):
            raise ValueError(f"'{value}' covers link-local or cloud-metadata addresses, which are never allowed")
        networks.append(network)
    return networks


class AddressGuard:
    """Decides whether a URL may be fetched; each host is resolved once per guard (one per browser or download)."""

    def __init__(self, allow_private: Sequence[str] = (), resolve: Resolver = system_resolver):
        self.allowed = parse_networks(allow_private)
        self.resolve = resolve
        self._hosts: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> str | None:
        """Why `url` must not be fetched (one line, saying how to allow it if it can be), or None."""
        host = _host_of(url)
        if host is None:
            return None
        with self._lock:
            known = host in self._hosts
            problem = self._hosts.get(host)
        if not known:
            problem = self._judge(host)
            with self._lock:
                self._hosts[host] = problem
        return f"{_short(url)} is blocked: {problem}" if problem else None

    def known(self, url: str) -> bool:
        """Whether `check(url)` answers at once (an IP literal, a non-web URL, or a host already resolved)."""
        host = _host_of(url)
        if host is None or _is_ip(host):
            return True
        with self._lock:
            return host in self._hosts

    def _judge(self, host: str) -> str | None:
        if host.rstrip(".").lower() in METADATA_HOSTS:
            return f"{host} is a cloud-metadata service — funnelwatch never fetches it (it hands out credentials)"
        addresses = [host] if _is_ip(host) else self.resolve(host)
        for address in addresses:
            kind = kind_of(address)
            if kind == "private" and any(_ip(address) in n for n in self.allowed):
                continue
            if kind is not None:
                return _explain(host, address, kind)
        return None


def _explain(host: str, address: str, kind: str) -> str:
    shown = host if host == address else f"{host} ({address})"
    if kind == "private":
        ip = _ip(address) or ipaddress.ip_address("10.0.0.0")
        suggested = ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False)
        return (f"{shown} is a private network address — if this is your own staging site, allow it with "
                f"`browser.allow_private: [{suggested}]` in config/funnelwatch.yaml")
    return (f"{shown} is a {kind} address — funnelwatch never fetches these (a page must not reach cloud credentials), "
            "and browser.allow_private cannot allow them")


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not host:
        return None
    return host


def _is_ip(host: str) -> bool:
    return _ip(host) is not None


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:197] + "…"


def remember_block(url: str, reason: str) -> None:
    """Keep why the browser blocked `url`, so the step that sees `ERR_BLOCKED_BY_CLIENT` can say it."""
    with _recent_lock:
        _recent_blocks[url] = reason
        _recent_blocks.move_to_end(url)
        while len(_recent_blocks) > _KEPT_BLOCKS:
            _recent_blocks.popitem(last=False)


def block_reason(*urls: str) -> str | None:
    """Why the browser blocked the first of `urls` it blocked, if it did."""
    with _recent_lock:
        for url in urls:
            if url in _recent_blocks:
                return _recent_blocks[url]
    return None


async def guard_browser(browser: Any, guard: AddressGuard, answer_hits: bool = False, answer_globs: Sequence[str] = ()) -> Any:
    """Pause every request of `browser` (all contexts, frames, workers, redirect hops) until `guard` allows it.

    With `answer_hits`, analytics and ad hits (`tag_hits.is_hit`) are answered
    right here with an empty 204 and never leave the machine: a synthetic lead
    must not reach anyone's analytics. So are requests whose path and query
    match one of `answer_globs` (the checks' own tags). Uses Chromium's browser-wide request
    interception (CDP `Fetch`); returns the session (kept alive with the browser).
    """
    session = await browser.new_browser_cdp_session()
    pending: set[asyncio.Task[None]] = set()
    watch = _watches[browser] = HitWatch()

    async def decide(event: dict[str, Any], hit: bool = False) -> None:
        request_id, url = event["requestId"], event["request"]["url"]
        try:
            if guard.known(url):
                reason = guard.check(url)
            else:
                reason = await in_daemon_thread(guard.check, url, deadline_s=RESOLVE_DEADLINE_S)
        except Exception:
            reason = f"{_short(url)} is blocked: its address could not be checked within {RESOLVE_DEADLINE_S:g}s"
        try:
            if reason:
                remember_block(url, reason)
                await session.send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
            else:
                await session.send("Fetch.continueRequest", {"requestId": request_id})
        except Exception:  # the request was cancelled or the browser went away
            pass
        finally:
            if hit:
                watch.answering -= 1

    async def answer(event: dict[str, Any]) -> None:
        """An empty 204, before anyone hears of the hit: a check that saw it cannot end while it is still paused."""
        try:
            await session.send("Fetch.fulfillRequest", {"requestId": event["requestId"], "responseCode": 204,
                                                        "responseHeaders": _empty_answer_headers(event["request"])})
        except Exception:  # the request was cancelled or the browser went away
            pass
        finally:
            watch.answering -= 1
        watch.tell(event)

    def on_paused(event: dict[str, Any]) -> None:
        hit = _answered(event["request"], answer_globs)
        if hit:  # answered here, or (`analytics: send`) let go to its collector: either way the context waits for it
            watch.answering += 1
            watch.last_answer = asyncio.get_running_loop().time()
        if answer_hits and hit:
            task = asyncio.ensure_future(answer(event))
        else:
            watch.tell(event)
            task = asyncio.ensure_future(decide(event, hit))
        pending.add(task)
        task.add_done_callback(pending.discard)

    session.on("Fetch.requestPaused", on_paused)
    await session.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})
    return session


class HitWatch:
    """Who hears about a page's requests as the browser issues them: main-frame id → callback.

    The browser-wide interception sees what a page's own event stream misses:
    a beacon sent while the page unloads (the form's page, as it leaves for
    the thank-you page). `page_events` registers each attempt's page here.
    """

    def __init__(self) -> None:
        self.watchers: dict[str, Callable[[dict[str, Any], str], None]] = {}
        #: Hits paused and not yet answered (or, with `analytics: send`, not yet let go): a context must not close
        #: on them (Chromium would let an answered hit go out, and drop a sent one before it reached its collector).
        self.answering = 0
        self.last_answer = 0.0  # loop time of the last hit paused

    async def settled(self, timeout_s: float = ANSWER_SETTLE_S) -> None:
        """Wait (briefly) until every paused hit got its answer and the hits of a burst stopped arriving.

        A keepalive hit (sendBeacon, fetch keepalive) outlives its page: closing
        the context between the renderer sending it and the interception pausing
        it would let it go out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline and (self.answering > 0 or loop.time() - self.last_answer < ANSWER_GRACE_S):
            await asyncio.sleep(0.02)

    def watch(self, frame_id: str, callback: Callable[[dict[str, Any], str], None]) -> None:
        self.watchers[frame_id] = callback

    def forget(self, frame_id: str) -> None:
        self.watchers.pop(frame_id, None)

    def tell(self, event: dict[str, Any]) -> None:
        callback = self.watchers.get(str(event.get("frameId", "")))
        if callback is not None:
            try:
                callback(event["request"], str(event.get("resourceType", "")).lower())
            except Exception:  # a watcher's trouble never stops a request
                pass


_watches: "weakref.WeakKeyDictionary[Any, HitWatch]" = weakref.WeakKeyDictionary()


def hit_watch(browser: Any) -> HitWatch | None:
    """The watch of a guarded browser (None: not guarded by `guard_browser`)."""
    try:
        return _watches.get(browser)
    except TypeError:
        return None


def request_body(request: dict[str, Any]) -> str | None:
    """A paused request's body as text (CDP hands it as `postData` or as base64 `postDataEntries`)."""
    body = request.get("postData")
    if body is None and request.get("postDataEntries"):
        import base64

        body = b"".join(base64.b64decode(e.get("bytes", "")) for e in request["postDataEntries"]).decode("utf-8", "replace")
    return body


def _answered(request: dict[str, Any], globs: Sequence[str] = ()) -> bool:
    from .tag_hits import is_hit, matches_glob

    if globs and matches_glob(str(request.get("url", "")), globs):
        return True
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    try:
        return is_hit(str(request.get("method", "GET")), str(request.get("url", "")), request_body(request), headers.get("content-type", ""))
    except Exception:
        return False


def _empty_answer_headers(request: dict[str, Any]) -> list[dict[str, str]]:
    """An empty answer a page's XHR or fetch may read (CORS allows the page's own origin)."""
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    answer = [{"name": "Cache-Control", "value": "no-store"}, {"name": "X-Funnelwatch", "value": "answered"}]
    origin = headers.get("origin")
    if origin:
        answer += [{"name": "Access-Control-Allow-Origin", "value": origin},
                   {"name": "Access-Control-Allow-Credentials", "value": "true"},
                   {"name": "Access-Control-Allow-Methods", "value": "GET, POST, OPTIONS"},
                   {"name": "Access-Control-Allow-Headers", "value": headers.get("access-control-request-headers", "content-type")}]
    return answer
