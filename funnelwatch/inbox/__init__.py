"""Inbox backends, one module each, listed in one table.

    inbox = make_inbox(config)    # None when no inbox is configured
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .base import Inbox, ReceivedEmail, Wait, wait_for
from .maildir import MaildirInbox

if TYPE_CHECKING:
    from ..config import Config


def _maildir(config: "Config") -> Inbox:
    assert config.settings.inbox.maildir is not None
    return MaildirInbox(config.resolve(config.settings.inbox.maildir.path))


def _imap(config: "Config") -> Inbox:
    from .imap import ImapInbox

    settings = config.settings.inbox.imap
    assert settings is not None
    return ImapInbox(settings, address=config.settings.inbox.address,
                     ca_file=config.resolve(settings.ca_file) if settings.ca_file else None, cwd=config.root,
                     redactor=config.redactor)


def _smtp(config: "Config") -> Inbox:
    from .smtp import SmtpInbox

    assert config.settings.inbox.smtp is not None
    return SmtpInbox(config.settings.inbox.smtp)


BACKENDS: dict[str, Callable[["Config"], Inbox]] = {
    "imap": _imap,
    "maildir": _maildir,
    "smtp": _smtp,
}


def make_inbox(config: "Config") -> Inbox | None:
    backend = config.settings.inbox.backend
    return BACKENDS[backend](config) if backend else None


__all__ = ["BACKENDS", "Inbox", "ReceivedEmail", "Wait", "make_inbox", "wait_for"]
