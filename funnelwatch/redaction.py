"""Keeps `${VAR}` values out of everything funnelwatch writes.

Every value read from the environment while loading config is added to a
`Redactor`; `redact()` is applied wherever text leaves the process (database,
report, logs, JSON, JUnit, alerts, exception messages). A secret is found in
every spelling a browser or a library gives it: as typed, percent-encoded
(`%3C` or `%3c`, space as `%20` or `+`) or any mix of these. One that is
shorter than `SHORT_SECRET_CHARS` would redact common words, so it is only
redacted where it stands alone: the whole text, or a value in `key=value`.

    redactor = Redactor()
    redactor.add("Sp ec|al<abc>")
    redactor.redact("GET /in?code=Sp+ec%7Cal%3Cabc%3E&x=1")  # 'GET /in?code=***&x=1'

There is no process-wide instance: each loaded `Config` owns its redactor
(`config.redactor`), filled while its `${VAR}`s are expanded, and everything
that writes text out (store, report, JSON, JUnit, alerts, logs, the CLI) is
handed that object. Two configs loaded in one process never see each other's
secrets, and a thread or task redacts exactly like the code that started it.
Redaction is linear in the text's length; `redact_deep` also caps each
string it keeps at `MAX_KEPT_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import Any
from urllib.parse import unquote, urlsplit

#: A secret shorter than this is only redacted where it stands alone (a query or field value).
SHORT_SECRET_CHARS = 4
#: The longest string `redact_deep` keeps (evidence): longer ones are cut, then redacted.
MAX_KEPT_CHARS = 200_000
MASK = "***"

# `scheme://user:password@host`: the scheme is checked by its last character only, so a
# long run of letters is never rescanned (the old `[a-z][a-z0-9+.-]*://` was quadratic).
_URL_CREDENTIALS = re.compile(r"(?<=[a-z0-9+.-])://[^/\s@'\"]++@", re.I)
# Characters no URL encoder escapes: a secret's letters are matched as typed, all else in any spelling.
_NEVER_ENCODED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._")
_TOKEN_BEFORE = r"(?:(?<==)|^)"
_TOKEN_AFTER = r"(?=[&#;\s\"']|\Z)"


def _hex(byte: int) -> str:
    """`%3C` or `%3c`."""
    return "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")


def _spellings(char: str) -> str:
    """A pattern for one character as typed or percent/form-encoded."""
    if char in _NEVER_ENCODED:
        return char
    encoded = "".join(_hex(b) for b in char.encode("utf-8", "surrogatepass"))
    options = [re.escape(char), encoded] + (["\\+"] if char == " " else [])
    return "(?:" + "|".join(options) + ")"


def _pattern(secret: str) -> str:
    return "".join(_spellings(c) for c in secret)


class Redactor:
    """The secrets of one configuration, and the one place that hides them in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._compiled: tuple[re.Pattern[str] | None, int] | None = None

    @property
    def secrets(self) -> Set[str]:
        """The registered values (read-only)."""
        return frozenset(self._secrets)

    def add(self, value: str) -> None:
        """Remember a secret value."""
        if value and value not in self._secrets:
            self._secrets.add(value)
            self._compiled = None

    def add_url_credentials(self, value: str) -> None:
        """A secret URL's password (and user) are secrets on their own too: a proxy or server may quote them apart."""
        try:
            parts = urlsplit(value.strip())
            user, password = parts.username, parts.password
        except ValueError:
            return
        for part in (password, user):
            if part:
                self.add(part)
                self.add(unquote(part))

    def _matcher(self) -> tuple[re.Pattern[str] | None, int]:
        """One pattern for every secret in every spelling (longest first), and the longest text it can match."""
        if self._compiled is None:
            ordered = sorted(self._secrets, key=len, reverse=True)
            branches = [_pattern(s) if len(s) >= SHORT_SECRET_CHARS else _TOKEN_BEFORE + _pattern(s) + _TOKEN_AFTER
                        for s in ordered]
            widest = max((len(s.encode("utf-8", "surrogatepass")) * 3 for s in ordered), default=0)
            self._compiled = (re.compile("|".join(branches)) if branches else None, widest)
        return self._compiled

    def redact(self, text: Any) -> Any:
        """Replace every registered secret (and URL credentials) in `text` with `***`; non-text is returned as is."""
        if not isinstance(text, str) or not text:
            return text
        matcher, _ = self._matcher()
        if matcher is not None:
            text = matcher.sub(MASK, text)
        if "://" in text:
            text = _URL_CREDENTIALS.sub("://" + MASK + "@", text)
        return text

    def redact_deep(self, value: Any, limit: int = MAX_KEPT_CHARS) -> Any:
        """`redact` applied through dicts and lists (evidence); each string is cut to `limit` characters first."""
        if isinstance(value, str):
            return self._redact_capped(value, limit)
        if isinstance(value, dict):
            return {k: self.redact_deep(v, limit) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_deep(v, limit) for v in value]
        return value

    def _redact_capped(self, text: str, limit: int) -> str:
        if len(text) <= limit:
            return str(self.redact(text))
        # Redact a little past the cut, so a secret straddling it is masked whole, never half shown.
        _, widest = self._matcher()
        return str(self.redact(text[: limit + widest + 512]))[:limit] + "…"


def mask_url(url: str) -> str:
    """Show only the scheme of a secret URL: `slack://***`."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"
