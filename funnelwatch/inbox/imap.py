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
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError, MailboxStarttlsError, UnexpectedCommandStatusError

from ..errors import MonitorProblem
from ..redaction import Redactor
from ..results import Category
from .base import ReceivedEmail

if TYPE_CHECKING:
    from ..schema import ImapInbox as ImapSettings

TIMEOUT_S = 30.0
TOKEN_COMMAND_TIMEOUT_S = 30.0
FETCH_BATCH = 50
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapInbox:
    name = "imap"

    def __init__(self, settings: "ImapSettings", address: str = "{token}", timeout_s: float = TIMEOUT_S,
                 ca_file: Path | None = None, cwd: Path | None = None, redactor: Redactor | None = None):
        self.settings = settings
        #: The config's secrets: the password, and the access token `token_command` prints, stay out of every problem.
        self.redactor = redactor if redactor is not None else Redactor()
        self.address = address
        self.timeout_s = timeout_s
        self.ca_file = ca_file  # settings.ca_file resolved against the project folder
        self.cwd = cwd  # where token_command runs: the project folder
        self.mailbox: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, ReceivedEmail] = {}

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        with self._lock:
            self._connect()

    def _tls(self) -> ssl.SSLContext:
        """The system's trusted CAs (OpenSSL honours SSL_CERT_FILE), or only those of `ca_file`."""
        ca_file = self.ca_file or self.settings.ca_file
        if not ca_file:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise self._problem(f"inbox.imap.ca_file: cannot read {ca_file} as PEM certificates: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None

    def _connect(self) -> None:
        s = self.settings
        try:
            if s.security == "ssl":
                box: Any = MailBox(s.host, s.port, timeout=self.timeout_s, ssl_context=self._tls())
            elif s.security == "starttls":
                box = MailBoxStartTls(s.host, s.port, timeout=self.timeout_s, ssl_context=self._tls())
            else:
                box = MailBoxUnencrypted(s.host, s.port, timeout=self.timeout_s)
        except (socket.timeout, TimeoutError):
            raise self._problem(f"cannot reach the IMAP server {self.where}: no answer within {self.timeout_s:.0f}s") from None
        except ssl.SSLCertVerificationError as exc:
            raise self._problem(f"TLS with the IMAP server {self.where} failed: its certificate is not trusted "
                                f"({exc.verify_message or exc.reason}) — if the server uses a private CA, "
                                "point inbox.imap.ca_file (or SSL_CERT_FILE) at it") from None
        except ssl.SSLError as exc:
            raise self._problem(f"TLS with the IMAP server {self.where} failed: {exc.reason or exc} "
                                f"(is security: {s.security} right for port {s.port}?)") from None
        except MailboxStarttlsError as exc:
            raise self._problem(f"the IMAP server {self.where} refused STARTTLS: {_server_text(exc)}") from None
        except (OSError, imaplib.IMAP4.error) as exc:
            if s.security == "starttls" and "STARTTLS" in str(exc):
                raise self._problem(f"the IMAP server {self.where} does not offer STARTTLS "
                                    "(use security: ssl on port 993, or none for a plain local server)") from None
            raise self._problem(f"cannot reach the IMAP server {self.where}: {_describe(exc)}") from None
        try:
            if s.auth == "oauth2":
                box.xoauth2(s.username, self._access_token(), initial_folder=None)
            else:
                box.login(s.username, s.password or "", initial_folder=None)
        except (OSError, imaplib.IMAP4.abort) as exc:
            _quietly_close(box)
            raise self._problem(f"the IMAP server {self.where} dropped the login: {_describe(exc)}") from None
        except (MailboxLoginError, imaplib.IMAP4.error) as exc:
            _quietly_close(box)
            if s.auth == "oauth2":
                hint = ("check that token_command prints a fresh access token for this user with the IMAP scope "
                        "(Microsoft 365: https://outlook.office365.com/IMAP.AccessAsUser.All; Gmail: https://mail.google.com/)")
            else:
                hint = ("check the username and password; Gmail needs an app password, and Microsoft 365 accepts no "
                        "passwords over IMAP any more: use auth: oauth2 with a token_command")
            raise self._problem(f"the IMAP server {self.where} refused the login for '{s.username}': {_server_text(exc)} ({hint})") from None
        except MonitorProblem:
            _quietly_close(box)
            raise
        try:
            box.folder.set(s.folder, readonly=True)
        except MailboxFolderSelectError:
            _quietly_logout(box)
            raise self._problem(f"the IMAP server {self.where} has no folder '{s.folder}' for '{s.username}'") from None
        self.mailbox = box

    def _access_token(self) -> str:
        """Run `token_command` and take what it prints as the access token (a secret from then on)."""
        command = self.settings.token_command or []
        shown = command[0] if command else "token_command"
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TOKEN_COMMAND_TIMEOUT_S,
                                  cwd=self.cwd, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise self._problem(f"inbox.imap.token_command ({shown}) printed no token within {TOKEN_COMMAND_TIMEOUT_S:.0f}s") from None
        except OSError as exc:
            raise self._problem(f"inbox.imap.token_command ({shown}) did not run: {exc.strerror or exc}") from None
        token = done.stdout.strip()
        self.redactor.add(token)
        for line in token.splitlines():
            self.redactor.add(line.strip())
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise self._problem(f"inbox.imap.token_command ({shown}) failed with exit code {done.returncode}"
                                + (f": {said}" if said else ""))
        if not token or len(token.split()) != 1:
            raise self._problem(f"inbox.imap.token_command ({shown}) must print exactly one access token, "
                                f"it printed {'nothing' if not token else f'{len(token.split())} words'}")
        return token

    def _problem(self, reason: str) -> MonitorProblem:
        return MonitorProblem(Category.INBOX, self.redactor.redact(reason))

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
