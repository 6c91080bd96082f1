"""What a delivery email says: its parts, its links, its attachments, its raw merge tags.

Real ESP mail is multipart/alternative (often inside multipart/related with
inline images, or multipart/mixed with attachments), quoted-printable or
base64, sometimes HTML-only, with display names in `To:`. The stdlib's modern
email policy decodes all of that; this module turns it into plain facts.

    facts = DeliveryEmail.of(received)
    link = find_link(facts, "Download")
    tag = find_merge_tag(facts)   # ('*|FNAME|*', 'body') or None
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

    from .inbox.base import ReceivedEmail

TEXT_EXCERPT_CHARS = 2000
HTML_KEPT_CHARS = 200_000
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.I)


@dataclass
class Link:
    text: str
    url: str


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool

    def describe(self) -> str:
        return self.filename or self.content_type


@dataclass
class DeliveryEmail:
    """One received email reduced to what the asset step reads and the report shows."""

    sender: str
    to: str
    subject: str
    date: str
    text: str
    html: str
    html_text: str
    links: list[Link] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    @classmethod
    def of(cls, received: "ReceivedEmail") -> "DeliveryEmail":
        message = received.message
        text = _body(message, "plain")
        html = _body(message, "html")
        from bs4 import BeautifulSoup  # imported when an email is read, not when a run starts

        soup = BeautifulSoup(html, "html.parser") if html else None
        html_text = _visible_text(soup) if soup is not None else ""
        return cls(
            sender=str(message.get("From", "")),
            to=str(message.get("To", "")),
            subject=received.subject,
            date=received.received_at.isoformat(timespec="seconds"),
            text=text or html_text,
            html=html,
            html_text=html_text,
            links=_html_links(soup) if soup is not None else _text_links(text),
            attachments=list(_attachments(message)),
        )

    def evidence(self) -> dict[str, Any]:
        """JSON-safe facts for the report (which escapes the html it shows)."""
        return {
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "date": self.date,
            "text": self.text[:TEXT_EXCERPT_CHARS],
            "html": self.html[:HTML_KEPT_CHARS],
            "links": [{"text": link.text[:200], "url": link.url[:2000]} for link in self.links[:40]],
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data), "inline": a.inline}
                for a in self.attachments
            ],
        }


def summary(received: "ReceivedEmail") -> dict[str, str]:
    """One line of evidence for a message that was not the delivery email."""
    return {"from": received.sender, "subject": received.subject, "date": received.received_at.isoformat(timespec="seconds")}


# --- parts ---------------------------------------------------------------------


def _body(message: EmailMessage, subtype: str) -> str:
    try:
        part = message.get_body(preferencelist=(subtype,))
    except Exception:
        part = None
    if part is None or part.get_content_type() != f"text/{subtype}":
        return ""
    return _decoded(part)


def _decoded(part: Any) -> str:
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError, AssertionError):
        pass
    payload = part.get_payload(decode=True) or b""
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


def _attachments(message: EmailMessage) -> Any:
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename() or ""
        kind = part.get_content_type()
        if disposition is None and not filename:
            continue
        if disposition is None and kind.startswith("text/"):
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:
            data = b""
        inline = disposition == "inline" or (disposition is None and bool(part.get("Content-ID")))
        yield Attachment(str(filename), kind, data if isinstance(data, bytes) else b"", inline)


def _visible_text(soup: BeautifulSoup) -> str:
    for hidden in soup(["style", "script", "head", "title"]):
        hidden.decompose()
    return re.sub(r"[ \t\r\f\v]+", " ", soup.get_text(" ")).strip()


def _html_links(soup: BeautifulSoup) -> list[Link]:
    links = []
    for anchor in soup.find_all("a", href=True):
        text = anchor.get_text(" ", strip=True)
        if not text:
            image = anchor.find("img", alt=True)
            text = str(image["alt"]) if image else str(anchor.get("title") or anchor.get("aria-label") or "")
        links.append(Link(re.sub(r"\s+", " ", text).strip(), str(anchor["href"]).strip()))
    return links


def _text_links(text: str) -> list[Link]:
    """Links in a plain-text part: the words before a URL on its line (or the line above) name it."""
    links = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        for match in _URL.finditer(line):
            label = line[: match.start()].strip(" :-–—<[(\t")
            if not label and number > 0:
                label = lines[number - 1].strip(" :-–—\t")
            links.append(Link(label, match.group(0).rstrip(".,;>")))
    return links


# --- links ---------------------------------------------------------------------


def find_link(email: DeliveryEmail, wanted: str) -> Link | None:
    """The link whose visible text is `wanted` (exact first, then containing), HTML part first."""
    found = match_link(email.links, wanted)
    if found is None and email.html:
        found = match_link(_text_links(email.text), wanted)
    return found


def match_link(links: list[Link], wanted: str) -> Link | None:
    from .steps.pagekit import normalize

    target = normalize(wanted)
    usable = [link for link in links if _followable(link.url)]
    for link in usable:
        if normalize(link.text) == target:
            return link
    for link in usable:
        if target and target in normalize(link.text):
            return link
    return None


def _followable(url: str) -> bool:
    lowered = url.lower()
    return bool(url) and not lowered.startswith(("mailto:", "tel:", "#", "javascript:", "cid:"))


# --- merge tags ----------------------------------------------------------------

#: Unrendered personalisation tags of the common ESPs, as they leak into sent mail.
MERGE_TAG_PATTERNS = [
    re.compile(r"\{\{[^{}\n]{1,80}\}\}"),  # HubSpot, Marketo, Liquid, Handlebars
    re.compile(r"\{%[^%\n]{1,80}%\}"),  # HubL / Liquid logic
    re.compile(r"\*\|[^|*\s]{1,40}\|\*"),  # Mailchimp
    re.compile(r"%%[^%\s<>]{1,60}%%"),  # Salesforce Marketing Cloud, Pardot
    re.compile(r"<%=?[^%\n]{1,80}%>"),  # ERB / ASP
    re.compile(r"#\{[^{}\s]{1,60}\}"),  # Ruby-style interpolation
    re.compile(r"\$\{[^{}\s]{1,60}\}"),  # JS / shell-style interpolation
    re.compile(r"~[A-Z][A-Za-z]*\.[A-Za-z_]+~"),  # Keap
    re.compile(
        r"\[\s*(?:(?:first|last|full|given|contact|lead|user|recipient|customer|subscriber|company|account)[ _.]?)?"
        r"(?:first[ _]?name|last[ _]?name|full[ _]?name|name|fname|lname|email|company|salutation)\s*\]",
        re.I,
    ),  # [FirstName]-style tokens
]
_SHOUTED_TAG = re.compile(r"(?<![%\w])%[A-Z][A-Z0-9_]{2,30}%(?![%\w])")  # ActiveCampaign %FIRSTNAME%


@dataclass
class MergeTag:
    tag: str
    where: str
    context: str


def find_merge_tag(email: DeliveryEmail) -> MergeTag | None:
    """The first raw merge tag in the subject, the body or a link, or None."""
    places = [("subject", email.subject), ("body", email.text), ("body", email.html_text)]
    places += [("link", unquote(link.url)) for link in email.links]
    for where, text in places:
        for pattern in [*MERGE_TAG_PATTERNS, _SHOUTED_TAG]:
            match = pattern.search(text or "")
            if match:
                start = max(0, match.start() - 40)
                context = re.sub(r"\s+", " ", text[start: match.end() + 40]).strip()
                return MergeTag(match.group(0), where, context)
    return None
