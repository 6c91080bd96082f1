"""An inbox backend is one module plus one registry line: the rest of funnelwatch learns about it from the backend.

The throwaway backend below lives only in this test: registered, its
`inbox.<name>` section is validated from its own settings model (did-you-mean
included), its opener is used by a real run, and its capabilities (not its
name) decide what it can serve.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

import pytest

from funnelwatch import Status
from funnelwatch.demo.documents import make_pdf
from funnelwatch.fields import Strict
from funnelwatch.inbox import BACKENDS, Backend, ReceivedEmail, register, unregister
from tests.fixtures.projects import BASE_CONFIG

PDF = make_pdf("Bottled Checklist 2026", ["Every letter kept"], pad_to=4_000)


class BottleSettings(Strict):
    """`inbox.bottle`: a message in a bottle, written for whoever asks."""

    subject: str
    keep: bool = True


class BottleInbox:
    """Serves one delivery email (a PDF attached) to every submission; remembers who asked."""

    name = "bottle"
    opened: list["BottleInbox"] = []

    def __init__(self, settings: BottleSettings, address: str):
        self.settings, self.address = settings, address
        self.asked: list[str] = []

    def open(self) -> None:
        BottleInbox.opened.append(self)

    def messages_for(self, token: str, since: datetime | None = None) -> list[ReceivedEmail]:
        self.asked.append(token)
        message = EmailMessage()
        message["From"] = "content@acme.test"
        message["To"] = self.address.replace("{token}", token)
        message["Subject"] = self.settings.subject
        message.set_content("Your copy is attached.")
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="bottled.pdf")
        return [ReceivedEmail.parse(message.as_bytes(), datetime.now(timezone.utc), key=f"bottle:{token}")]

    def close(self) -> None:
        pass


def _open(config: Any, settings: BottleSettings) -> BottleInbox:
    return BottleInbox(settings, config.settings.inbox.address)


@pytest.fixture
def bottle():
    backend = register(Backend("bottle", BottleSettings, _open, keeps_mail=False,
                               forgets="a bottle is read once and thrown back"))
    BottleInbox.opened.clear()
    yield backend
    unregister("bottle")


ASSET_CHECK = """\
name: Bottled checklist
asset:
  email:
    subject_contains: Checklist
    within: 5s
  attachment: true
  expect:
    type: pdf
    title_contains: Bottled Checklist
"""


def test_a_registered_backend_is_validated_and_its_opener_serves_a_run(bottle, project):
    project.config(BASE_CONFIG + "inbox:\n  bottle:\n    subject: Your Bottled Checklist\n  address: qa+{token}@example.com\n")
    project.check("bottled", ASSET_CHECK)
    result = project.run_one()
    assert result.status is Status.PASS, result.reason
    [inbox] = BottleInbox.opened
    assert inbox.asked and inbox.asked[0] == result.token
    assert result.evidence["asset"]["asset"]["title"] == "Bottled Checklist 2026"


def test_a_registered_backends_section_gets_did_you_mean(bottle, project):
    from funnelwatch.errors import ConfigError

    project.config(BASE_CONFIG + "inbox:\n  bottle:\n    subjekt: Your Bottled Checklist\n")
    with pytest.raises(ConfigError) as caught:
        project.load()
    said = str(caught.value)
    assert "config/funnelwatch.yaml:" in said and "inbox.bottle.subjekt" in said and "did you mean 'subject'" in said, said


def test_a_registered_backend_counts_as_one_of_the_backends_to_choose_from(bottle, project):
    from funnelwatch.errors import ConfigError

    project.config(BASE_CONFIG + "inbox:\n  bottle: {subject: x}\n  maildir: {path: inbox}\n")
    with pytest.raises(ConfigError) as caught:
        project.load()
    assert "choose one inbox backend, not maildir and bottle" in str(caught.value)


def test_its_capabilities_not_its_name_decide_what_it_can_serve(bottle, project):
    project.config(BASE_CONFIG + "inbox:\n  bottle: {subject: x}\n")
    project.check("demo", """\
name: Demo request
landing:
  url: http://127.0.0.1:9/lp
form:
  fill: {email: "{inbox}"}
  success: {text: Thanks}
followup:
  within: 1h
""")
    config = project.load()
    [broken] = config.broken
    said = " ".join(str(d) for d in broken.diagnostics)
    assert "needs an inbox that keeps mail between runs (imap or maildir): a bottle is read once and thrown back" in said, said


def test_without_the_registry_line_the_section_is_an_unknown_key(project):
    from funnelwatch.errors import ConfigError

    assert "bottle" not in BACKENDS
    project.config(BASE_CONFIG + f"inbox:\n  bottle: {{subject: {secrets.token_hex(2)}}}\n")
    with pytest.raises(ConfigError) as caught:
        project.load()
    assert "inbox.bottle" in str(caught.value) and "unknown key" in str(caught.value)
