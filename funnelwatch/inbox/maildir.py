"""The `maildir` inbox: a local Maildir (the demo's and local staging sites' choice)."""

from __future__ import annotations

import mailbox
import os
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MonitorProblem
from ..results import Category
from .base import ReceivedEmail


class MaildirInbox:
    name = "maildir"

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def open(self) -> None:
        try:
            for sub in ("new", "cur", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MonitorProblem(Category.INBOX, f"cannot open the Maildir at {self.path}: {exc.strerror}") from None

    def messages_for(self, token: str) -> list[ReceivedEmail]:
        return [m for m in self._containing(token) if m.addressed_to(token)]

    def messages_referencing(self, message_id: str) -> list[ReceivedEmail]:
        """Replies to a probe email: In-Reply-To or References names its Message-ID."""
        wanted = message_id.strip().strip("<>")
        return [m for m in self._containing(wanted) if m.refers_to(wanted)] if wanted else []

    def _containing(self, needle: str) -> list[ReceivedEmail]:
        found = []
        token_bytes = needle.lower().encode()
        for sub in ("new", "cur"):
            folder = self.path / sub
            try:
                names = sorted(os.listdir(folder))
            except FileNotFoundError:
                continue
            for name in names:
                file = folder / name
                try:
                    raw = file.read_bytes()
                    mtime = datetime.fromtimestamp(file.stat().st_mtime, timezone.utc)
                except OSError:
                    continue
                if token_bytes not in raw.lower():
                    continue
                found.append(ReceivedEmail.parse(raw, mtime, key=name))
        return found

    def close(self) -> None:
        pass


def deliver(path: str | os.PathLike[str], raw: bytes) -> str:
    """Write a message into a Maildir atomically (what an MTA's delivery agent does)."""
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    box = mailbox.Maildir(str(path), create=True)
    return box.add(raw)
