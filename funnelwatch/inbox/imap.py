"""The `imap` inbox: a real mailbox (Gmail, Microsoft 365, any IMAP server).

The server searches (`TO`/`CC` the submission's address), so a mailbox with
years of mail costs the same as an empty one; only matching messages are
fetched, with `BODY.PEEK[]` so nothing is marked read, and nothing is ever
flagged, moved or deleted. One connection per run, shared by the checks
behind a lock, reconnected once if the server dropped it.

    inbox = ImapInbox(settings.inbox.imap, address="qa+{token}@example.com")
    inbox.open(); inbox.messages_for("fw1a2b3c4d5"); inbox.close()
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from imap_tools import MailBox, MailBoxUnencrypted
from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError, UnexpectedCommandStatusError

from ..errors import MonitorProblem
from ..redaction import redact
from ..results import Category
from .base import ReceivedEmail

if TYPE_CHECKING:
    from ..schema import ImapInbox as ImapSettings

TIMEOUT_S = 30.0
FETCH_BATCH = 50
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapInbox:
    name = "imap"

    def __init__(self, settings: "ImapSettings", address: str = "{token}", timeout_s: float = TIMEOUT_S):
        self.settings = settings
        self.address = address
        self.timeout_s = timeout_s
        self.mailbox: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, ReceivedEmail] = {}

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        with self._lock:
            self._connect()

    def _connect(self) -> None:
        s = self.settings
        try:
            if s.ssl:
                box = MailBox(s.host, s.port, timeout=self.timeout_s, ssl_context=ssl.create_default_context())
            else:
                box = MailBoxUnencrypted(s.host, s.port, timeout=self.timeout_s)
        except (socket.timeout, TimeoutError):
            raise self._problem(f"cannot reach the IMAP server {self.where}: no answer within {self.timeout_s:.0f}s") from None
        except ssl.SSLError as exc:
            raise self._problem(f"TLS with the IMAP server {self.where} failed: {exc.reason or exc} (is ssl: true right for port {s.port}?)") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._problem(f"cannot reach the IMAP server {self.where}: {_describe(exc)}") from None
        try:
            box.login(s.username, s.password, initial_folder=None)
        except MailboxLoginError as exc:
            _quietly_close(box)
            raise self._problem(
                f"the IMAP server {self.where} refused the login for '{s.username}': {_server_text(exc)} "
                "(check the username and password; Gmail and Microsoft 365 need an app password)"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            _quietly_close(box)
            raise self._problem(f"the IMAP server {self.where} dropped the login: {_describe(exc)}") from None
        try:
            box.folder.set(s.folder, readonly=True)
        except MailboxFolderSelectError:
            _quietly_logout(box)
            raise self._problem(f"the IMAP server {self.where} has no folder '{s.folder}' for '{s.username}'") from None
        self.mailbox = box

    def _problem(self, reason: str) -> MonitorProblem:
        return MonitorProblem(Category.INBOX, redact(reason))

    def messages_for(self, token: str) -> list[ReceivedEmail]:
        with self._lock:
            if self.mailbox is None:
                self._connect()
            try:
                return self._messages_for(token)
            except (imaplib.IMAP4.abort, OSError, UnexpectedCommandStatusError):
                _quietly_close(self.mailbox)
                self.mailbox = None
                self._connect()
            try:
                return self._messages_for(token)
            except (imaplib.IMAP4.error, OSError, UnexpectedCommandStatusError) as exc:
                raise self._problem(f"searching the IMAP folder '{self.settings.folder}' on {self.where} failed: {_describe(exc)}") from None

    def _messages_for(self, token: str) -> list[ReceivedEmail]:
        address = self.address.replace("{token}", token) if "{token}" in self.address else token
        needle = _quote(address)
        self.mailbox.client.noop()  # lets the server announce mail that arrived since the last poll
        uids = self.mailbox.uids(f"OR TO {needle} CC {needle}")
        fresh = [uid for uid in uids if uid not in self._cache]
        for start in range(0, len(fresh), FETCH_BATCH):
            self._fetch(fresh[start:start + FETCH_BATCH])
        found = [self._cache[uid] for uid in uids if uid in self._cache]
        return [message for message in found if message.addressed_to(token)]

    def _fetch(self, uids: list[str]) -> None:
        status, data = self.mailbox.client.uid("FETCH", ",".join(uids), "(UID INTERNALDATE BODY.PEEK[])")
        if status != "OK":
            raise imaplib.IMAP4.error(f"FETCH answered {status}")
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            head, raw = item[0], item[1]
            uid = _UID.search(head)
            if not uid:
                continue
            self._cache[uid.group(1).decode()] = ReceivedEmail.parse(raw, _internaldate(head), key=f"imap:{uid.group(1).decode()}")

    def close(self) -> None:
        with self._lock:
            if self.mailbox is not None:
                _quietly_logout(self.mailbox)
            self.mailbox = None
            self._cache.clear()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _internaldate(head: bytes) -> datetime | None:
    match = _INTERNALDATE.search(head)
    if not match:
        return None
    try:
        moment = datetime.strptime(match.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
    return moment.astimezone(timezone.utc)


def _server_text(exc: Exception) -> str:
    """The server's own words from a failed command, without imap-tools' framing."""
    text = str(exc)
    found = re.findall(r"b'([^']*)'", text) or re.findall(r'b"([^"]*)"', text)
    return (found[-1] if found else text).strip()[:200]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]


def _quietly_close(box: Any) -> None:
    try:
        box.client.shutdown()
    except Exception:
        pass


def _quietly_logout(box: Any) -> None:
    try:
        box.logout()
    except Exception:
        _quietly_close(box)
