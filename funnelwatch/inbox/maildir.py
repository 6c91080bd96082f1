"""The `maildir` inbox: a local Maildir (the demo's and local staging sites' choice).

The Maildir itself is the inbox (`INBOX`); its Maildir++ junk subfolders
(`.Junk`, `.Spam`, or those named in `spam_folders`) are read too. Reading
never moves a file (from `new/` to `cur/`) or changes its flags.

A poll given `since` (when the submission went out) reads only files
modified within a day of it (`SINCE_MARGIN`): a Maildir with years of mail
costs a stat per file, not a read.

In every folder, only regular files up to `guard.MAX_MESSAGE_BYTES` are read: a 2 GB file,
a FIFO or a link to /dev/zero dropped into `new/` is skipped unopened.

The backend declares its `inbox.maildir` settings model and opener here (`BACKEND`).
"""

from __future__ import annotations

import mailbox
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MonitorProblem
from ..fields import Strict
from ..results import Category
from . import junk
from .base import SINCE_MARGIN, Backend, ReceivedEmail, usable_since
from .guard import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from ..config import Config


class MaildirSettings(Strict):
    """`inbox.maildir`: the Maildir's folder (relative to the project folder)."""

    path: str
    spam_folders: junk.SpamFolders = "auto"


def _open(config: "Config", settings: MaildirSettings) -> "MaildirInbox":
    return MaildirInbox(config.resolve(settings.path), settings.spam_folders)


BACKEND = Backend("maildir", MaildirSettings, _open)


HOME = "INBOX"


class MaildirInbox:
    name = "maildir"

    def __init__(self, path: str | os.PathLike[str], spam_folders: "str | list[str]" = "auto",
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        self.path = Path(path)
        self.spam_folders = spam_folders
        self.max_message_bytes = max_message_bytes

    def junk_folders(self) -> list[str]:
        """The Maildir++ junk subfolders there are now (a folder the server creates later is found then)."""
        if not self.spam_folders:
            return []
        found, _ = junk.pick(junk.maildir_folders(self.path), junk.maildir_wanted(self.spam_folders), HOME)
        return found

    def open(self) -> None:
        try:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorProblem(Category.INBOX, f"cannot open the Maildir at {self.path}: {exc.strerror}") from None

    def messages_for(self, token: str, since: datetime | None = None) -> list[ReceivedEmail]:
        return [m for m in self._containing(token, since) if m.addressed_to(token)]

    def messages_referencing(self, message_id: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """Replies to a probe email: In-Reply-To or References names its Message-ID (junk folders too)."""
        wanted = message_id.strip().strip("<>")
        return [m for m in self._containing(wanted, since) if m.refers_to(wanted)] if wanted else []

    def _containing(self, needle: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """Every message, in the inbox and its junk folders, whose raw bytes contain `needle` (and not older than `since` allows)."""
        since = usable_since(since)
        oldest = (since - SINCE_MARGIN).timestamp() if since is not None else None
        found = self._messages_in(self.path, needle, HOME, oldest)
        for folder in self.junk_folders():
            found += self._messages_in(self.path / f".{folder}", needle, folder, oldest)
        return found

    def _messages_in(self, root: Path, needle: str, folder: str, oldest: float | None = None) -> list[ReceivedEmail]:
        found = []
        token_bytes = needle.lower().encode()
        for sub in ("new", "cur"):
            where = root / sub
            try:
                names = sorted(os.listdir(where))
            except FileNotFoundError:
                continue
            for name in names:
                file = where / name
                try:
                    info = file.stat()
                    if not stat.S_ISREG(info.st_mode) or info.st_size > self.max_message_bytes:
                        continue  # a FIFO, a device, or too large to read: never opened
                    if oldest is not None and info.st_mtime < oldest:
                        continue  # delivered well before the submission: not its mail
                    with open(file, "rb") as handle:
                        raw = handle.read(self.max_message_bytes + 1)  # the file may grow after stat
                    mtime = datetime.fromtimestamp(info.st_mtime, timezone.utc)
                except OSError:
                    continue
                if len(raw) > self.max_message_bytes:
                    continue
                if token_bytes not in raw.lower():
                    continue
                message = ReceivedEmail.parse(raw, mtime, key=name if folder == HOME else f"{folder}/{name}")
                found.append(message.placed(folder, HOME))
        return found

    def close(self) -> None:
        pass


def deliver(path: str | os.PathLike[str], raw: bytes, folder: str | None = None) -> str:
    """Write a message into a Maildir (or its Maildir++ subfolder `folder`, e.g. Junk) atomically, as a delivery agent does."""
    target = os.path.join(path, "." + folder.lstrip(".").replace("/", ".")) if folder else str(path)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(target, sub), exist_ok=True)
    box = mailbox.Maildir(target, create=True)
    return box.add(raw)
