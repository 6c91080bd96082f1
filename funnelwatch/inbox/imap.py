"""The `imap` inbox: a real mailbox (Gmail, Microsoft 365, any IMAP server).

The server searches (`TO`/`CC` the submission's address), narrowed to what
can be the submission's mail, so a mailbox with years of mail costs about the
same as an empty one: at connect each folder's `UIDNEXT` is noted (STATUS),
and a submission made after that searches only `UID <uidnext>:*` (mail that
came later; every UID the server hands out afterwards is at least that), and
always `SINCE` the day before the submission (IMAP dates have no time and no
zone: a day's margin covers any server's timezone, and mail from earlier days
with the same token is not taken). Only matching messages are
fetched, with `BODY.PEEK[]` so nothing is marked read, and nothing is ever
flagged, moved or deleted. One connection per run, shared by the checks
behind a lock, reconnected once if the server dropped it. Besides `folder`,
the account's junk folders are searched (`spam_folders`, see `junk.py`),
each opened read-only (EXAMINE).

Every exchange (connecting and logging in, one poll's SEARCH and FETCH,
the goodbye) has one overall deadline, `inbox.imap.timeout`: a watchdog
cuts the socket when it passes, so a server trickling its answer frees the
lock and the thread on time. Literals over `guard.MAX_MESSAGE_BYTES` are
refused unread, and whatever the server or the libraries raise becomes an
inbox problem at one boundary (`guard.imap_failure`), never an internal error.

    inbox = ImapInbox(settings.inbox.imap, address="qa+{token}@example.com")
    inbox.open(); inbox.messages_for("fw1a2b3c4d5"); inbox.close()

The backend declares its `inbox.imap` settings model (`ImapSettings`) and its
opener here (`BACKEND`); `inbox/__init__.py` lists it.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError, MailboxStarttlsError, UnexpectedCommandStatusError
from pydantic import BeforeValidator, Field, model_validator

from ..errors import MonitorProblem
from ..fields import Duration, Strict, command_words
from ..redaction import Redactor
from ..results import Category
from ..threads import Watchdog, run_with_deadline, shut
from . import junk
from .base import SINCE_MARGIN, Backend, ReceivedEmail, usable_since
from .guard import cap_literals, client_socket, imap_failure

if TYPE_CHECKING:
    from ..config import Config

TIMEOUT_S = 30.0  # per read; the overall deadline of an exchange is inbox.imap.timeout
CLOSE_S = 5.0
TOKEN_COMMAND_TIMEOUT_S = 30.0
FETCH_BATCH = 50
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapSettings(Strict):
    """`inbox.imap`: `security:` says how the connection is encrypted, `auth:` how funnelwatch logs in.

    `ssl: true|false` is the old spelling of `security: ssl|none` and still works.
    """

    host: str
    port: int = Field(993, ge=1, le=65535)  # when not given: 993 for security: ssl, 143 otherwise
    security: Literal["ssl", "starttls", "none"] = "ssl"
    ssl: bool | None = None
    ca_file: str | None = None
    auth: Literal["password", "oauth2"] = "password"
    username: str
    password: str | None = None
    token_command: Annotated[list[str], BeforeValidator(command_words)] | None = None
    folder: str = "INBOX"
    spam_folders: junk.SpamFolders = "auto"
    #: The overall deadline of one exchange with the server (log in; one poll's search and fetch in every folder): a trickle never hangs a run.
    timeout: Duration = 60.0

    @model_validator(mode="before")
    @classmethod
    def _old_ssl_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        old = data.get("ssl")
        if isinstance(old, bool):
            implied = "ssl" if old else "none"
            given = data.get("security")
            if given is not None and given != implied:
                raise ValueError(f"ssl: {str(old).lower()} means security: {implied}, but security: {given} is given too — "
                                 "keep only security: (ssl: is its old spelling)")
            data["security"] = implied
        if "port" not in data and data.get("security") in ("starttls", "none"):
            data["port"] = 143
        return data

    @model_validator(mode="after")
    def _login_fits(self) -> "ImapSettings":
        if self.security == "starttls" and self.port == 993:
            raise ValueError("port 993 speaks TLS from the first byte: use security: ssl there, or starttls on port 143")
        if self.auth == "password":
            if self.token_command is not None:
                raise ValueError("token_command is for auth: oauth2 — add auth: oauth2, or remove token_command")
            if self.password is None:
                raise ValueError("give password (usually ${FUNNELWATCH_IMAP_PASSWORD}), or auth: oauth2 with a token_command")
        else:
            if self.password is not None:
                raise ValueError("auth: oauth2 logs in with the token from token_command, not a password — remove password")
            if not self.token_command:
                raise ValueError("auth: oauth2 needs token_command: a program that prints an access token")
        return self


def _open(config: "Config", settings: ImapSettings) -> "ImapInbox":
    return ImapInbox(settings, address=config.settings.inbox.address,
                     ca_file=config.resolve(settings.ca_file) if settings.ca_file else None, cwd=config.root,
                     redactor=config.redactor)


BACKEND = Backend("imap", ImapSettings, _open)


class ImapInbox:
    name = "imap"

    def __init__(self, settings: "ImapSettings", address: str = "{token}", timeout_s: float | None = None,
                 ca_file: Path | None = None, cwd: Path | None = None, redactor: Redactor | None = None):
        self.settings = settings
        #: The config's secrets: the password, and the access token `token_command` prints, stay out of every problem.
        self.redactor = redactor if redactor is not None else Redactor()
        self.address = address
        #: The overall deadline of one exchange (connect + login, one poll, the goodbye).
        self.timeout_s = timeout_s if timeout_s is not None else settings.timeout
        self._live: Any = None  # the connection being made or used: what the watchdog cuts
        self.ca_file = ca_file  # settings.ca_file resolved against the project folder
        self.cwd = cwd  # where token_command runs: the project folder
        self.mailbox: Any = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], ReceivedEmail] = {}
        self.junk: list[str] = []  # the account's junk folders, found at connect
        self._selected = ""  # the folder open (read-only) on the connection now
        self._searching = settings.folder  # the folder a poll is at: named when the poll fails
        #: folder → (when it was noted, its UIDNEXT then): mail that arrives later has a UID at least that.
        self._floors: dict[str, tuple[float, int]] = {}

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        with self._lock, Watchdog(self.timeout_s, self._cut) as dog:
            try:
                self._connect()
            except MonitorProblem:
                if dog.fired:
                    raise self._problem(f"the IMAP server {self.where} did not let funnelwatch log in within "
                                        f"{self.timeout_s:g}s (it answers too slowly; inbox.imap.timeout)") from None
                raise
            except Exception as exc:  # the one boundary for connecting: whatever the server or the libraries raised
                raise self._problem(f"cannot talk to the IMAP server {self.where}: "
                                    f"{imap_failure(exc, timed_out=dog.fired, deadline_s=self.timeout_s)}") from None

    def _cut(self) -> None:
        shut(client_socket(self._live))

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
        per_read = min(TIMEOUT_S, self.timeout_s)

        def mailbox() -> Any:
            if s.security == "ssl":
                return MailBox(s.host, s.port, timeout=per_read, ssl_context=self._tls())
            if s.security == "starttls":
                return MailBoxStartTls(s.host, s.port, timeout=per_read, ssl_context=self._tls())
            return MailBoxUnencrypted(s.host, s.port, timeout=per_read)

        try:
            # Connecting reads the greeting before the socket is ours to cut: a thread of its own, abandoned at the deadline.
            box: Any = run_with_deadline(mailbox, deadline_s=self.timeout_s)
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
        except MonitorProblem:
            raise
        except Exception as exc:  # the greeting was not IMAP (bytes, a huge literal): the server's problem
            raise self._problem(f"cannot talk to the IMAP server {self.where}: "
                                f"{imap_failure(exc, timed_out=False, deadline_s=self.timeout_s)}") from None
        cap_literals(box.client)
        self._live = box
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
        try:
            self.junk = self._junk_folders(box)
        except MonitorProblem:
            raise
        except Exception:  # LIST dropped, cut at the deadline or not IMAP: the caller's boundary words it
            _quietly_close(box)
            raise
        self._floors = _uid_floors(box, [s.folder, *self.junk])
        self.mailbox, self._selected = box, s.folder

    def _junk_folders(self, box: Any) -> list[str]:
        """The junk folders to search besides `folder`; a configured one the server lacks is a monitor problem."""
        wanted = self.settings.spam_folders
        if not wanted:
            return []
        found, missing = junk.pick(_list_folders(box), wanted, self.settings.folder)
        if missing:
            _quietly_logout(box)
            raise self._problem(f"the IMAP server {self.where} has no folder '{missing[0]}' for '{self.settings.username}' "
                                "(inbox.imap.spam_folders)")
        return found

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

    def messages_for(self, token: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """The messages to the submission's address; `since` (when it was submitted) narrows the server's search."""
        with self._lock, Watchdog(self.timeout_s, self._cut) as dog:
            try:
                self._searching = self.settings.folder
                if self.mailbox is None:
                    self._connect()
                try:
                    return self._messages_for(token, since)
                except (imaplib.IMAP4.abort, OSError, UnexpectedCommandStatusError):
                    if dog.fired:
                        raise
                    self._drop()
                    self._connect()
                return self._messages_for(token, since)
            except MonitorProblem:
                self._drop()
                raise
            except Exception as exc:  # the one boundary: whatever the server or the libraries raised
                self._drop()
                said = (_server_text(exc) if isinstance(exc, UnexpectedCommandStatusError) and not dog.fired
                        else imap_failure(exc, timed_out=dog.fired, deadline_s=self.timeout_s))
                raise self._problem(f"searching the IMAP folder '{self._searching}' on {self.where} failed: {said}") from None

    def _drop(self) -> None:
        """Forget the connection (the next poll reconnects): after a failure its state is unknown."""
        if self.mailbox is not None:
            _quietly_close(self.mailbox)
        self.mailbox = None
        self._selected = ""
        self._floors = {}

    def messages_referencing(self, message_id: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """Replies to a probe email, in the folder and the junk folders: In-Reply-To or References names its Message-ID."""
        wanted = message_id.strip().strip("<>")
        if not wanted:
            return []
        needle = _quote(wanted)
        with self._lock:
            if self.mailbox is None:
                self._connect()
            try:
                found = self._search(f"OR HEADER In-Reply-To {needle} HEADER References {needle}", since)
            except (imaplib.IMAP4.error, OSError, UnexpectedCommandStatusError) as exc:
                raise self._problem(f"searching the IMAP folder '{self.settings.folder}' on {self.where} failed: {_describe(exc)}") from None
        return [message for message in found if message.refers_to(wanted)]

    def _messages_for(self, token: str, since: datetime | None) -> list[ReceivedEmail]:
        address = self.address.replace("{token}", token) if "{token}" in self.address else token
        needle = _quote(address)
        return [message for message in self._search(f"OR TO {needle} CC {needle}", since) if message.addressed_to(token)]

    def _narrowed(self, folder: str, criteria: str, since: datetime | None) -> str:
        """`criteria` limited to mail that can have come after `since`: by UID when the folder's floor was noted before it, and by day."""
        since = usable_since(since)
        if since is None:
            return criteria
        narrow = f"SINCE {imap_day(since - SINCE_MARGIN)} {criteria}"
        floor = self._floors.get(folder)
        if floor is not None and since.timestamp() >= floor[0]:
            narrow = f"UID {floor[1]}:* {narrow}"
        return narrow

    def _search(self, criteria: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """The messages matching `criteria` (narrowed by `since`) in the folder, then each junk folder (fetched once, then cached)."""
        folders = [self.settings.folder, *self.junk]
        found: dict[str, list[ReceivedEmail]] = {}
        for folder in sorted(folders, key=lambda f: f != self._selected):  # the open folder first: no re-EXAMINE
            self._searching = folder
            if folder == self._selected:
                self.mailbox.client.noop()  # lets the server announce mail that arrived since the last poll
            else:
                self.mailbox.folder.set(folder, readonly=True)  # EXAMINE: read-only, and shows what arrived since
                self._selected = folder
            uids = self.mailbox.uids(self._narrowed(folder, criteria, since))
            fresh = [uid for uid in uids if (folder, uid) not in self._cache]
            for start in range(0, len(fresh), FETCH_BATCH):
                self._fetch(fresh[start:start + FETCH_BATCH], folder)
            found[folder] = [self._cache[(folder, uid)] for uid in uids if (folder, uid) in self._cache]
        return [message for folder in folders for message in found[folder]]

    def _fetch(self, uids: list[str], folder: str = "") -> None:
        folder = folder or self.settings.folder
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
            number = uid.group(1).decode()
            key = f"imap:{number}" if folder == self.settings.folder else f"imap:{folder}:{number}"
            message = ReceivedEmail.parse(raw, _internaldate(head), key=key)
            self._cache[(folder, number)] = message.placed(folder, self.settings.folder)

    def close(self) -> None:
        if not self._lock.acquire(timeout=self.timeout_s + CLOSE_S):  # a poll still stuck: cut it, never wait on it
            self._cut()
            return
        try:
            with Watchdog(CLOSE_S, self._cut):
                if self.mailbox is not None:
                    _quietly_logout(self.mailbox)
            self.mailbox = None
            self._live = None
            self._cache.clear()
        finally:
            self._lock.release()


def _list_folders(box: Any) -> list[tuple[str, tuple[str, ...]]]:
    """Every folder with its flags: LIST RETURN (SPECIAL-USE) where offered, else XLIST, else plain LIST."""
    client = box.client
    try:  # what the server offers once logged in (imaplib keeps only the greeting's list)
        status, data = client.capability()
        capabilities = set(b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace").upper().split())
    except imaplib.IMAP4.abort:
        raise  # the connection is gone (or the deadline cut it): not "no capabilities"
    except imaplib.IMAP4.error:
        capabilities = set()
    args: tuple[str, ...]
    if "SPECIAL-USE" in capabilities:
        command, args = "LIST", ('""', '"*"', "RETURN", "(SPECIAL-USE)")
    elif "XLIST" in capabilities:
        imaplib.Commands.setdefault("XLIST", ("AUTH", "SELECTED"))  # imaplib does not know Gmail's old command
        command, args = "XLIST", ('""', '"*"')
    else:
        command, args = "LIST", ('""', '"*"')
    try:
        status, data = client._simple_command(command, *args)
        status, data = client._untagged_response(status, data, command)
    except imaplib.IMAP4.abort:
        raise  # the connection is gone (or the deadline cut it): not "no junk folders"
    except imaplib.IMAP4.error:
        return []
    return junk.parse_list(data) if status == "OK" else []


def _uid_floors(box: Any, folders: list[str]) -> dict[str, tuple[float, int]]:
    """Each folder's UIDNEXT and the moment after the server told it; a folder that will not say has no floor."""
    floors: dict[str, tuple[float, int]] = {}
    for folder in folders:
        try:
            status = box.folder.status(folder, ["UIDNEXT"])
        except imaplib.IMAP4.abort:
            raise  # the connection is gone (or the deadline cut it)
        except (imaplib.IMAP4.error, UnexpectedCommandStatusError, IndexError, ValueError):
            continue  # no floor: that folder is searched by day only
        uidnext = status.get("UIDNEXT") if isinstance(status, dict) else None
        if isinstance(uidnext, int) and uidnext > 0:
            floors[folder] = (time.time(), uidnext)
    return floors


def imap_day(moment: datetime) -> str:
    """A date as IMAP's SEARCH wants it (`01-Dec-2026`), in UTC, whatever the locale's month names."""
    day = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


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
