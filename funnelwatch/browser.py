"""Finds a Chromium and owns its lifecycle: the only module that launches a browser.

Detection order: `browser.executable` in config, `$FUNNELWATCH_CHROMIUM`,
Playwright's own Chromium (`playwright install chromium`, wherever Playwright
itself keeps it), then a system Chromium (Debian's `chromium` package and friends).

    python -m funnelwatch.browser        # prints which Chromium funnelwatch will use
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from .errors import FunnelwatchError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

    from .schema import BrowserSettings, CheckBase

SYSTEM_CHROMIUMS = (
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
SYSTEM_SOURCE = "system Chromium"
ASK_PLAYWRIGHT_S = 30.0
INSTALL_HINT = (
    "no Chromium found — run `playwright install chromium` "
    "(`playwright install --with-deps chromium` on a fresh Linux server, "
    "or on Debian/Ubuntu: `sudo apt-get install chromium`), "
    "or set FUNNELWATCH_CHROMIUM=/path/to/chromium"
)
# Flags that keep Chromium from phoning home: funnelwatch only talks to the sites it checks.
LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--disable-domain-reliability",
    "--js-flags=--max-old-space-size=512",  # a page hoarding memory crashes its own tab, not the monitor
]

MOBILE_DEVICE = "Pixel 7"  # from Playwright's device list; its user agent gets this browser's version
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
VIEWPORT_NAMES = ("desktop", "mobile")
_CHROME_VERSION = re.compile(r"(?<=Chrome/)[0-9][0-9.]*")


@dataclass(frozen=True)
class ContextProfile:
    """How one check's browser presents itself, and how the asset downloader presents itself the same way.

        profile = context_profile(settings.browser, check.spec)
        context = await new_context(browser, "mobile", profile)
    """

    locale: str = "en-US"
    timezone_id: str | None = None  # None: the machine's time zone
    proxy: str | None = None  # http://user:pass@host:port
    user_agent: str | None = None  # filled in by `with_user_agent` for one viewport

    def playwright_proxy(self) -> dict[str, str] | None:
        """Playwright wants the credentials apart from the server."""
        if not self.proxy:
            return None
        parts = urlsplit(self.proxy)
        server = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        proxy = {"server": server}
        if parts.username:
            proxy["username"] = unquote(parts.username)
            proxy["password"] = unquote(parts.password or "")
        return proxy

    def download_headers(self) -> dict[str, str]:
        """The headers the browser sends that a plain HTTP download should send too."""
        headers = {"Accept-Language": self.locale}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        return headers


def context_profile(defaults: "BrowserSettings", spec: "CheckBase | None" = None) -> ContextProfile:
    """The check's own `locale`, `timezone_id` and `proxy`, else the `browser:` defaults."""
    def pick(key: str) -> Any:
        own = getattr(spec, key, None) if spec is not None else None
        return own if own is not None else getattr(defaults, key)

    return ContextProfile(locale=pick("locale"), timezone_id=pick("timezone_id"), proxy=pick("proxy"))


class NoChromium(FunnelwatchError):
    """No Chromium anywhere funnelwatch looks."""


@dataclass
class Found:
    """Which Chromium will run, and why it was chosen."""

    path: str | None
    source: str


def playwright_chromium() -> str | None:
    """The Chromium Playwright itself would launch, as its driver reports it (`chromium.executable_path`).

    Playwright knows every platform's cache folder (`~/.cache`, `~/Library/Caches`,
    `%LOCALAPPDATA%`), `PLAYWRIGHT_BROWSERS_PATH` and `XDG_CACHE_HOME`. Asking it
    starts its driver for a moment (about half a second); nothing is downloaded or
    launched. Runs in a thread of its own, so it also works under a running event loop.
    """
    answer: list[str] = []

    def ask() -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                answer.append(playwright.chromium.executable_path)
        except Exception:  # no driver, or it would not start: then there is no Playwright Chromium either
            pass

    thread = threading.Thread(target=ask, name="funnelwatch-ask-playwright", daemon=True)
    thread.start()
    thread.join(ASK_PLAYWRIGHT_S)
    return answer[0] if answer and answer[0] else None


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _system_chromium() -> str | None:
    for candidate in SYSTEM_CHROMIUMS:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_chromium(configured: str = "auto", env: Mapping[str, str] | None = None,
                  ask_playwright: Callable[[], str | None] = playwright_chromium) -> Found:
    """Pick the Chromium to drive, in the documented order; Playwright is asked only when it comes to that."""
    env = os.environ if env is None else env
    if configured and configured != "auto":
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise FunnelwatchError(f"browser.executable: {configured} is not an executable file — fix the path or set it to auto")
        return Found(configured, "browser.executable")
    from_env = env.get("FUNNELWATCH_CHROMIUM")
    if from_env:
        if not (os.path.isfile(from_env) and os.access(from_env, os.X_OK)):
            raise FunnelwatchError(f"FUNNELWATCH_CHROMIUM={from_env} is not an executable file — fix it or unset it")
        return Found(from_env, "FUNNELWATCH_CHROMIUM")
    own = ask_playwright()
    if own and _is_executable(own):
        return Found(None, f"Playwright's Chromium ({own})")
    system = _system_chromium()
    if system:
        return Found(system, SYSTEM_SOURCE)
    raise NoChromium(INSTALL_HINT)


def launch_options(found: Found, headless: bool = True) -> dict[str, Any]:
    args = list(LAUNCH_ARGS)
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        args.append("--no-sandbox")
    options: dict[str, Any] = {"headless": headless, "args": args}
    if found.path:
        options["executable_path"] = found.path
    if not headless and not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise FunnelwatchError("--headed needs a display (DISPLAY is not set) — run without --headed, or under xvfb-run")
    return options


async def launch(playwright: "Playwright", executable: str = "auto", headless: bool = True) -> "Browser":
    """Start one Chromium for a whole run."""
    browser, _ = await launch_found(playwright, executable, headless)
    return browser


async def launch_found(playwright: "Playwright", executable: str = "auto", headless: bool = True) -> "tuple[Browser, Found]":
    """Start a Chromium and say which one it is.

    Playwright's own is launched the way Playwright chooses it: headless means its
    headless shell (`playwright install --only-shell` installs only that, and its
    `executable_path` does not name it), else its full Chromium. Whichever of
    Playwright's is missing is passed over; then the system Chromium.
    """
    reported = playwright.chromium.executable_path or None
    try:
        found: Found | None = find_chromium(executable, ask_playwright=lambda: reported)
    except NoChromium:
        found = None
    attempts = [found] if found else []
    if headless and (found is None or found.source == SYSTEM_SOURCE):
        attempts.insert(0, Found(None, "Playwright's Chromium headless shell"))
    if headless and found is not None and found.path is None and reported:
        attempts.append(Found(reported, found.source))  # `playwright install --no-shell`: its full Chromium, headless
    for attempt in attempts:
        try:
            browser = await playwright.chromium.launch(**launch_options(attempt, headless))
            _mobile_devices[browser] = dict(playwright.devices[MOBILE_DEVICE])
            return browser, attempt
        except FunnelwatchError:
            raise
        except Exception as exc:  # Playwright raises its own Error with a long log
            if attempt.path is None and _executable_missing(exc):
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FunnelwatchError(f"the browser would not start ({attempt.source}): {first}") from None
    raise NoChromium(INSTALL_HINT)


def _executable_missing(exc: Exception) -> bool:
    """Playwright's "Executable doesn't exist at …": its own browser is not installed."""
    from playwright.async_api import Error

    return isinstance(exc, Error) and "Executable doesn't exist" in exc.message


# What each launched browser is: its phone profile (from the Playwright that launched it)
# and, once asked, the context options per viewport with the user agent it really sends.
_mobile_devices: "weakref.WeakKeyDictionary[Browser, dict[str, Any]]" = weakref.WeakKeyDictionary()
_viewports: "weakref.WeakKeyDictionary[Browser, asyncio.Future[dict[str, dict[str, Any]]]]" = weakref.WeakKeyDictionary()


async def viewport_options(browser: "Browser", viewport: str) -> dict[str, Any]:
    """The context options of a viewport, `user_agent` included (asked of the browser once)."""
    known = _viewports.get(browser)
    if known is None:
        known = _viewports[browser] = asyncio.ensure_future(_identify(browser))
    return dict((await known)[viewport])


async def _identify(browser: "Browser") -> dict[str, dict[str, Any]]:
    """Desktop keeps the browser's own user agent; the phone is Playwright's device with this browser's version."""
    own = await _own_user_agent(browser)
    device = _mobile_devices.get(browser) or _ask_playwright_devices()[MOBILE_DEVICE]
    mobile = {key: value for key, value in device.items() if key != "default_browser_type"}
    version = _CHROME_VERSION.search(own)
    if version:  # the device list is written for Playwright's bundled Chromium, which may not be this one
        mobile["user_agent"] = _CHROME_VERSION.sub(version.group(0), str(mobile["user_agent"]))
    return {"desktop": {**DESKTOP, "user_agent": own}, "mobile": mobile}


async def _own_user_agent(browser: "Browser") -> str:
    """The user agent a fresh context of this browser sends (`navigator.userAgent` and the header).

    Asked of the browser itself (`Browser.getVersion`: a few ms); a throwaway
    context and page, the fallback, cost most of a second of every run's start.
    """
    try:
        session = await browser.new_browser_cdp_session()
        try:
            return str((await session.send("Browser.getVersion"))["userAgent"])
        finally:
            await session.detach()
    except Exception:
        pass
    context = await browser.new_context()
    try:
        page = await context.new_page()
        return str(await page.evaluate("navigator.userAgent"))
    finally:
        await context.close()


def _ask_playwright_devices() -> dict[str, Any]:
    """Playwright's device list, for a browser not launched through `launch` (tests, benches)."""
    answer: list[dict[str, Any]] = []

    def ask() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            answer.append(dict(playwright.devices))

    thread = threading.Thread(target=ask, name="funnelwatch-ask-playwright", daemon=True)
    thread.start()
    thread.join(ASK_PLAYWRIGHT_S)
    if not answer:
        raise FunnelwatchError("Playwright's device list is unavailable (its driver did not start)")
    return answer[0]


async def new_context(browser: "Browser", viewport: str, profile: ContextProfile | None = None) -> "BrowserContext":
    """A fresh, isolated browser profile for one check on one viewport."""
    profile = profile or ContextProfile()
    options = await viewport_options(browser, viewport)
    if viewport == "desktop":
        options.pop("user_agent")  # Chromium's own, with the client hints that go with it
    context = await browser.new_context(
        **options,
        ignore_https_errors=False,
        accept_downloads=True,
        locale=profile.locale,
        timezone_id=profile.timezone_id,
        proxy=profile.playwright_proxy(),  # type: ignore[arg-type]
    )
    return context


async def with_user_agent(browser: "Browser", viewport: str, profile: ContextProfile) -> ContextProfile:
    """The profile with the user agent a context of this viewport sends."""
    return replace(profile, user_agent=(await viewport_options(browser, viewport))["user_agent"])


class BrowserHolder:
    """One Chromium per run, relaunched if it dies mid-run so the other checks still run."""

    def __init__(self, playwright: Any, executable: str, headless: bool, allow_private: Sequence[str] = (),
                 answer_hits: bool = True, answer_globs: Sequence[str] = ()):
        self.playwright = playwright
        self.answer_globs = list(answer_globs)  # hits of the checks' own tags (`url:` globs on path and query)
        self.answer_hits = answer_hits  # browser.analytics: answer (analytics hits never leave the machine)
        self.executable = executable
        self.headless = headless
        self.allow_private = list(allow_private)
        self.browser: Any = None
        self._guard: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        async with self._lock:
            if self.browser is None or not self.browser.is_connected():
                from .netguard import AddressGuard, guard_browser

                browser = await launch(self.playwright, self.executable, self.headless)
                try:  # no request leaves this browser unchecked: internal addresses are blocked, hits answered (netguard)
                    self._guard = await guard_browser(browser, AddressGuard(self.allow_private), self.answer_hits,
                                                       self.answer_globs)
                except Exception as exc:
                    await browser.close()
                    raise FunnelwatchError(f"the browser started but would not let funnelwatch check its requests: {exc}") from None
                self.browser = browser
            return self.browser

    async def close(self) -> None:
        if self.browser is not None:
            try:
                await self.browser.close()
            except Exception:
                pass


async def _probe() -> tuple[Found, str]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser, found = await launch_found(playwright)
        version = browser.version
        await browser.close()
    return found, version


def main(argv: list[str] | None = None) -> int:
    """Start the Chromium funnelwatch would use, once, and say which one it is."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        found, version = asyncio.run(_probe())
    except FunnelwatchError as exc:
        if "--quiet" not in argv:
            print(f"funnelwatch: {exc}", file=sys.stderr)
        return 2
    if "--quiet" not in argv:
        print(f"funnelwatch will use {found.source}{': ' + found.path if found.path else ''} (Chromium {version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
