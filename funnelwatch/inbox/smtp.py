"""The `smtp` inbox: funnelwatch's own SMTP receiver, for local or staging sites.

Point the site's mailer at `inbox.smtp.host:port`; the receiver (aiosmtpd)
listens for the length of the run and keeps what it receives in memory.
Each message keeps its envelope recipients as `X-Original-To:` headers, so
mail sent by Bcc still finds its submission. Like Postfix, it accepts the
bare-LF, long-line mail that hand-rolled staging mailers send.

Memory is capped: a message over `guard.MAX_MESSAGE_BYTES` is refused
(552), and once `guard.MAX_KEPT_BYTES` are held, further mail is deferred
(452, the sender retries later) instead of growing without end.

    inbox = SmtpInbox(settings.inbox.smtp); inbox.open()   # now listening

The backend declares its `inbox.smtp` settings model and opener here
(`BACKEND`): it keeps no mail between runs and has no folders.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import MonitorProblem
from ..fields import Strict
from ..results import Category
from .base import Backend, ReceivedEmail
from .guard import MAX_KEPT_BYTES, MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from ..config import Config

_BARE_LF_DOT = re.compile(rb"(?<!\r)\n\.")


class SmtpSettings(Strict):
    """`inbox.smtp`: where funnelwatch's own receiver listens for the run."""

    host: str = "127.0.0.1"
    port: int = 2525


def _open(config: "Config", settings: SmtpSettings) -> "SmtpInbox":
    return SmtpInbox(settings)


BACKEND = Backend("smtp", SmtpSettings, _open, keeps_mail=False, folders=False,
                  forgets="the smtp receiver only listens while funnelwatch runs")


class _Collector:
    """aiosmtpd handler: accept every message, remember it with its envelope."""

    def __init__(self, max_kept_bytes: int = MAX_KEPT_BYTES) -> None:
        self.messages: list[ReceivedEmail] = []
        self.lock = threading.Lock()
        self.kept_bytes = 0
        self.max_kept_bytes = max_kept_bytes

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "replace")
        with self.lock:
            if self.kept_bytes + len(content) > self.max_kept_bytes:
                return "452 4.3.1 funnelwatch's inbox is full for this run; try again later"
            self.kept_bytes += len(content)
        content = _BARE_LF_DOT.sub(b"\n", content)  # the server un-stuffs dots only after CRLF
        prefix = b"".join(b"X-Original-To: " + rcpt.encode("utf-8", "replace") + b"\r\n" for rcpt in envelope.rcpt_tos)
        message = ReceivedEmail.parse(prefix + content, datetime.now(timezone.utc), key=f"smtp:{len(self.messages) + 1}")
        message.received_at = datetime.now(timezone.utc)
        with self.lock:
            self.messages.append(message)
        return "250 OK: received by funnelwatch"


def _controller(handler: _Collector, host: str, port: int, max_message_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class LenientSMTP(SMTP):
        line_length_limit = max_message_bytes

    class LenientController(Controller):
        def factory(self) -> Any:
            return LenientSMTP(self.handler, **self.SMTP_kwargs)

    return LenientController(handler, hostname=host, port=port, data_size_limit=max_message_bytes, ready_timeout=10)


class SmtpInbox:
    name = "smtp"

    def __init__(self, settings: "SmtpSettings", max_message_bytes: int = MAX_MESSAGE_BYTES,
                 max_kept_bytes: int = MAX_KEPT_BYTES):
        self.settings = settings
        self.max_message_bytes = max_message_bytes
        self.collector = _Collector(max_kept_bytes)
        self.controller: Any = None

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> None:
        controller = _controller(self.collector, self.settings.host, self.settings.port, self.max_message_bytes)
        try:
            controller.start()
        except Exception as exc:
            try:
                controller.stop()
            except Exception:
                pass
            raise MonitorProblem(
                Category.INBOX,
                f"cannot start the SMTP receiver on {self.where}: {_describe(exc)} (is another program using the port?)",
            ) from None
        self.controller = controller

    def messages_for(self, token: str, since: datetime | None = None) -> list[ReceivedEmail]:
        """What the receiver collected for the token (`since` is unused: it only holds this run's mail)."""
        with self.collector.lock:
            received = list(self.collector.messages)
        return [message for message in received if message.addressed_to(token)]

    def close(self) -> None:
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception:
                pass
            self.controller = None


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__ or exc
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return str(text)[:200]
