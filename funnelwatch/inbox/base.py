"""What every inbox backend implements, and the message type they return.

Backends only fetch: `messages_for(token)` returns every message addressed to
that submission's unique address. Matching (which one is the delivery email,
which is an auto-reply) and waiting with backoff live here, once, for all.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from ..config import Config
    from ..fields import Strict

from ..threads import in_daemon_thread

_RAW_RECIPIENT = re.compile(r"^(?:to|cc|delivered-to|x-original-to):.*?([\w.+-]+@[\w.-]+)", re.I | re.M)


@dataclass
class ReceivedEmail:
    """One message as received, parsed with the modern email policy."""

    raw: bytes
    message: EmailMessage
    received_at: datetime
    key: str = ""
    #: The folder it was found in, and the folder mail should land in ("" for a backend without folders).
    folder: str = ""
    home: str = ""

    @property
    def in_junk(self) -> bool:
        """Found in one of the account's junk folders, not where the prospect reads mail."""
        return bool(self.folder) and self.folder != self.home

    def placed(self, folder: str, home: str) -> "ReceivedEmail":
        self.folder, self.home = folder, home
        return self

    @classmethod
    def parse(cls, raw: bytes, fallback_time: datetime | None = None, key: str = "") -> "ReceivedEmail":
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return cls(raw, message, arrival_time(message, fallback_time), key)

    @property
    def subject(self) -> str:
        return self.header("Subject")

    @property
    def sender(self) -> str:
        return self.header("From")

    @property
    def recipients(self) -> list[str]:
        try:
            values = [str(v) for h in ("To", "Cc", "Delivered-To", "X-Original-To") for v in self.message.get_all(h, [])]
            return [addr.lower() for _, addr in getaddresses(values) if addr]
        except Exception:  # a header the parser chokes on: fall back to the raw header lines
            head = self.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
            return [m.lower() for m in _RAW_RECIPIENT.findall(head)]

    def header(self, name: str) -> str:
        """A decoded header, or its raw text when the header is too broken to decode."""
        try:
            return str(self.message.get(name, "") or "")
        except Exception:
            return next((str(v) for k, v in self.message.raw_items() if k.lower() == name.lower()), "")

    def refers_to(self, message_id: str) -> bool:
        """This message answers (In-Reply-To) or threads under (References) the message with that Message-ID."""
        wanted = message_id.strip().strip("<>").lower()
        return bool(wanted) and any(wanted in self.header(name).lower() for name in ("In-Reply-To", "References"))

    def addressed_to(self, token: str) -> bool:
        token = token.lower()
        return any(token in r for r in self.recipients)


def arrival_time(message: EmailMessage, fallback: datetime | None = None) -> datetime:
    """When the message arrived: the newest `Received:` stamp, else `Date:`, else `fallback`."""
    stamps: list[datetime] = []
    for received in message.get_all("Received", []) or []:
        _, _, when = str(received).rpartition(";")
        moment = _parse_date(when.strip())
        if moment:
            stamps.append(moment)
    if stamps:
        return max(stamps)
    moment = _parse_date(str(message.get("Date", "")))
    return moment or fallback or datetime.now(timezone.utc)


#: How much older than the submission mail may look and still be its own: IMAP's SEARCH dates have no zone.
SINCE_MARGIN = timedelta(days=1)


def usable_since(since: datetime | None) -> datetime | None:
    """`since`, unless it lies ahead of this machine's clock: a moved (test) clock must never hide real mail."""
    if since is None or since.timestamp() > time.time() + 60:
        return None
    return since


def _parse_date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Inbox(Protocol):
    """An inbox backend (imap, maildir, smtp)."""

    name: str

    def open(self) -> None:
        """Connect or start; raise `MonitorProblem` (category inbox) when that fails."""

    def messages_for(self, token: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """Every message addressed to the submission with this token.

        `since` is when the submission went out: its mail can only have come
        later, so a backend may leave older mail unread (the day before it is
        the margin every backend keeps, for servers' clocks and zones).
        """

    # Optional: `messages_referencing(message_id, since=None) -> list[ReceivedEmail]`, every message whose
    # In-Reply-To/References names that Message-ID (a reply to a probe email sent to the bare address).

    def close(self) -> None: ...


@dataclass(frozen=True)
class Backend:
    """What an inbox backend declares about itself: one of these per module, one registry line each.

    `name` is its key under `inbox:` (`inbox.imap`); `model` is the pydantic
    model of that section (the `inbox:` schema is built from the registry);
    `opener(config, section)` builds the (not yet opened) `Inbox`. The
    capabilities are what the rest of funnelwatch asks instead of naming a
    backend: `keeps_mail` (mail waits between runs, so a later run can settle
    a follow-up reply; `forgets` says in a few words why not) and `folders`
    (there are junk folders to look into besides the inbox).
    """

    name: str
    model: type["Strict"]
    opener: Callable[["Config", Any], "Inbox"]
    keeps_mail: bool = True
    forgets: str = ""
    folders: bool = True


@dataclass
class Wait:
    """Outcome of waiting for a matching message."""

    match: ReceivedEmail | None
    seen: list[ReceivedEmail] = field(default_factory=list)
    waited_s: float = 0.0


async def wait_for(
    inbox: Inbox,
    token: str,
    matches: Callable[[ReceivedEmail], bool],
    within_s: float,
    first_poll_s: float = 0.25,
    max_poll_s: float = 5.0,
    since: datetime | None = None,
) -> Wait:
    """Poll with backoff until a matching message arrives or `within_s` passes (`since`: when the submission went out)."""
    started = time.monotonic()
    delay = first_poll_s
    while True:
        seen = await in_daemon_thread(inbox.messages_for, token, since)  # abandonable: never joined at exit
        for message in seen:
            if matches(message):
                return Wait(message, seen, time.monotonic() - started)
        elapsed = time.monotonic() - started
        if elapsed >= within_s:
            return Wait(None, seen, elapsed)
        await asyncio.sleep(min(delay, within_s - elapsed))
        delay = min(delay * 1.6, max_poll_s)
