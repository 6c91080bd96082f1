"""Which Chromium funnelwatch drives: config, env, Playwright's own, then the system's."""

from __future__ import annotations

import os
import stat

import pytest

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


def test_playwrights_own_chromium_comes_before_the_system_one(no_browsers, tmp_path, monkeypatch):
    own = fake_executable(tmp_path / "pw" / "chromium-1200" / "chrome-linux" / "chrome")
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUMS", (fake_executable(tmp_path / "usr" / "chromium"),))
    found = browser.find_chromium("auto", {})
    assert found.path is None and own in found.source  # Playwright launches its own without executable_path


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
