"""`Authentication-Results` (RFC 8601) and `ARC-Authentication-Results` (RFC 8617), parsed.

The receiving server writes its SPF, DKIM and DMARC verdicts into an
`Authentication-Results` header on top of the message. Anyone can write such
a header before the mail leaves, so only one counts: the top-most one from
the configured `trusted_authserv_id`, or without one the top-most one (the
header the last receiving server added). A forwarding mailbox re-signs its
own verdicts into an ARC set; `ARC-Authentication-Results` are read too and,
with a `trusted_authserv_id`, that server's sealed verdicts count when it
wrote no `Authentication-Results` of its own on this copy.

    found = receiver_verdicts(headers, trusted="mx.example.com")
    found.dkim, found.dmarc, found.spf      # "pass" | "fail" | "softfail" | ... | None
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_PAIR = re.compile(r'([\w.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;"]+)')
_FOLD = re.compile(r"\r?\n[ \t]+")


@dataclass
class MethodResult:
    """One `method=result` of a header, with its properties (`header.d`, `smtp.mailfrom`, ...)."""

    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def shown(self) -> str:
        return f"{self.method}={self.result}"


@dataclass
class AuthResults:
    """One header's verdicts: who wrote it (`authserv_id`) and each method's result."""

    authserv_id: str
    results: list[MethodResult] = field(default_factory=list)
    source: str = "Authentication-Results"
    instance: int | None = None  # ARC's i=

    def of(self, method: str) -> list[MethodResult]:
        return [r for r in self.results if r.method == method]

    def verdict(self, method: str) -> str | None:
        """The method's result; for DKIM (one result per signature) `pass` if any signature passed."""
        found = self.of(method)
        if not found:
            return None
        if method == "dkim" and any(r.result == "pass" for r in found):
            return "pass"
        return found[0].result

    @property
    def spf(self) -> str | None:
        return self.verdict("spf")

    @property
    def dkim(self) -> str | None:
        return self.verdict("dkim")

    @property
    def dmarc(self) -> str | None:
        return self.verdict("dmarc")

    @property
    def arc(self) -> str | None:
        return self.verdict("arc")

    @property
    def signing_domain(self) -> str:
        """The `d=` of the DKIM signature that decided the verdict ("" when unsigned)."""
        signatures = self.of("dkim")
        decided = next((r for r in signatures if r.result == self.dkim), signatures[0] if signatures else None)
        if decided is None:
            return ""
        return decided.props.get("header.d") or decided.props.get("header.i", "").rpartition("@")[2]

    def to_json(self) -> dict[str, Any]:
        return {"authserv_id": self.authserv_id, "source": self.source, "spf": self.spf, "dkim": self.dkim,
                "dmarc": self.dmarc, "signing_domain": self.signing_domain,
                "results": [r.shown() for r in self.results][:20]}


def strip_comments(text: str) -> str:
    """Drop RFC 5322 comments `( ... )` (nested, not inside quoted strings)."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _split(text: str) -> list[str]:
    """Split on `;` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse(value: str, arc: bool = False) -> AuthResults | None:
    """One header value; None when it names no authserv-id (unparseable)."""
    parts = _split(strip_comments(_FOLD.sub(" ", value)))
    instance: int | None = None
    if arc:
        if not parts:
            return None
        match = re.fullmatch(r"i\s*=\s*(\d+)", parts[0])
        if not match:
            return None
        instance = int(match.group(1))
        parts = parts[1:]
    if not parts or not parts[0]:
        return None
    words = parts[0].split()
    if not words or "=" in words[0]:
        return None
    found = AuthResults(words[0].lower(), source="ARC-Authentication-Results" if arc else "Authentication-Results",
                        instance=instance)
    for part in parts[1:]:
        pairs = _PAIR.findall(part)
        if not pairs:
            continue  # "none": no method was applied
        method, result = pairs[0]
        entry = MethodResult(method.split("/")[0].lower(), _unquote(result).lower())
        for key, raw in pairs[1:]:
            if key.lower() == "reason":
                entry.reason = _unquote(raw)[:200]
            else:
                entry.props[key.lower()] = _unquote(raw)[:200]
        found.results.append(entry)
    return found


def receiver_verdicts(headers: list[tuple[str, str]], trusted: str | None = None) -> AuthResults | None:
    """The verdicts that count, from a message's headers in order (top first); None: not reported."""
    plain = [r for name, value in headers if name.lower() == "authentication-results" if (r := parse(value))]
    sealed = [r for name, value in headers if name.lower() == "arc-authentication-results" if (r := parse(value, arc=True))]
    if not trusted:
        return plain[0] if plain else None
    want = trusted.strip().lower()
    mine = [r for r in plain if r.authserv_id == want]
    if mine:
        return mine[0]
    forwarded = sorted((r for r in sealed if r.authserv_id == want), key=lambda r: r.instance or 0)
    return forwarded[0] if forwarded else None


def arc_chain(headers: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every `ARC-Authentication-Results` of the message, by instance: who sealed which verdicts."""
    sealed = [r for name, value in headers if name.lower() == "arc-authentication-results" if (r := parse(value, arc=True))]
    return [{"i": r.instance, "authserv_id": r.authserv_id, "spf": r.spf, "dkim": r.dkim, "dmarc": r.dmarc}
            for r in sorted(sealed, key=lambda r: r.instance or 0)][:10]
