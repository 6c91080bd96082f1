"""Delivery status notifications (RFC 3464): is this message a bounce, of which email, and why?

A bounce is `multipart/report; report-type=delivery-status`: a human part, a
`message/delivery-status` part (per-recipient `Action`, `Status`,
`Diagnostic-Code`, `Final-Recipient`) and the original message or its headers.
The original's `Message-ID` says which email bounced.

    bounce = delivery_status(received)   # None: not a DSN
    bounce.failed, bounce.status, bounce.diagnostic, bounce.original_message_id
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inbox.base import ReceivedEmail


@dataclass
class DeliveryStatus:
    """What a DSN says about its (first failed, else first) recipient."""

    action: str
    status: str
    diagnostic: str
    recipient: str
    original_message_id: str

    @property
    def failed(self) -> bool:
        return self.action == "failed" or self.status.startswith("5.")

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "status": self.status, "diagnostic": self.diagnostic,
                "recipient": self.recipient, "original_message_id": self.original_message_id}


def is_report(message: Message) -> bool:
    return message.get_content_type() == "multipart/report" and \
        str(message.get_param("report-type", "") or "").lower() == "delivery-status"


def delivery_status(received: "ReceivedEmail") -> DeliveryStatus | None:
    """The DSN's verdict, or None when the message is not a delivery-status report."""
    message = received.message
    if not is_report(message):
        return None
    recipients: list[dict[str, str]] = []
    original = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            recipients += _recipient_fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers") and not original:
            original = _original_id(part)
    chosen = next((r for r in recipients if r.get("action", "").lower() == "failed"), recipients[0] if recipients else {})
    return DeliveryStatus(
        action=chosen.get("action", "").lower(), status=chosen.get("status", ""),
        diagnostic=_diagnostic(chosen.get("diagnostic-code", "")), recipient=_address(chosen.get("final-recipient", "")),
        original_message_id=original,
    )


def _recipient_fields(part: Message) -> list[dict[str, str]]:
    """The per-recipient groups of a message/delivery-status part (the first group is per-message)."""
    payload = part.get_payload()
    groups: list[Message] = [g for g in payload if isinstance(g, Message)] if isinstance(payload, list) else []
    if not groups:  # some parsers leave the body as text: read the header groups ourselves
        text = part.get_payload(decode=True) or b""
        blocks = (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).replace("\r\n", "\n").split("\n\n")
        groups = [email.message_from_string(block + "\n") for block in blocks if block.strip()]
    found = []
    for group in groups:
        fields = {str(k).lower(): " ".join(str(v).split()) for k, v in group.items()}
        if "action" in fields or "status" in fields:
            found.append(fields)
    return found


def _original_id(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return str(payload[0].get("Message-ID", "") or "").strip()
    text = part.get_payload(decode=True) or b""
    headers = email.message_from_bytes(text if isinstance(text, bytes) else str(text).encode(), policy=email.policy.compat32)
    return str(headers.get("Message-ID", "") or "").strip()


def _diagnostic(value: str) -> str:
    """`smtp; 550 5.1.1 <info@example.com>: user unknown` → `550 5.1.1 <info@example.com>: user unknown`."""
    kind, sep, rest = value.partition(";")
    return (rest if sep and kind.strip().lower() in ("smtp", "x-postfix", "x-unix") else value).strip()[:300]


def _address(value: str) -> str:
    kind, sep, rest = value.partition(";")
    return (rest if sep else value).strip()[:200]
