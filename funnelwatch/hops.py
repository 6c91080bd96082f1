"""Pure pieces of following a link's hops, shared by the browser (steps/redirects,
steps/pagekit) and the plain-HTTP asset download (asset_facts): finding a meta
refresh's target in HTML, and spotting URLs that keep coming back in a hop list.
"""

from __future__ import annotations

import re

_META_REFRESH = re.compile(r"""<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.I)
_ASCII_WHITESPACE = "\t\n\f\r "


def has_meta_refresh(html: str) -> bool:
    """Whether the HTML carries a `<meta http-equiv=refresh>` tag."""
    return _META_REFRESH.search(html) is not None


def parse_refresh(content: str) -> tuple[int, str | None] | None:
    """Delay (whole seconds) and URL (None: reload this page) of a refresh `content`, or None when invalid.

    The HTML standard's "shared declarative refresh steps", so `0;https://a/x`
    and `0; URL='https://a/x'` forward like a browser does:

        parse_refresh("0; URL=/next")  -> (0, "/next")
        parse_refresh("5")             -> (5, None)
    """
    text, at = content, 0

    def skip_whitespace() -> None:
        nonlocal at
        while at < len(text) and text[at] in _ASCII_WHITESPACE:
            at += 1

    skip_whitespace()
    start = at
    while at < len(text) and text[at].isascii() and text[at].isdigit():
        at += 1
    digits = text[start:at]
    if not digits and not text.startswith(".", at):
        return None
    delay = int(digits) if digits else 0
    while at < len(text) and (text[at] == "." or (text[at].isascii() and text[at].isdigit())):
        at += 1
    if at < len(text):
        if text[at] not in ";," + _ASCII_WHITESPACE:
            return None
        skip_whitespace()
        if text.startswith((";", ","), at):
            at += 1
        skip_whitespace()
    if at >= len(text):
        return delay, None
    url = text[at:]
    if text[at:at + 3].lower() == "url":
        after = at + 3
        while after < len(text) and text[after] in _ASCII_WHITESPACE:
            after += 1
        if text.startswith("=", after):
            at = after + 1
            skip_whitespace()
            quote = text[at] if text.startswith(("'", '"'), at) else ""
            url = text[at + len(quote):]
            if quote and quote in url:
                url = url[:url.index(quote)]
    # What the URL parser drops before it reads a URL: surrounding C0 controls and spaces, tabs and newlines.
    url = re.sub(r"[\t\n\r]", "", url.strip("".join(map(chr, range(0x21)))))
    return delay, url or None


def meta_refresh_target(html: str) -> str | None:
    """The (possibly relative) URL the first valid `<meta http-equiv=refresh>` forwards to, if any.

    Attribute values are read by an HTML parser, so `&amp;` in the URL is `&`.
    """
    if not has_meta_refresh(html):
        return None
    from bs4 import BeautifulSoup  # here, not at import: a run's first page needs no HTML parser (start-up time)

    for meta in BeautifulSoup(html, "html.parser").find_all("meta"):
        equiv, content = meta.get("http-equiv"), meta.get("content")
        if not isinstance(equiv, str) or equiv.strip().lower() != "refresh" or not isinstance(content, str):
            continue
        refresh = parse_refresh(content)
        if refresh is not None:
            return refresh[1]
    return None


def repeating_urls(urls: list[str], times: int = 2) -> list[str]:
    """URLs visited at least `times` times, in the order first seen: a loop's members."""
    seen: dict[str, int] = {}
    for url in urls:
        seen[url] = seen.get(url, 0) + 1
    return [u for u, n in seen.items() if n >= times]
