"""Pure pieces of following a link's hops, shared by the browser (steps/redirects,
steps/pagekit) and the plain-HTTP asset download (asset_facts): finding a meta
refresh's target in HTML, and spotting URLs that keep coming back in a hop list.
"""

from __future__ import annotations

import re

_META_REFRESH = re.compile(r"""<meta[^>]+http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.I)
_REFRESH_URL = re.compile(r"""url\s*=\s*['"]?([^'">\s]+)""", re.I)


def has_meta_refresh(html: str) -> bool:
    """Whether the HTML carries a `<meta http-equiv=refresh>` tag."""
    return _META_REFRESH.search(html) is not None


def meta_refresh_target(html: str) -> str | None:
    """The (possibly relative) URL a `<meta http-equiv=refresh>` forwards to, if any."""
    tag = _META_REFRESH.search(html)
    if not tag:
        return None
    target = _REFRESH_URL.search(tag.group(0))
    return target.group(1) if target else None


def repeating_urls(urls: list[str], times: int = 2) -> list[str]:
    """URLs visited at least `times` times, in the order first seen: a loop's members."""
    seen: dict[str, int] = {}
    for url in urls:
        seen[url] = seen.get(url, 0) + 1
    return [u for u, n in seen.items() if n >= times]
