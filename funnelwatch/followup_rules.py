"""What counts as a human follow-up to a demo request, and why a message does not.

A sales team's first answer is usually an auto-reply ("we received your
request") and often a marketing-automation send; neither is a person getting
back to the lead. A message counts only when it carries no automation marker,
and its subject and sender match the check's `subject_contains` and `from`.
Every message that does not count is kept with the reason, so a marketer can
see in the report why a reply was ignored.

    verdict = judge(message, FollowupRules(subject_contains="demo", sender="*@acme.com"))
    if verdict is None: ...                  # a human follow-up
    else: print("ignored:", verdict)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inbox.base import ReceivedEmail

#: `Precedence:` values that mark a message as machine-sent (RFC 3834 and common practice).
AUTOMATED_PRECEDENCE = ("auto_reply", "bulk", "junk", "list")


@dataclass(frozen=True)
class FollowupRules:
    """The parts of a `followup:` section that decide which message counts."""

    subject_contains: str | None = None
    sender: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FollowupRules":
        return cls(data.get("subject_contains"), data.get("from"))

    def to_dict(self) -> dict[str, Any]:
        return {"subject_contains": self.subject_contains, "from": self.sender}


def automation_marker(message: "ReceivedEmail") -> str | None:
    """Why this message was sent by a machine, or None when nothing says so."""
    auto_submitted = message.header("Auto-Submitted").strip()
    if auto_submitted and auto_submitted.lower() != "no":
        return f"auto-reply (Auto-Submitted: {auto_submitted})"
    for name in ("X-Autoreply", "X-Autorespond"):
        value = message.header(name).strip()
        if name in message.message and value.lower() != "no":
            return f"auto-reply ({name}: {value or 'present'})"
    precedence = message.header("Precedence").strip().lower()
    if precedence in AUTOMATED_PRECEDENCE:
        if message.header("List-Unsubscribe"):
            return f"marketing send (List-Unsubscribe with Precedence: {precedence})"
        return f"auto-reply (Precedence: {precedence})"
    if "X-Auto-Response-Suppress" in message.message:
        return f"auto-generated (X-Auto-Response-Suppress: {message.header('X-Auto-Response-Suppress') or 'present'})"
    if message.message.get_content_type() == "multipart/report":
        return "delivery status report (bounce)"
    return None


def judge(message: "ReceivedEmail", rules: FollowupRules) -> str | None:
    """None when `message` is a human follow-up; otherwise why it does not count."""
    marker = automation_marker(message)
    if marker:
        return marker
    if rules.subject_contains and rules.subject_contains.lower() not in message.subject.lower():
        return f"subject does not contain '{rules.subject_contains}'"
    if rules.sender and not sender_matches(message.sender, rules.sender):
        return f"sender does not match '{rules.sender}'"
    return None


def sender_matches(from_header: str, pattern: str) -> bool:
    """`from:` is a glob on the address (`*@acme.com`) or, without wildcards, a case-insensitive substring of From."""
    pattern = pattern.strip().lower()
    if any(ch in pattern for ch in "*?["):
        addresses = [addr.lower() for _, addr in getaddresses([from_header]) if addr]
        return any(fnmatch.fnmatchcase(addr, pattern) for addr in addresses)
    return pattern in from_header.lower()
