"""Size caps and deadlines for the inbox backends, and the one place IMAP library errors become words.

A mailbox is the outside world: a server can trickle its answer a byte every
two seconds (no per-read timeout ever fires), announce a `{99999999999}`
literal (imaplib would try to read 93 GB into memory), or answer bytes that
are not IMAP at all (`\\x00\\xff`, which imap-tools' `.decode()` turns into a
`UnicodeDecodeError`). None of that is a funnelwatch bug: each is an inbox
problem (`error` / `inbox`) with one line saying what the server did.

    cap_literals(box.client)                    # a literal over MAX_MESSAGE_BYTES is refused before it is read
    reason = imap_failure(exc, timed_out=dog.fired, deadline_s=60)
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from typing import Any

from ..units import format_size

#: The largest message any inbox fetches, reads or keeps: a 50 MB attachment (expect.max_size's default) base64-encoded.
MAX_MESSAGE_BYTES = 70_000_000
#: What funnelwatch's own SMTP receiver keeps in memory at most, all messages together.
MAX_KEPT_BYTES = 300_000_000


class MessageTooLarge(Exception):
    """A server announced (or a file holds) a message over `MAX_MESSAGE_BYTES`."""

    def __init__(self, size: int, cap: int = MAX_MESSAGE_BYTES):
        self.size, self.cap = size, cap
        super().__init__(f"a message of {format_size(size)}, over the {format_size(cap)} cap per message")


def cap_literals(client: imaplib.IMAP4, cap: int = MAX_MESSAGE_BYTES) -> None:
    """Refuse any IMAP literal (`{N}`) over `cap` before a byte of it is read (imaplib reads N bytes at once)."""
    read = client.read

    def capped(size: int) -> bytes:
        if size > cap:
            raise MessageTooLarge(size, cap)
        return read(size)

    client.read = capped  # type: ignore[method-assign]  # imaplib reads literals through self.read(size)


def client_socket(box: Any) -> socket.socket | None:
    """The socket under an imap-tools mailbox (for the watchdog to cut)."""
    sock = getattr(getattr(box, "client", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def imap_failure(exc: BaseException, *, timed_out: bool, deadline_s: float) -> str:
    """What went wrong, in words, from the exception's type (never its traceback)."""
    if timed_out:
        return (f"no complete answer within {deadline_s:g}s (the server answers too slowly; "
                "inbox.imap.timeout sets how long to wait)")
    if isinstance(exc, MessageTooLarge):
        return f"the server sent {exc}; it was not read"
    if isinstance(exc, UnicodeError):
        return "the server answered bytes that are not IMAP (undecodable text)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError):
        return str(exc.strerror or exc or type(exc).__name__)[:200]
    if isinstance(exc, imaplib.IMAP4.error):
        return f"the server answered: {str(exc)[:200]}"
    if isinstance(exc, MemoryError):
        return "the server's answer was too large to hold"
    return f"the server's answer could not be understood ({type(exc).__name__})"
