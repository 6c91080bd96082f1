"""The `maildir` inbox: a local Maildir (the demo's and local staging sites' choice).

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
from .base import Backend, ReceivedEmail

if TYPE_CHECKING:
    from ..config import Config


class MaildirSettings(Strict):
    """`inbox.maildir`: the Maildir's folder (relative to the project folder)."""

    path: str


def _open(config: "Config", settings: MaildirSettings) -> "MaildirInbox":
    return MaildirInbox(config.resolve(settings.path))


BACKEND = Backend("maildir", MaildirSettings, _open)


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
                    raw = file.read_bytes()
                    mtime = datetime.fromtimestamp(file.stat().st_mtime, timezone.utc)
                except OSError:
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
