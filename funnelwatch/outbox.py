"""The outbox: how a `contact` probe email leaves funnelwatch (SMTP submission, stdlib smtplib).

A probe is a real question to a published address (sales@, support@), sent
from this probe's own address (`outbox.from` with `{token}`) with a unique
`Message-ID`, so its reply is found by the token or by `In-Reply-To`.
Submission is `starttls` (587) or implicit TLS (`ssl`, 465) with the system's
CAs (or `ca_file`); plain SMTP only to a relay on this machine, and only with
`plain: true` (the schema checks both).

Every way the server can say no is mapped here, by type, to one
`MonitorProblem(Category.OUTBOX, …)`: a server we cannot reach or that refuses
us is funnelwatch's problem (`error`), never the funnel's. The server's own
words are quoted, redacted with the config's `Redactor` (a server may echo
the login back).

    message = probe_message(outbox, token, to="sales@example.com", subject="Pricing?", body="Hi …")
    send(outbox, message, redactor=config.redactor)   # raises MonitorProblem(Category.OUTBOX, …)
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import MonitorProblem
from .redaction import Redactor
from .results import Category

if TYPE_CHECKING:
    from .schema import OutboxSettings, OutboxSmtp


def from_address(outbox: "OutboxSettings", token: str) -> tuple[str, str]:
    """(the From header, the bare address) of the probe with this token."""
    header = outbox.from_.replace("{token}", token)
    return header, parseaddr(header)[1]


def probe_message(outbox: "OutboxSettings", token: str, to: str, subject: str, body: str, at: float) -> EmailMessage:
    """The probe as it is sent: From this probe's address, a Message-ID that carries the token, dated `at`."""
    header, address = from_address(outbox, token)
    domain = address.rpartition("@")[2] or "funnelwatch.invalid"
    message = EmailMessage()
    message["From"] = header
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(at, usegmt=True)
    message["Message-ID"] = make_msgid(idstring=token, domain=domain)
    message.set_content(body)
    return message


def send(outbox: "OutboxSettings", message: EmailMessage, ca_file: Path | None = None,
         redactor: Redactor | None = None) -> None:
    """Submit `message` over SMTP; any refusal is a `MonitorProblem` with the server's words, redacted."""
    smtp = outbox.smtp
    redactor = redactor if redactor is not None else Redactor()
    for secret in (smtp.password, smtp.username):
        if secret:
            redactor.add(secret)  # typed into the YAML rather than ${VAR}: just as secret
    where = f"{smtp.host}:{smtp.port}"
    try:
        client = _connect(smtp, ca_file)
    except MonitorProblem as problem:
        raise _problem(problem.reason, redactor) from None
    except Exception as exc:
        raise _problem(f"cannot reach the SMTP server {where}: {_describe(exc, smtp)}", redactor) from None
    try:
        _submit(client, smtp, message, where, ca_file)
    except MonitorProblem as problem:
        raise _problem(problem.reason, redactor) from None
    finally:
        try:
            client.quit()
        except Exception:
            client.close()


def _tls(smtp: "OutboxSmtp", ca_file: Path | None) -> ssl.SSLContext:
    if not ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise _problem(f"outbox.smtp.ca_file: cannot read {ca_file} as PEM certificates: "
                       f"{getattr(exc, 'strerror', None) or exc}") from None


def _connect(smtp: "OutboxSmtp", ca_file: Path | None) -> smtplib.SMTP:
    assert smtp.port is not None
    if smtp.ssl:
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=_tls(smtp, ca_file))
    return smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)


def _submit(client: smtplib.SMTP, smtp: "OutboxSmtp", message: EmailMessage, where: str, ca_file: Path | None) -> None:
    try:
        client.ehlo()
        if smtp.starttls:
            if not client.has_extn("starttls"):
                raise _problem(f"the SMTP server {where} does not offer STARTTLS (use ssl: true on port 465, "
                               "or plain: true for a relay on this machine)")
            client.starttls(context=_tls(smtp, ca_file))
            client.ehlo()
        if smtp.username is not None:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)
    except MonitorProblem:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise _problem(f"the SMTP server {where} refused the login for '{smtp.username}': {_said(exc)} "
                       "(check outbox.smtp.username and password; Gmail needs an app password)") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise _problem(f"the SMTP server {where} does not support what funnelwatch asked for: {exc}") from None
    except smtplib.SMTPSenderRefused as exc:
        raise _problem(f"the SMTP server {where} refused the sender {exc.sender}: {_said(exc)} "
                       "(outbox.from must be an address this login may send as)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        said = "; ".join(f"{rcpt}: {_said(answer)}" for rcpt, answer in exc.recipients.items())
        raise _problem(f"the SMTP server {where} refused the recipient: {said}") from None
    except smtplib.SMTPResponseException as exc:
        raise _problem(f"the SMTP server {where} refused the probe: {_said(exc)}") from None
    except Exception as exc:
        raise _problem(f"sending through the SMTP server {where} failed: {_describe(exc, smtp)}") from None


def _problem(reason: str, redactor: Redactor | None = None) -> MonitorProblem:
    """The one error of the outbox; `send` hides the config's secrets in it before it leaves."""
    return MonitorProblem(Category.OUTBOX, redactor.redact(reason) if redactor is not None else reason)


def _said(answer: object) -> str:
    """The server's own words: `535 5.7.8 Authentication credentials invalid`."""
    if isinstance(answer, smtplib.SMTPResponseException):
        code, text = answer.smtp_code, answer.smtp_error
    elif isinstance(answer, tuple) and len(answer) == 2:
        code, text = answer
    else:
        return str(answer)[:200]
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"[:300]


def _describe(exc: BaseException, smtp: "OutboxSmtp") -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and the port right?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {smtp.timeout:.0f}s"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"its certificate is not trusted ({exc.verify_message or exc.reason}) — if the server uses a private "
                "CA, point outbox.smtp.ca_file (or SSL_CERT_FILE) at it")
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc} (is {smtp.security} right for port {smtp.port}?)"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the server closed the connection ({exc or 'no reason given'}; is {smtp.security} right for port {smtp.port}?)"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _said(exc)
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:200]
