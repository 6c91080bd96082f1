"""The `maildir` inbox: a local Maildir (the demo's and local staging sites' choice).

The Maildir itself is the inbox (`INBOX`); its Maildir++ junk subfolders
(`.Junk`, `.Spam`, or those named in `spam_folders`) are read too. Reading
never moves a file (from `new/` to `cur/`) or changes its flags.

The backend declares its `inbox.maildir` settings model and opener here (`BACKEND`).
"""

from __future__ import annotations

import mailbox
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MonitorProblem
from ..fields import Strict
from ..results import Category
from . import junk
from .base import Backend, ReceivedEmail

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

    def __init__(self, path: str | os.PathLike[str], spam_folders: "str | list[str]" = "auto"):
        self.path = Path(path)
        self.spam_folders = spam_folders

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

    def messages_for(self, token: str) -> list[ReceivedEmail]:
        return [m for m in self._containing(token) if m.addressed_to(token)]

    def messages_referencing(self, message_id: str) -> list[ReceivedEmail]:
        """Replies to a probe email: In-Reply-To or References names its Message-ID (junk folders too)."""
        wanted = message_id.strip().strip("<>")
        return [m for m in self._containing(wanted) if m.refers_to(wanted)] if wanted else []

    def _containing(self, needle: str) -> list[ReceivedEmail]:
        """Every message, in the inbox and its junk folders, whose raw bytes contain `needle`."""
        found = self._messages_in(self.path, needle, HOME)
        for folder in self.junk_folders():
            found += self._messages_in(self.path / f".{folder}", needle, folder)
        return found

    def _messages_in(self, root: Path, needle: str, folder: str) -> list[ReceivedEmail]:
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
                    raw = file.read_bytes()
                    mtime = datetime.fromtimestamp(file.stat().st_mtime, timezone.utc)
                except OSError:
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
