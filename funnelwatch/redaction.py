"""Keeps `${VAR}` values out of everything funnelwatch writes.

Every value read from the environment while loading config is registered here;
`redact()` is applied wherever text leaves the process (database, report,
logs, JSON, JUnit, alerts, exception messages).
"""

from __future__ import annotations

import re
from typing import Any

_secrets: set[str] = set()
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", re.I)


def register(value: str) -> None:
    """Remember a secret value (short values are ignored: they would redact common words)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def register_url_credentials(value: str) -> None:
    """A secret URL's password (and user) are secrets on their own too: a proxy or server may quote them apart."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(value.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return
    for part in (password, user):
        if part:
            register(part)
            register(unquote(part))


def redact(text: Any) -> Any:
    """Replace every registered secret (and URL credentials) in `text` with `***`."""
    if not isinstance(text, str) or not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def redact_deep(value: Any) -> Any:
    """`redact` applied through dicts and lists (evidence)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_deep(v) for v in value]
    return value


def mask_url(url: str) -> str:
    """Show only the scheme of a secret URL: `slack://***`."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"
