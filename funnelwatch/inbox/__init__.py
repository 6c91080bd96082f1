"""Inbox backends, one module each, listed in one table: `BACKENDS`.

A backend is one module declaring a `Backend` (`base.py`): its `inbox.<name>`
settings model, its opener and its capabilities, plus one `register(...)`
line here. `schema.py` builds the `inbox:` section from this table, and the
rest of funnelwatch asks a backend's capabilities (`keeps_mail`, `folders`),
never its name.

    inbox = make_inbox(config)    # None when no inbox is configured
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import imap, maildir, smtp
from .base import Backend, Inbox, ReceivedEmail, Wait, wait_for

if TYPE_CHECKING:
    from ..config import Config

BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add a backend to the table; a name is taken once."""
    if backend.name in BACKENDS:
        raise ValueError(f"an inbox backend named {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    """Remove a backend (for tests that register a throwaway one)."""
    BACKENDS.pop(name, None)


register(imap.BACKEND)
register(maildir.BACKEND)
register(smtp.BACKEND)


def backend_of(config_inbox: object) -> Backend | None:
    """The configured backend of an `inbox:` section (None: no inbox configured)."""
    name = getattr(config_inbox, "backend", None)
    return BACKENDS.get(name) if isinstance(name, str) else None


def make_inbox(config: "Config") -> Inbox | None:
    """The configured inbox, built by its backend's opener (not yet opened)."""
    backend = backend_of(config.settings.inbox)
    if backend is None:
        return None
    return backend.opener(config, getattr(config.settings.inbox, backend.name))


__all__ = ["BACKENDS", "Backend", "Inbox", "ReceivedEmail", "Wait", "backend_of", "make_inbox", "register",
           "unregister", "wait_for"]
