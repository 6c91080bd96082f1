"""Fetch an asset and say what it really is: type from its bytes, title, text, size.

Marketing links pass through click trackers (302 chains, meta refreshes,
opaque IDs) and end on whatever the CMS serves, often an HTML sign-in or
error page with status 200. So every hop is recorded, the type is read from
the bytes rather than trusted from `Content-Type`, and downloads are capped in
size and time and streamed to a temp file. Files are hostile until read:
zip bombs and broken PDFs become a `wrong_asset` reason, never a crash.

    got = download(url, max_bytes=50_000_000, timeout_s=30)
    facts = inspect_file(got.path, got.content_type)    # facts.kind, facts.title, facts.text
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .errors import StepFailed
from .hops import meta_refresh_target, repeating_urls
from .netguard import AddressGuard
from .results import Category
from .threads import Watchdog, shut
from .units import format_size

if TYPE_CHECKING:
    import requests

# Only without a browser (a download on its own); the asset step sends the browser's own user agent.
USER_AGENT = "funnelwatch (synthetic funnel check)"
MAX_HOPS = 20
CHUNK = 64 * 1024
META_REFRESH_MAX_BYTES = 64 * 1024
MAX_TEXT_CHARS = 2_000_000
MAX_PDF_PAGES = 50
MAX_UNPACKED_BYTES = 300_000_000
MAX_ZIP_RATIO = 200
HTML_PARSE_BYTES = 5_000_000
KIND_NAMES = {"pdf": "PDF", "docx": "Word document (DOCX)", "html": "HTML page", "zip": "zip archive",
              "image": "image", "text": "text file", "binary": "file"}


@dataclass
class Download:
    """Where a link ended up and the bytes it served (in a temp file the caller removes)."""

    path: Path
    url: str
    status: int
    content_type: str
    size: int
    chain: list[dict[str, Any]] = field(default_factory=list)

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


@dataclass
class AssetFacts:
    kind: str
    size: int
    title: str = ""
    text: str = ""
    pages: int | None = None
    heading: str = ""

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


# --- download ------------------------------------------------------------------


def download(url: str, max_bytes: int, timeout_s: float, cookies: list[dict[str, Any]] | None = None,
             label: str = "the link", headers: dict[str, str] | None = None, proxy: str | None = None,
             guard: AddressGuard | None = None, folder: Path | None = None) -> Download:
    """Follow `url` through redirects (recorded) and stream the final body to a temp file in `folder`.

    `headers` and `proxy` are the browser context's (`ContextProfile`): the download
    presents itself as the browser that found the link. The whole download has
    one deadline (`deadline_s(timeout_s)`): a server trickling a byte at a time
    satisfies every per-read timeout, so a watchdog cuts the socket when it passes.

    Raises `StepFailed`: `asset_unreachable` for 4xx/5xx, connection failures,
    redirect loops and hops to internal addresses (`guard`, default: no private
    range allowed); `wrong_asset` for a download over `max_bytes`.
    """
    import requests  # imported by the first download, not when a run starts (start-up time)

    guard = guard or AddressGuard()
    deadline = time.monotonic() + deadline_s(timeout_s)
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(headers or {})
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    for cookie in cookies or []:
        session.cookies.set(cookie["name"], cookie["value"], domain=cookie.get("domain", ""), path=cookie.get("path", "/"))
    chain: list[dict[str, Any]] = []
    current = url
    try:
        while True:
            if repeating_urls([hop["url"] for hop in chain] + [current], times=3) or len(chain) >= MAX_HOPS:
                raise StepFailed(Category.ASSET_UNREACHABLE,
                                 f"{label} redirects in a loop ({len(chain)} hops, back to {current})", chain=chain)
            blocked = guard.check(current)
            if blocked:
                chain.append({"url": current, "status": None, "error": blocked})
                raise StepFailed(Category.ASSET_UNREACHABLE, f"{label}: {blocked}", chain=chain)
            response = _get(session, current, timeout_s, label, chain)
            hop = {"url": current, "status": response.status_code, "content_type": response.headers.get("Content-Type", "")}
            chain.append(hop)
            location = response.headers.get("Location")
            if response.is_redirect and location:
                response.close()
                current = urljoin(current, location)
                continue
            if response.status_code >= 400:
                response.close()
                raise StepFailed(Category.ASSET_UNREACHABLE,
                                 f"{label} leads to {current}, which answers HTTP {response.status_code}", chain=chain)
            got = _stream(response, current, max_bytes, deadline, label, chain, folder)
            refresh = _meta_refresh(got)
            if refresh:
                got.remove()
                hop["refresh"] = True
                current = urljoin(current, refresh)
                continue
            return got
    finally:
        session.close()


def deadline_s(timeout_s: float) -> float:
    """How long a whole download may take: every hop and every byte."""
    return max(timeout_s * 2, 5.0)


def _get(session: requests.Session, url: str, timeout_s: float, label: str, chain: list[dict[str, Any]]) -> requests.Response:
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise StepFailed(Category.ASSET_UNREACHABLE, f"{label} points to {url}, which is not a web address", chain=chain)
    try:
        return session.get(url, allow_redirects=False, stream=True, timeout=(timeout_s, timeout_s))
    except requests.exceptions.Timeout:
        reason = f"{label} leads to {url}, which did not answer within {timeout_s:.0f}s"
    except requests.exceptions.ConnectionError as exc:
        reason = f"{label} leads to {url}, which could not be reached ({_connection_error(exc)})"
    except requests.exceptions.RequestException as exc:
        reason = f"{label} leads to {url}, which could not be fetched ({type(exc).__name__})"
    chain.append({"url": url, "status": None, "error": reason})
    raise StepFailed(Category.ASSET_UNREACHABLE, reason, chain=chain)


def _connection_error(exc: Exception) -> str:
    text = str(exc)
    for marker, said in (("refused", "connection refused"), ("Name or service not known", "unknown host"),
                         ("getaddrinfo", "unknown host"), ("reset", "connection reset"), ("SSL", "TLS error"),
                         ("RemoteDisconnected", "the server closed the connection")):
        if marker in text:
            return said
    return "connection failed"


def _stream(response: requests.Response, url: str, max_bytes: int, deadline: float, label: str,
            chain: list[dict[str, Any]], folder: Path | None = None) -> Download:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise StepFailed(Category.WRONG_ASSET, f"{label} serves {format_size(int(declared))}, over the "
                         f"{format_size(max_bytes)} limit (expect.max_size)", chain=chain)
    handle = tempfile.NamedTemporaryFile(prefix="funnelwatch-asset-", dir=folder, delete=False)
    path = Path(handle.name)
    size = 0

    def late() -> StepFailed:
        return StepFailed(Category.ASSET_UNREACHABLE, f"{label} leads to {url}, whose download did not finish in time "
                          f"({format_size(size)} received)", chain=chain)

    import requests
    import urllib3

    sock = _socket_of(response)
    try:
        with handle, response, Watchdog(max(0.0, deadline - time.monotonic()), lambda: shut(sock)) as dog:
            while True:
                try:
                    # read1: whatever one read brings (a trickle cannot hold the deadline check back for a whole chunk)
                    chunk = response.raw.read1(CHUNK, decode_content=True)
                except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    if dog.fired or time.monotonic() > deadline:
                        raise late() from None
                    raise StepFailed(Category.ASSET_UNREACHABLE, f"{label} leads to {url}, whose download broke off "
                                     f"({type(exc).__name__})", chain=chain) from None
                if not chunk:
                    if dog.fired:
                        raise late()
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise StepFailed(Category.WRONG_ASSET, f"{label} serves more than {format_size(max_bytes)} "
                                     "(expect.max_size); download stopped", chain=chain)
                if time.monotonic() > deadline:
                    raise late()
                handle.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return Download(path, url, response.status_code, response.headers.get("Content-Type", ""), size, chain)


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The connection's socket, so the watchdog can cut a read that a trickle keeps alive."""
    connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _meta_refresh(got: Download) -> str | None:
    """A tracker page that forwards with `<meta http-equiv=refresh>` instead of a 302."""
    if got.size > META_REFRESH_MAX_BYTES:
        return None
    return meta_refresh_target(got.path.read_bytes()[:META_REFRESH_MAX_BYTES].decode("utf-8", "replace"))


def save_bytes(data: bytes, folder: Path | None = None) -> Path:
    """Write an attachment to a temp file (in `folder`), so attachments and downloads are read the same way."""
    with tempfile.NamedTemporaryFile(prefix="funnelwatch-asset-", dir=folder, delete=False) as handle:
        handle.write(data)
    return Path(handle.name)


# --- what the bytes are ------------------------------------------------------------


def sniff(source: Path | bytes) -> str:
    """The real type of a file or of bytes in memory, from its first bytes
    (pdf, docx, zip, html, image, text, binary)."""
    archive_source: Path | io.BytesIO
    if isinstance(source, bytes):
        head, archive_source = source[:2048], io.BytesIO(source)
    else:
        with open(source, "rb") as handle:
            head = handle.read(2048)
        archive_source = source
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(archive_source) as archive:
                return "docx" if "word/document.xml" in archive.namelist() else "zip"
        except (zipfile.BadZipFile, OSError, ValueError):
            return "zip"
    if head[:8] in (b"\x89PNG\r\n\x1a\n",) or head[:3] == b"\xff\xd8\xff" or head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if _looks_like_html(head):
        return "html"
    if b"\x00" not in head:
        return "text"
    return "binary"


#: The WHATWG MIME Sniffing standard's HTML patterns, each followed by a space or `>`
#: (https://mimesniff.spec.whatwg.org/#identifying-a-resource-with-an-unknown-mime-type); also `<meta` and any `<!--`.
_HTML_STARTS = re.compile(rb"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
                          rb"|meta)[ >]|<!--")
#: XHTML: an XML document whose doctype or root element is html.
_XHTML_ROOT = re.compile(rb"<!doctype\s+html[\s>]|<(?:[a-z0-9_.-]+:)?html[\s>/]")


def _looks_like_html(head: bytes) -> bool:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b"\t\n\x0c\r ").lower()
    if text.startswith(b"<?xml"):
        return _XHTML_ROOT.search(text) is not None
    return _HTML_STARTS.match(text) is not None or b"<html" in text or b"<body" in text


#: Which sniffed types count as an `expect.type` when picking among attachments (any zip may be a docx).
_EXPECTED_KINDS = {"pdf": {"pdf"}, "docx": {"docx", "zip"}, "html": {"html"}}


def looks_like(data: bytes, expected: str) -> bool:
    """Whether bytes plausibly are the `expect.type` asked for ("any" accepts everything)."""
    kinds = _EXPECTED_KINDS.get(expected)
    return kinds is None or sniff(data) in kinds


def inspect_file(path: Path, size: int | None = None) -> AssetFacts:
    """Type, title and text of a file; `StepFailed(wrong_asset)` when it cannot be read."""
    kind = sniff(path)
    size = size if size is not None else path.stat().st_size
    reader = {"pdf": _read_pdf, "docx": _read_docx, "html": _read_html, "text": _read_text}.get(kind)
    facts = AssetFacts(kind, size)
    if reader is not None:
        reader(path, facts)
    return facts


def _read_pdf(path: Path, facts: AssetFacts) -> None:
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise StepFailed(Category.WRONG_ASSET, "the PDF is password-protected, so nobody can open it without the password")
        info = reader.metadata
        facts.title = (str(info.title or "").strip() if info else "") or _xmp_title(reader)
        facts.pages = len(reader.pages)
        texts: list[str] = []
        total = 0
        for page in list(reader.pages)[:MAX_PDF_PAGES]:
            piece = page.extract_text() or ""
            texts.append(piece)
            total += len(piece)
            if total > MAX_TEXT_CHARS:
                break
        facts.text = "\n".join(texts)[:MAX_TEXT_CHARS]
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(Category.WRONG_ASSET, f"the PDF is damaged and cannot be read ({_short(exc)})") from None
    facts.heading = _first_line(facts.text)


def _xmp_title(reader: Any) -> str:
    """XMP `dc:title` (x-default first), which many tools fill while leaving the Info /Title empty."""
    try:
        xmp = reader.xmp_metadata
        titles = (xmp.dc_title or {}) if xmp is not None else {}
    except Exception:
        return ""
    for language in ["x-default", *titles]:
        title = re.sub(r"\s+", " ", str(titles.get(language) or "")).strip()
        if title:
            return title
    return ""


def _read_docx(path: Path, facts: AssetFacts) -> None:
    _refuse_zip_bomb(path)
    try:
        import docx

        document = docx.Document(str(path))
        facts.title = (document.core_properties.title or "").strip()
        parts = [p.text for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                parts.extend(cell.text for cell in row.cells)
        facts.text = "\n".join(parts)[:MAX_TEXT_CHARS]
    except Exception as exc:
        raise StepFailed(Category.WRONG_ASSET, f"the Word document is damaged and cannot be read ({_short(exc)})") from None
    facts.heading = _first_line(facts.text)


def _refuse_zip_bomb(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise StepFailed(Category.WRONG_ASSET, f"the Word document is damaged and cannot be read ({_short(exc)})") from None
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if unpacked > MAX_UNPACKED_BYTES or (unpacked > 10_000_000 and unpacked / packed > MAX_ZIP_RATIO):
        raise StepFailed(Category.WRONG_ASSET, f"the Word document would unpack to {format_size(unpacked)} from "
                         f"{format_size(packed)} (a zip bomb?); not opened")


def _read_html(path: Path, facts: AssetFacts) -> None:
    with open(path, "rb") as handle:
        data = handle.read(HTML_PARSE_BYTES)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    title = soup.find("title")
    facts.title = re.sub(r"\s+", " ", title.get_text()).strip() if title else ""
    heading = soup.find(["h1", "h2"])
    facts.heading = re.sub(r"\s+", " ", heading.get_text(" ")).strip()[:200] if heading else ""
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    facts.text = re.sub(r"\s+", " ", soup.get_text(" ")).strip()[:MAX_TEXT_CHARS]


def _read_text(path: Path, facts: AssetFacts) -> None:
    with open(path, "rb") as handle:
        facts.text = handle.read(MAX_TEXT_CHARS).decode("utf-8", "replace")
    facts.heading = _first_line(facts.text)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
