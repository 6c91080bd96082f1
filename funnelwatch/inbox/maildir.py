"""The `maildir` inbox: a local Maildir (the demo's and local staging sites' choice).

Only regular files up to `guard.MAX_MESSAGE_BYTES` are read: a 2 GB file,
a FIFO or a link to /dev/zero dropped into `new/` is skipped unopened.
"""

from __future__ import annotations

import mailbox
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MonitorProblem
from ..results import Category
from .base import ReceivedEmail
from .guard import MAX_MESSAGE_BYTES


class MaildirInbox:
    name = "maildir"

    def __init__(self, path: str | os.PathLike[str], max_message_bytes: int = MAX_MESSAGE_BYTES):
        self.path = Path(path)
        self.max_message_bytes = max_message_bytes

    def open(self) -> None:
        try:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorProblem(Category.INBOX, f"cannot open the Maildir at {self.path}: {exc.strerror}") from None

    def messages_for(self, token: str) -> list[ReceivedEmail]:
        found = []
        token_bytes = token.lower().encode()
        for sub in ("new", "cur"):
            folder = self.path / sub
            try:
                names = sorted(os.listdir(folder))
            except FileNotFoundError:
                continue
            for name in names:
                file = folder / name
                try:
                    info = file.stat()
                    if not stat.S_ISREG(info.st_mode) or info.st_size > self.max_message_bytes:
                        continue  # a FIFO, a device, or too large to read: never opened
                    with open(file, "rb") as handle:
                        raw = handle.read(self.max_message_bytes + 1)  # the file may grow after stat
                    mtime = datetime.fromtimestamp(info.st_mtime, timezone.utc)
                except OSError:
                    continue
                if len(raw) > self.max_message_bytes:
                    continue
                if token_bytes not in raw.lower():
                    continue
                message = ReceivedEmail.parse(raw, mtime, key=name)
                if message.addressed_to(token):
                    found.append(message)
        return found

    def close(self) -> None:
        pass


def deliver(path: str | os.PathLike[str], raw: bytes) -> str:
    """Write a message into a Maildir atomically (what an MTA's delivery agent does)."""
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    box = mailbox.Maildir(str(path), create=True)
    return box.add(raw)
