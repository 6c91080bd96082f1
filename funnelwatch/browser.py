"""Finds a Chromium and owns its lifecycle: the only module that launches a browser.

Detection order: `browser.executable` in config, `$FUNNELWATCH_CHROMIUM`,
Playwright's own Chromium (`playwright install chromium`), then a system
Chromium (Debian's `chromium` package and friends).

    python -m funnelwatch.browser        # prints which Chromium funnelwatch will use
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FunnelwatchError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

SYSTEM_CHROMIUMS = (
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
INSTALL_HINT = (
    "no Chromium found — run `playwright install chromium` "
    "(or on Debian/Ubuntu: `sudo apt-get install chromium`), "
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

MOBILE = {
    "viewport": {"width": 390, "height": 844},
    "screen": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 funnelwatch"
    ),
}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
VIEWPORTS: dict[str, dict[str, Any]] = {"desktop": DESKTOP, "mobile": MOBILE}


@dataclass
class Found:
    """Which Chromium will run, and why it was chosen."""

    path: str | None
    source: str


def _playwright_chromium() -> str | None:
    """Playwright's own downloaded Chromium, if `playwright install chromium` ran."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    patterns = ("chromium-*/chrome-linux*/chrome", "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium", "chromium-*/chrome-win*/chrome.exe")
    for pattern in patterns:
        hits = sorted(glob.glob(os.path.join(root, pattern)), reverse=True)
        for hit in hits:
            if os.access(hit, os.X_OK):
                return hit
    return None


def _system_chromium() -> str | None:
    for candidate in SYSTEM_CHROMIUMS:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_chromium(configured: str = "auto", env: dict[str, str] | None = None) -> Found:
    """Pick the Chromium to drive, in the documented order."""
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
    own = _playwright_chromium()
    if own:
        return Found(None, f"Playwright's Chromium ({own})")
    system = _system_chromium()
    if system:
        return Found(system, "system Chromium")
    raise FunnelwatchError(INSTALL_HINT)


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
    found = find_chromium(executable)
    try:
        return await playwright.chromium.launch(**launch_options(found, headless))
    except FunnelwatchError:
        raise
    except Exception as exc:  # Playwright raises its own Error with a long log
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FunnelwatchError(f"the browser would not start ({found.source}): {first}") from None


async def new_context(browser: "Browser", viewport: str) -> "BrowserContext":
    """A fresh, isolated browser profile for one check on one viewport."""
    context = await browser.new_context(
        **VIEWPORTS[viewport],
        ignore_https_errors=False,
        accept_downloads=True,
        locale="en-US",
    )
    return context


class BrowserHolder:
    """One Chromium per run, relaunched if it dies mid-run so the other checks still run."""

    def __init__(self, playwright: Any, executable: str, headless: bool, allow_private: Sequence[str] = ()):
        self.playwright = playwright
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
                try:  # no request leaves this browser unchecked: internal addresses are blocked (netguard)
                    self._guard = await guard_browser(browser, AddressGuard(self.allow_private))
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        found = find_chromium()
    except FunnelwatchError as exc:
        if "--quiet" not in argv:
            print(f"funnelwatch: {exc}", file=sys.stderr)
        return 2
    if "--quiet" not in argv:
        print(f"funnelwatch will use {found.source}{': ' + found.path if found.path else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
