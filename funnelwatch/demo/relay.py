"""The demo's mail relay: a plain SMTP server on 127.0.0.1 behind which two published inboxes answer.

`contact:` probes need an outbox; the demo's is this relay (`outbox.smtp.plain`,
allowed because it is on this machine). `sales@acme.test` sends an auto-reply
at once and a human answer after `fast_reply_s`; `support@acme.test` answers
after `slow_reply_s`, too late for the demo's SLA. Answers are written into
the demo's Maildir, dated when they are written.

    relay = DemoRelay(maildir, later=site._later).start(); relay.port
"""

from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Callable

from ..inbox.maildir import deliver

#: Published address → (seconds until the human answer, whether an auto-reply comes first).
ANSWERS = {"sales@acme.test": ("fast", True), "support@acme.test": ("slow", False)}


class DemoRelay:
    def __init__(self, maildir: Path, later: Callable[..., None], fast_reply_s: float, slow_reply_s: float):
        self.maildir, self.later = maildir, later
        self.delays = {"fast": fast_reply_s, "slow": slow_reply_s}
        self.controller: Any = None
        self.port = 0

    def start(self) -> "DemoRelay":
        from aiosmtpd.controller import Controller

        relay = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                relay._received(envelope.content, list(envelope.rcpt_tos))
                return "250 2.0.0 queued by the demo relay"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _received(self, content: bytes, recipients: list[str]) -> None:
        probe = email.message_from_bytes(content, policy=email.policy.default)
        for rcpt in recipients:
            speed, auto = ANSWERS.get(rcpt.lower(), (None, False))
            if auto:
                self._answer(probe, rcpt, "Thanks for your email — we answer within one business day.", auto=True)
            if speed:
                self.later(self.delays[speed], self._answer, probe, rcpt,
                           "Hi, yes: the Team plan includes SSO. Happy to set up a call this week.")

    def _answer(self, probe: Any, rcpt: str, text: str, auto: bool = False) -> None:
        reply = EmailMessage()
        reply["From"] = f"{rcpt.split('@')[0].capitalize()} team <{rcpt}>"
        reply["To"] = parseaddr(str(probe["From"]))[1]
        reply["Subject"] = ("Automatic reply: " if auto else "Re: ") + str(probe["Subject"])
        reply["Date"] = formatdate(usegmt=True)
        reply["Message-ID"] = make_msgid(domain="acme.test")
        reply["In-Reply-To"] = reply["References"] = str(probe["Message-ID"])
        if auto:
            reply["Auto-Submitted"] = "auto-replied"
        reply.set_content(text)
        deliver(self.maildir, reply.as_bytes())
