"""Which Chromium funnelwatch drives: config, env, Playwright's own, then the system's."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from playwright.sync_api import sync_playwright

from funnelwatch import browser
from funnelwatch.errors import FunnelwatchError


def fake_executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def no_browsers(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "pw"))
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUMS", ())
    return tmp_path


def test_configured_executable_wins(no_browsers, tmp_path):
    configured = fake_executable(tmp_path / "configured" / "chrome")
    env = {"FUNNELWATCH_CHROMIUM": fake_executable(tmp_path / "env" / "chrome")}
    assert browser.find_chromium(configured, env) == browser.Found(configured, "browser.executable")


def test_environment_variable_comes_second(no_browsers, tmp_path):
    from_env = fake_executable(tmp_path / "env" / "chrome")
    fake_executable(tmp_path / "pw" / "chromium-1200" / "chrome-linux" / "chrome")
    assert browser.find_chromium("auto", {"FUNNELWATCH_CHROMIUM": from_env}) == browser.Found(from_env, "FUNNELWATCH_CHROMIUM")


def playwright_says() -> str:
    """Where Playwright itself looks for its Chromium, under this process's environment."""
    with sync_playwright() as playwright:
        return playwright.chromium.executable_path


def test_playwrights_own_chromium_comes_before_the_system_one(no_browsers, tmp_path, monkeypatch):
    own = fake_executable(Path(playwright_says()))
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUMS", (fake_executable(tmp_path / "usr" / "chromium"),))
    found = browser.find_chromium("auto", {})
    assert found.path is None and own in found.source  # Playwright launches its own without executable_path


def test_playwrights_own_chromium_is_found_where_playwright_keeps_it_under_xdg_cache_home(no_browsers, tmp_path, monkeypatch):
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    reported = playwright_says()
    assert reported.startswith(str(tmp_path / "xdg"))
    own = fake_executable(Path(reported))
    assert browser.find_chromium("auto", {}) == browser.Found(None, f"Playwright's Chromium ({own})")


def test_finding_a_configured_chromium_never_asks_playwright(no_browsers, tmp_path):
    def never() -> str:
        raise AssertionError("Playwright was asked")

    configured = fake_executable(tmp_path / "configured" / "chrome")
    assert browser.find_chromium(configured, {}, ask_playwright=never).source == "browser.executable"
    assert browser.find_chromium("auto", {"FUNNELWATCH_CHROMIUM": configured}, ask_playwright=never).source == "FUNNELWATCH_CHROMIUM"


def launched_by(executable: str = "auto") -> tuple[browser.Found, str]:
    async def go() -> tuple[browser.Found, str]:
        async with async_playwright() as playwright:
            chromium, found = await browser.launch_found(playwright, executable)
            version = chromium.version
            await chromium.close()
        return found, version

    return asyncio.run(go())


def test_a_headless_shell_only_install_is_launched_as_playwrights_own(tmp_path, monkeypatch):
    """`playwright install --only-shell` leaves no full Chromium, so `executable_path` names nothing;
    Playwright still launches its headless shell, and funnelwatch lets it (before the system one)."""
    system = browser._system_chromium()
    if system is None:
        pytest.skip("needs a system Chromium to stand in for Playwright's headless shell")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "pw"))
    with sync_playwright() as playwright:
        with pytest.raises(Exception) as missing:
            playwright.chromium.launch()
    shell = Path(re.search(r"Executable doesn't exist at (\S+)", str(missing.value)).group(1))  # type: ignore[union-attr]
    assert "headless_shell" in str(shell)
    ran = tmp_path / "shell-ran"
    shell.parent.mkdir(parents=True)
    shell.write_text(f'#!/bin/sh\ntouch {ran}\nexec {system} "$@"\n')
    shell.chmod(0o755)
    found, version = launched_by()
    assert ran.exists() and found.path is None and "Playwright" in found.source
    assert version


def test_launch_falls_back_to_the_system_chromium_when_playwright_has_none(tmp_path, monkeypatch):
    system = browser._system_chromium()
    if system is None:
        pytest.skip("needs a system Chromium")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "empty"))
    found, version = launched_by()
    assert found == browser.Found(system, "system Chromium") and version


def test_readme_tells_a_fresh_linux_server_to_install_chromium_with_its_libraries():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "playwright install --with-deps chromium" in readme


def test_system_chromium_is_the_fallback(no_browsers, tmp_path, monkeypatch):
    system = fake_executable(tmp_path / "usr" / "chromium")
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUMS", ("/nonexistent/chromium", system))
    assert browser.find_chromium("auto", {}) == browser.Found(system, "system Chromium")


def test_no_chromium_says_exactly_what_to_run(no_browsers, monkeypatch):
    monkeypatch.setattr(os, "environ", {"PLAYWRIGHT_BROWSERS_PATH": str(no_browsers / "pw")})
    with pytest.raises(FunnelwatchError) as caught:
        browser.find_chromium("auto", {})
    assert "playwright install chromium" in str(caught.value)
    assert "apt-get install chromium" in str(caught.value)


def test_a_configured_path_that_does_not_exist_is_a_clear_error(no_browsers):
    with pytest.raises(FunnelwatchError, match="browser.executable: /nope/chrome is not an executable file"):
        browser.find_chromium("/nope/chrome", {})


def test_this_machine_has_a_chromium():
    found = browser.find_chromium()
    assert found.path or "Playwright" in found.source
