"""Evidence → sections a funnel page can render, tolerant of any shape.

Steps write `CheckResult.evidence` as they see fit (see `funnelwatch/steps/*.py`
docstrings). Keys the report knows get a purpose-made view (redirect chain,
message-match table, the email, error tables); everything else — including a
known key whose value has an unexpected shape — falls back to an escaped
key/value tree. Nothing here trusts the data: no value is ever marked safe,
links are only made for http(s) URLs, artifact paths must stay inside the
reports folder.

    sections = evidence_sections(result, reports_dir)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from ..clock import iso
from ..results import CheckResult
from ..steps import KINDS
from ..units import format_duration, format_size

MAX_DEPTH = 5
MAX_ITEMS = 60
MAX_TEXT = 4000
MAX_EMAIL = 200_000
_HTTP = re.compile(r"^https?://", re.I)
_SIZE_KEYS = {"size", "size_bytes", "bytes", "content_length", "min_size", "max_size"}
_SECONDS_KEYS = re.compile(r"(_s|_seconds)$")
#: Epoch seconds a `*_at` number may be (2001–2286): shown as a date-time, never as `1.79615e+09`.
_EPOCH_RANGE = (1e9, 1e10)
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass
class Node:
    """One value of a generic tree: text, link, list or mapping."""

    kind: str  # "text" | "link" | "time" (ISO, shown local) | "list" | "map" | "empty"
    text: str = ""
    items: list["Node"] = field(default_factory=list)
    pairs: list[tuple[str, "Node"]] = field(default_factory=list)
    more: int = 0


@dataclass
class Section:
    """A titled block of evidence; `kind` picks the template macro."""

    kind: str  # "facts" | "chain" | "match" | "table" | "email" | "delivery" | "images" | "list"
    title: str
    facts: list[tuple[str, Node]] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)  # dicts (chain, match, list) or lists of cells (table)
    columns: list[str] = field(default_factory=list)
    email: dict[str, Any] = field(default_factory=dict)
    images: list["Artifact"] = field(default_factory=list)
    note: str = ""
    more: int = 0


@dataclass
class Artifact:
    """A file under reports/ a page may link to (href relative to funnels/)."""

    href: str
    name: str
    exists: bool


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters)"


def label(key: Any) -> str:
    """A stored key for people: `final_url` → "Final url", `load_s` → "Load"."""
    text = _text(key, 200)
    text = _SECONDS_KEYS.sub("", text) if _SECONDS_KEYS.search(text) and len(text) > 2 else text
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "—"


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_node(value: Any, depth: int = 0, key: str = "") -> Node:
    """Any JSON-ish value as a tree of escaped text (depth and size limited)."""
    if value is None or value == "" or value == [] or value == {}:
        return Node("empty", "—")
    if isinstance(value, bool):
        return Node("text", "yes" if value else "no")
    if isinstance(value, (int, float)):
        if key in _SIZE_KEYS and isinstance(value, int):
            return Node("text", f"{format_size(value)} ({value:,} bytes)")
        if _SECONDS_KEYS.search(key):
            return Node("text", format_duration(float(value)))
        if key.endswith("_at") and _EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]:
            return Node("time", iso(datetime.fromtimestamp(value, timezone.utc)) or "")
        return Node("text", _number(value))
    if depth >= MAX_DEPTH:
        return Node("text", _text(value, 300))
    if isinstance(value, dict):
        pairs = [(label(k), to_node(v, depth + 1, str(k))) for k, v in list(value.items())[:MAX_ITEMS]]
        return Node("map", pairs=pairs, more=max(0, len(value) - MAX_ITEMS))
    if isinstance(value, (list, tuple)):
        items = [to_node(v, depth + 1, key) for v in list(value)[:MAX_ITEMS]]
        return Node("list", items=items, more=max(0, len(value) - MAX_ITEMS))
    text = _text(value)
    if _HTTP.match(text) and len(text) < 2000 and not any(c.isspace() for c in text):
        return Node("link", text)
    if _ISO_MOMENT.match(text):
        return Node("time", text)
    return Node("text", text)


def _number(value: float) -> str:
    """A number for people: never `1.79615e+09`; integers with separators, fractions to three places."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _facts(title: str, data: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()) -> Section | None:
    # A fact that does not apply (no value) is left out, not shown as a row of "—".
    facts = [(label(k), to_node(v, 1, str(k))) for k, v in data.items() if k not in skip and not _blank(v)]
    return Section("facts", title, facts=facts[:MAX_ITEMS], more=max(0, len(facts) - MAX_ITEMS)) if facts else None


def _generic(title: str, value: Any) -> Section:
    if isinstance(value, dict):
        return _facts(title, value) or Section("facts", title, facts=[("value", Node("empty", "—"))])
    return Section("facts", title, facts=[("value", to_node(value, 1))])


def _table(title: str, value: Any, preferred: list[str]) -> Section:
    """A list of dicts as a table (columns: preferred first, then whatever else appears)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return _generic(title, value)
    columns = [c for c in preferred if any(c in row for row in value)]
    for row in value:
        columns += [str(k) for k in row if str(k) not in columns]
    columns = columns[:8]
    rows = [[to_node(row.get(c), 1, c) for c in columns] for row in value[:MAX_ITEMS]]
    return Section("table", title, rows=rows, columns=[label(c) for c in columns], more=max(0, len(value) - MAX_ITEMS))


def _chain(value: Any) -> Section | None:
    """`evidence["ad"]["chain"]`: hops as dicts ({url, status, location?}) or plain URLs."""
    if not isinstance(value, list) or not value:
        return None
    hops = []
    for hop in value[:MAX_ITEMS]:
        if isinstance(hop, dict):
            url = hop.get("url") or hop.get("location") or ""
            hops.append({"url": to_node(url, 1), "status": _text(hop.get("status", ""), 20),
                         "extra": _facts("", {k: v for k, v in hop.items() if k not in ("url", "status")})})
        else:
            hops.append({"url": to_node(hop, 1), "status": "", "extra": None})
    return Section("chain", "Redirect chain (ad click to landing page)", rows=hops, more=max(0, len(value) - MAX_ITEMS))


_PHRASE_KEYS = ("phrase", "text", "term", "promise", "expected", "needle")
_WHERE_KEYS = ("where", "context", "snippet", "found_in", "location", "near")


def _match(value: Any) -> Section | None:
    """`evidence["ad"]["match"]`: each promise found or not, and where."""
    rows: list[dict[str, Any]] = []
    if isinstance(value, dict) and not any(k in value for k in ("items", "phrases", "promises")):
        for phrase, found in list(value.items())[:MAX_ITEMS]:
            where = found if isinstance(found, str) else ""
            rows.append({"phrase": _text(phrase, 500), "found": bool(found) if not isinstance(found, dict) else bool(found.get("found")),
                         "where": to_node(where or (found.get("where") if isinstance(found, dict) else None), 1)})
    else:
        items = value
        if isinstance(value, dict):
            items = value.get("items") or value.get("phrases") or value.get("promises")
        if not isinstance(items, list):
            return None
        for item in items[:MAX_ITEMS]:
            if isinstance(item, dict):
                phrase = next((item[k] for k in _PHRASE_KEYS if k in item), "")
                spot = next((item[k] for k in _WHERE_KEYS if k in item), None)
                found = item.get("found", item.get("ok", item.get("matched")))
                rows.append({"phrase": _text(phrase, 500), "found": None if found is None else bool(found), "where": to_node(spot, 1)})
            else:
                rows.append({"phrase": _text(item, 500), "found": None, "where": Node("empty", "—")})
    if not rows:
        return None
    return Section("match", "Does the page carry the ad's promise?", rows=rows)


_EMAIL_TEXT_KEYS = ("text", "text_body", "body_text", "plain", "body")
_EMAIL_HTML_KEYS = ("html", "html_body", "body_html")
_EMAIL_HEAD_KEYS = ("subject", "from", "sender", "to", "date", "received_at", "message_id")


def _email(title: str, value: Any) -> Section | None:
    """The email as received: headers, text, and HTML for a sandboxed, script-less iframe."""
    if not isinstance(value, dict):
        return None
    html = next((value[k] for k in _EMAIL_HTML_KEYS if isinstance(value.get(k), str) and value.get(k)), "")
    text = next((value[k] for k in _EMAIL_TEXT_KEYS if isinstance(value.get(k), str) and value.get(k)), "")
    heads = [(label(k), _text(value[k], 500)) for k in _EMAIL_HEAD_KEYS if value.get(k) not in (None, "")]
    used = set(_EMAIL_HTML_KEYS) | set(_EMAIL_TEXT_KEYS) | set(_EMAIL_HEAD_KEYS)
    rest = _facts("", {k: v for k, v in value.items() if k not in used})
    return Section("email", title, email={
        "heads": heads, "html": _text(inert_email_html(html), MAX_EMAIL) if html else "", "source": _text(html, MAX_EMAIL),
        "text": _text(text, MAX_EMAIL), "rest": rest,
    })


#: Elements that load or navigate by themselves even in a script-less sandbox: gone from the shown email.
_REACHING_OUT = ("iframe", "frame", "frameset", "embed", "object", "applet", "portal", "fencedframe", "link", "base")


def inert_email_html(html: str) -> str:
    """The email's HTML without frames, embeds, objects, `<link>`, `<base>` and meta refresh.

    The sandbox stops scripts; these would still open connections from the
    reader's browser (an `<iframe src>` to a tracker). The HTML source view
    keeps them, as text.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(list(_REACHING_OUT)):
        element.decompose()
    for meta in soup.find_all("meta"):
        if meta.get("http-equiv"):
            meta.decompose()
    return str(soup)


def artifact(path: Any, reports_dir: Path) -> Artifact | None:
    """A stored artifact path as a safe relative link from funnels/*.html, or None if it leaves reports/."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return None
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(reports_dir.resolve())
        except (ValueError, OSError):
            return None
    parts = PurePosixPath(candidate.as_posix()).parts
    if not parts or any(p in ("..", "") for p in parts) or ":" in parts[0]:
        return None
    rel = "/".join(parts)
    return Artifact(href="../" + quote(rel), name=parts[-1], exists=(reports_dir / rel).is_file())


_PASSING = ("pass",)
_FAILING = ("fail", "softfail", "permerror")


def _delivery(title: str, value: Any) -> Section | None:
    """An email's folder, SPF/DKIM/DMARC badges, sender, Return-Path and List-Unsubscribe (`placement.delivery_facts`)."""
    if not isinstance(value, dict) or "auth" not in value:
        return None
    auth = value.get("auth")
    verdicts = auth if isinstance(auth, dict) else {}
    badges = []
    for method in ("spf", "dkim", "dmarc"):
        result = verdicts.get(method)
        shown = _text(result, 40) if isinstance(result, str) and result else "not reported"
        tone = "pass" if shown in _PASSING else ("fail" if shown in _FAILING else "none")
        badges.append({"label": method.upper(), "result": shown, "tone": tone})
    folder = value.get("folder")
    facts: list[tuple[str, Node]] = []
    if folder:
        where = f"{_text(folder, 200)} (a junk folder: the prospect would not see it)" if value.get("in_spam") else _text(folder, 200)
        facts.append(("Folder", Node("text", where)))
    else:
        facts.append(("Folder", Node("text", "— (this inbox has no folders)")))
    facts.append(("Sender", to_node(value.get("from"), 1)))
    facts.append(("Return-Path", to_node(value.get("return_path"), 1)))
    facts.append(("List-Unsubscribe", Node("text", "present" if value.get("list_unsubscribe") else "absent")))
    if verdicts:
        facts.append(("Reported by", to_node(verdicts.get("authserv_id"), 1)))
        facts.append(("Signing domain", to_node(verdicts.get("signing_domain"), 1)))
    if isinstance(value.get("arc"), list):
        facts.append(("ARC", to_node(value.get("arc"), 1)))
    note = "" if verdicts else "SPF, DKIM and DMARC: " + (_text(auth, 200) if isinstance(auth, str) and auth else "not reported")
    return Section("delivery", title, facts=facts, rows=badges, note=note)


_BROWSER_KEYS = {
    "console_errors": ("Console errors", ["text", "url"]),
    "page_errors": ("Uncaught page errors", ["message", "stack"]),
    "failed_requests": ("Failed requests", ["status", "method", "url", "error", "resource"]),
}
class Kit:
    """The building blocks a step kind's `evidence()` composes its view from (`steps.base.EvidenceKit`)."""

    def facts(self, title: str, value: Any, skip: set[str] | None = None) -> list[Section]:
        if not isinstance(value, dict):
            return [_generic(title, value)]
        found = _facts(title, value, skip or set())
        return [found] if found else []

    def email(self, title: str, value: Any) -> list[Section]:
        found = _email(title, value)
        return [found] if found else []

    def delivery(self, title: str, value: Any) -> list[Section]:
        found = _delivery(title, value)
        return [found] if found else []

    def table(self, title: str, rows: Any, columns: list[str]) -> list[Section]:
        return [_table(title, rows, columns)]

    def chain(self, value: Any) -> list[Section]:
        found = _chain(value)
        return [found] if found else []

    def match(self, value: Any) -> list[Section]:
        found = _match(value)
        return [found] if found else []


KIT = Kit()


def evidence_sections(result: CheckResult, reports_dir: Path) -> list[Section]:
    """Every piece of evidence of one result: each step kind's own view in funnel order, then the page's events, then the rest."""
    evidence = result.evidence if isinstance(result.evidence, dict) else {"evidence": result.evidence}
    sections: list[Section] = []
    for kind in KINDS.values():
        value = evidence.get(kind.name)
        if value is None:
            continue
        sections += kind.evidence(value, KIT)
    for key, (title, columns) in _BROWSER_KEYS.items():
        if evidence.get(key):
            sections.append(_table(title, evidence[key], columns))
    email = _email("Email", evidence.get("email"))
    if email:
        sections.append(email)
    shots = evidence.get("screenshots")
    if isinstance(shots, list):
        images = [a for a in (artifact(p, reports_dir) for p in shots[:MAX_ITEMS]) if a]
        if images:
            sections.append(Section("images", "Screenshots taken by custom steps", images=images))
    known = {*KINDS, "screenshots", *_BROWSER_KEYS}
    if email:
        known.add("email")
    if isinstance(evidence.get("diagnostics"), list):
        sections.append(Section("list", "Problems in the check file", rows=[{"text": _text(d)} for d in evidence["diagnostics"][:MAX_ITEMS]]))
        known.add("diagnostics")
    rest = {k: v for k, v in evidence.items() if k not in known}
    if rest:
        sections.append(_facts("Other evidence", rest) or _generic("Other evidence", rest))
    return sections
