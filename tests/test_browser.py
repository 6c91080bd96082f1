"""Which Chromium funnelwatch drives: config, env, Playwright's own, then the system's."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from playwright.sync_api import sync_playwright

from funnelwatch import browser
from funnelwatch.errors import FunnelwatchError

from .fixtures.needs import missing


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
        missing("needs a system Chromium to stand in for Playwright's headless shell")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "pw"))
    with sync_playwright() as playwright:
        with pytest.raises(Exception) as no_browser:
            playwright.chromium.launch()
    shell = Path(re.search(r"Executable doesn't exist at (\S+)", str(no_browser.value)).group(1))  # type: ignore[union-attr]
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
        missing("needs a system Chromium")
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


# --- how the browser presents itself: user agent, language, time zone, proxy -----------------

ECHO_PAGE = """<!doctype html><html><head><title>echo</title></head><body>
<p>header-ua={ua}</p><p>accept={accept}</p>
<p id="nav"></p>
<p><a href="/{prefix}/guide.pdf">Download the guide</a></p>
<script>
  document.getElementById("nav").textContent = "lang=" + navigator.language +
    " tz=" + Intl.DateTimeFormat().resolvedOptions().timeZone;
  fetch("/{prefix}/nav?ua=" + encodeURIComponent(navigator.userAgent));
</script></body></html>"""


def echo_site(site, prefix: str) -> str:  # type: ignore[no-untyped-def]
    """/PREFIX/lp shows the User-Agent and Accept-Language it was sent, navigator.language and the
    Intl time zone, reports navigator.userAgent to /PREFIX/nav and links /PREFIX/guide.pdf."""
    from html import escape

    from funnelwatch.demo.documents import make_pdf
    from funnelwatch.demo.server import Response

    site.route(f"/{prefix}/lp", lambda request: Response(200, ECHO_PAGE.format(
        prefix=prefix, ua=escape(request.headers.get("user-agent", "")), accept=escape(request.headers.get("accept-language", "")))))
    site.page(f"/{prefix}/nav", "ok", content_type="text/plain")
    site.file(f"/{prefix}/guide.pdf", make_pdf("Who Is Asking", ["user agents"], pad_to=2_000), "application/pdf")
    return site.url(f"/{prefix}/lp")


def chrome_version(user_agent: str) -> str:
    found = re.search(r"Chrome/([0-9.]+)", user_agent)
    assert found, user_agent
    return found.group(1)


def test_desktop_mobile_and_the_asset_download_all_send_this_browsers_own_version(project, site):
    url = echo_site(site, "ua")
    project.check("who", f"""
        name: Who is asking
        viewports: [desktop, mobile]
        landing:
          url: {url}
          must_show: [header-ua=]
        asset:
          page_link: Download the guide
          expect: {{type: pdf, title_contains: Who Is Asking}}
        """)
    outcome = project.run()
    assert [r.status.value for r in outcome.results] == ["pass", "pass"], [r.reason for r in outcome.results]
    _, version = launched_by()
    major = version.split(".")[0]
    page = [r.headers["user-agent"] for r in site.hits("/ua/lp")]
    scripted = [r.query["ua"][0] for r in site.hits("/ua/nav")]
    downloaded = [r.headers["user-agent"] for r in site.hits("/ua/guide.pdf")]
    assert len(page) == len(scripted) == len(downloaded) == 2
    for agent in page + scripted + downloaded:
        assert chrome_version(agent).split(".")[0] == major, (agent, version)
    assert sorted(page) == sorted(scripted) == sorted(downloaded)  # header, navigator.userAgent and the download agree
    mobile = [agent for agent in page if "Mobile" in agent]
    assert len(mobile) == 1 and "Pixel 7" in mobile[0]  # Playwright's own device profile


def test_a_german_check_sees_the_page_in_german_on_berlin_time(project, site):
    url = echo_site(site, "de")
    project.check("de", f"""
        name: Checkliste
        locale: de-DE
        timezone_id: Europe/Berlin
        landing:
          url: {url}
          must_show: ["lang=de-DE", "tz=Europe/Berlin", "accept=de-DE"]
        """)
    result = project.run_one()
    assert result.status.value == "pass", result.reason


def test_browser_defaults_give_every_check_its_locale_and_time_zone_unless_it_sets_its_own(project, site):
    url = echo_site(site, "fr")
    project.config("""
        database: reports/history.db
        browser:
          timeout: 10s
          locale: fr-FR
          timezone_id: America/New_York
        defaults:
          retries: 0
        """)
    project.check("fr", f"""
        name: Défaut
        landing:
          url: {url}
          must_show: ["lang=fr-FR", "tz=America/New_York", "accept=fr-FR"]
        """)
    project.check("jp", f"""
        name: Own
        timezone_id: Asia/Tokyo
        landing:
          url: {url}
          must_show: ["lang=fr-FR", "tz=Asia/Tokyo"]
        """)
    outcome = project.run()
    assert [r.status.value for r in outcome.results] == ["pass", "pass"], [r.reason for r in outcome.results]


def test_without_settings_a_check_reads_the_page_in_us_english(project, site):
    url = echo_site(site, "en")
    project.check("en", f"""
        name: Default
        landing:
          url: {url}
          must_show: ["lang=en-US", "accept=en-US"]
        """)
    result = project.run_one()
    assert result.status.value == "pass", result.reason


def test_a_check_with_a_proxy_sends_page_and_download_through_it_and_keeps_its_password_secret(project, site, http_proxy, monkeypatch):
    url = echo_site(site, "proxied")
    monkeypatch.setenv("FW_TEST_PROXY_URL", f"http://fw-proxy:fw-proxy-secret-4711@127.0.0.1:{http_proxy.port}")
    project.check("proxied", f"""
        name: Through the proxy
        proxy: ${{FW_TEST_PROXY_URL}}
        landing:
          url: {url}
          must_show: [header-ua=]
        asset:
          page_link: Download the guide
          expect: {{type: pdf}}
        """)
    result = project.run_one()
    assert result.status.value == "pass", result.reason
    forwarded = http_proxy.forwarded()
    assert url in forwarded and site.url("/proxied/guide.pdf") in forwarded
    reached = site.hits("/proxied/lp") + site.hits("/proxied/guide.pdf")
    assert len(reached) == 2 and all(r.headers.get("via") == "1.1 fw-test-proxy" for r in reached)
    assert "fw-proxy-secret-4711" not in str(result.to_json())
    connection = sqlite3.connect(project.root / "reports" / "history.db")
    try:
        dumped = "\n".join(connection.iterdump())
    finally:
        connection.close()
    assert "Through the proxy" in dumped and "fw-proxy-secret-4711" not in dumped


def test_a_proxy_that_is_not_a_url_is_a_config_error_naming_the_key(project):
    from funnelwatch.config import validate_text
    from funnelwatch.schema import CheckSpec

    problems = validate_text("name: x\nproxy: 127.0.0.1:3128\nlanding:\n  url: https://example.com/\n", CheckSpec, "checks/x.yaml")
    assert len(problems) == 1 and "checks/x.yaml:2: proxy:" in str(problems[0]) and "http://127.0.0.1:3128" in str(problems[0])
