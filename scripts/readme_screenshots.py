"""Screenshots of the demo's funnel pages for the README (docs/images/*.png).

Runs `funnelwatch demo` into a scratch folder (loopback only), opens three of
its funnel pages from file:// in headless Chromium and keeps the top card of
each: the journey strip, the reason, what to do and what the prospect saw.
Each PNG stays under 300 KB (the width shrinks until it does).

    python scripts/readme_screenshots.py            # writes docs/images/demo-*.png
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
MAX_BYTES = 300_000
#: README image name → the demo funnel it shows.
PAGES = {
    "demo-broken-form.png": "Webinar registration",
    "demo-wrong-asset.png": "Cloud security e-book",
    "demo-late-follow-up.png": "Demo request — partner page",
}


def funnel_pages(reports: Path) -> dict[str, Path]:
    """Funnel name → its page, read from each page's <h1>."""
    found = {}
    for path in (reports / "funnels").glob("*.html"):
        heading = re.search(r"<h1>(.*?)</h1>", path.read_text(encoding="utf-8"), re.S)
        if heading:
            found[heading.group(1).replace("&amp;", "&").strip()] = path
    return found


def main() -> int:
    from playwright.sync_api import sync_playwright

    from funnelwatch.browser import find_chromium, launch_options

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        reports = Path(scratch) / "reports"
        subprocess.run([sys.executable, "-m", "funnelwatch", "demo", "--dir", str(reports)], check=True, cwd=scratch)
        pages = funnel_pages(reports)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch_options(find_chromium()))
            try:
                for image, name in PAGES.items():
                    target = OUT / image
                    for width in (960, 840, 720, 600):
                        page = browser.new_page(viewport={"width": width, "height": 900})
                        page.goto(pages[name].as_uri())
                        page.locator("section.now").first.screenshot(path=str(target))
                        page.close()
                        if target.stat().st_size < MAX_BYTES:
                            break
                    print(f"{target.relative_to(ROOT)}: {name}, {target.stat().st_size // 1000} KB, {width} px wide")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
