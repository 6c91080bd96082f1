"""Where an email landed, and whether receivers trust it: one judgement for every email funnelwatch waits for.

An asset email in the spam folder is, for the prospect, an asset that never
came; a DKIM or DMARC failure is the next spam-folder email. Both are
judged here, the same way for delivery emails and follow-up replies:

- found in a junk folder: `email_in_spam`, the reason naming the folder;
- the receiving server's verdicts (`authres.receiver_verdicts`): DKIM `fail`,
  DMARC `fail`, or SPF `fail`/`softfail` with no DKIM `pass`: `email_auth_fail`,
  the reason quoting the verdicts and the signing domain. No header: shown as
  "not reported by the receiving server", never a failure.

    problem = judge(received, trusted=None, what="the delivery email")   # (Category, reason) | None
    facts = delivery_facts(received, trusted=None)                       # for evidence["..."]["email"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .authres import AuthResults, arc_chain, receiver_verdicts
from .results import Category

if TYPE_CHECKING:
    from .inbox.base import ReceivedEmail

NOT_REPORTED = "not reported by the receiving server"
#: The keys `delivery_facts` adds to an email's evidence (the report shows them as the delivery section).
DELIVERY_KEYS = ("folder", "in_spam", "auth", "return_path", "list_unsubscribe", "arc")


def verdicts(received: "ReceivedEmail", trusted: str | None) -> AuthResults | None:
    return receiver_verdicts(_headers(received), trusted)


def auth_problem(found: AuthResults | None) -> bool:
    if found is None:
        return False
    spf_failed = found.spf in ("fail", "softfail") and found.dkim != "pass"
    return found.dkim == "fail" or found.dmarc == "fail" or spf_failed


def judge(received: "ReceivedEmail", trusted: str | None = None, what: str = "the delivery email") -> tuple[Category, str] | None:
    """Why the prospect would not see (or not trust) this email; None when it landed well."""
    if received.in_junk:
        return Category.EMAIL_IN_SPAM, f"{what} arrived in {received.folder}, not {received.home}"
    found = verdicts(received, trusted)
    if auth_problem(found):
        assert found is not None
        return Category.EMAIL_AUTH_FAIL, f"receivers distrust {what}: {describe(found)}"
    return None


def describe(found: AuthResults) -> str:
    """`mx.example.com reports spf=softfail, dkim=fail (signed by acme.test), dmarc=fail`."""
    parts = []
    for method in ("spf", "dkim", "dmarc"):
        value = found.verdict(method)
        if value is None:
            if method == "dkim":
                parts.append("no DKIM signature")
            continue
        signed = f" (signed by {found.signing_domain})" if method == "dkim" and found.signing_domain else ""
        parts.append(f"{method}={value}{signed}")
    via = f" (sealed in ARC i={found.instance})" if found.instance is not None else ""
    return f"{found.authserv_id}{via} reports {', '.join(parts)}"


def delivery_facts(received: "ReceivedEmail", trusted: str | None = None) -> dict[str, Any]:
    """Folder, receivers' verdicts, Return-Path and List-Unsubscribe, for the email's evidence."""
    found = verdicts(received, trusted)
    facts: dict[str, Any] = {
        "folder": received.folder or None,
        "in_spam": received.in_junk,
        "auth": found.to_json() if found is not None else NOT_REPORTED,
        "return_path": received.header("Return-Path")[:300] or None,
        "list_unsubscribe": bool(received.header("List-Unsubscribe")),
    }
    chain = arc_chain(_headers(received))
    if chain:
        facts["arc"] = chain
    return facts


def _headers(received: "ReceivedEmail") -> list[tuple[str, str]]:
    try:
        return [(str(name), str(value)) for name, value in received.message.raw_items()]
    except Exception:
        return []
