"""A poll knows when the submission went out, and reads only mail that can be its own.

The IMAP server is asked for the submission's address `SINCE` the day before
it went out (IMAP dates carry no time and no zone), and, when the submission
came after the connection noted each folder's UIDNEXT, only for UIDs from
there on. So a mailbox with years of mail is searched like an empty one, mail
from earlier days with the same token is not taken, and a server whose clock
runs in another timezone still finds the mail. A Maildir skips the files
modified more than a day before the submission unread.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime, timedelta, timezone

import pytest
from imap_tools import MailBoxUnencrypted

from funnelwatch.inbox.imap import ImapInbox, ImapSettings, imap_day
from funnelwatch.inbox.maildir import MaildirInbox, deliver
from tests.fixtures.dovecot import DovecotServer
from tests.fixtures.emails import plain_email


def new_token() -> str:
    return "fw" + secrets.token_hex(5)


def imap_inbox(server: DovecotServer) -> ImapInbox:
    settings = ImapSettings(host="127.0.0.1", port=server.imap_port, ssl=False, username=server.user,
                            password=server.password)
    return ImapInbox(settings, address=f"{server.user}+{{token}}@{server.domain}", timeout_s=10)


def append(server: DovecotServer, raw: bytes, at: datetime, folder: str = "INBOX") -> None:
    """File a message with the arrival time (INTERNALDATE) `at`, as a migration or a slow filter would."""
    with MailBoxUnencrypted("127.0.0.1", server.imap_port).login(server.user, server.password, initial_folder=None) as box:
        box.append(raw, folder, dt=at, flag_set=[])


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- imap (Dovecot) ---------------------------------------------------------------------


def test_the_submissions_email_is_found_among_hundreds_of_others(dovecot):
    for number in range(300):
        dovecot.write(plain_email(dovecot.address(new_token()), f"Newsletter {number}", "Lorem ipsum."))
    token = new_token()
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        submitted = now()
        dovecot.deliver(plain_email(dovecot.address(token), "Your HIPAA checklist", "Here it is."), dovecot.address(token))
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["Your HIPAA checklist"]
    finally:
        inbox.close()


def test_mail_that_arrives_in_junk_after_the_submission_is_found(dovecot):
    token = new_token()
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        submitted = now()
        dovecot.file_into("Junk", plain_email(dovecot.address(token), "Your checklist (junk)", "Here."))
        found = inbox.messages_for(token, submitted)
        assert [(m.subject, m.folder) for m in found] == [("Your checklist (junk)", "Junk")]
    finally:
        inbox.close()


def test_mail_with_the_token_from_an_earlier_day_is_not_taken(dovecot):
    token = new_token()
    address = dovecot.address(token)
    append(dovecot, plain_email(address, "Three days old", "old"), now() - timedelta(days=3))
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        submitted = now()
        dovecot.deliver(plain_email(address, "Fresh", "new"), address)
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["Fresh"]
        assert sorted(m.subject for m in inbox.messages_for(token)) == ["Fresh", "Three days old"]  # no since: all of it
    finally:
        inbox.close()


def test_mail_already_in_the_mailbox_when_the_run_connected_is_not_searched_for_a_later_submission(dovecot):
    token = new_token()
    address = dovecot.address(token)
    dovecot.deliver(plain_email(address, "Before the run", "old"), address)
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        submitted = now()
        dovecot.deliver(plain_email(address, "After the submission", "new"), address)
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["After the submission"]
    finally:
        inbox.close()


def test_a_submission_from_before_the_connection_still_finds_mail_that_came_in_between(dovecot):
    token = new_token()
    address = dovecot.address(token)
    submitted = now() - timedelta(minutes=5)  # an earlier run's follow-up, settled now
    dovecot.deliver(plain_email(address, "The reply", "hi"), address)
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["The reply"]
    finally:
        inbox.close()


def test_a_reconnect_keeps_mail_that_came_before_it(dovecot):
    token = new_token()
    address = dovecot.address(token)
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        submitted = now()
        dovecot.deliver(plain_email(address, "Before the drop", "hi"), address)
        inbox.mailbox.client.shutdown()  # the server drops the connection; the poll reconnects
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["Before the drop"]
    finally:
        inbox.close()


@pytest.fixture
def dovecot_west():
    """A Dovecot whose local time is UTC-12: its SEARCH days end twelve hours after UTC's."""
    server = DovecotServer(tz="<-12>12")
    server.start()
    yield server
    server.stop()


def test_a_server_whose_day_lags_utc_still_finds_the_email(dovecot_west):
    server = dovecot_west
    token = new_token()
    address = server.address(token)
    today = now().replace(hour=0, minute=0, second=0, microsecond=0)
    if now() < today + timedelta(minutes=15):
        today -= timedelta(days=1)
    submitted = today + timedelta(minutes=5)  # 00:05 UTC: still yesterday on the server
    append(server, plain_email(address, "Just after midnight UTC", "hi"), today + timedelta(minutes=10))
    with MailBoxUnencrypted("127.0.0.1", server.imap_port).login(server.user, server.password) as box:
        # the premise: a SINCE of the submission's own UTC day misses it on this server
        assert box.uids(f'SINCE {imap_day(submitted)} TO "{address}"') == []
    inbox = imap_inbox(server)
    inbox.open()
    try:
        assert [m.subject for m in inbox.messages_for(token, submitted)] == ["Just after midnight UTC"]
    finally:
        inbox.close()


def test_a_since_ahead_of_this_machines_clock_hides_no_mail(dovecot):
    token = new_token()
    address = dovecot.address(token)
    dovecot.deliver(plain_email(address, "Real mail", "hi"), address)
    inbox = imap_inbox(dovecot)
    inbox.open()
    try:
        moved_clock = now() + timedelta(days=5)  # a test's (or a misset) clock: never trusted to hide mail
        assert [m.subject for m in inbox.messages_for(token, moved_clock)] == ["Real mail"]
    finally:
        inbox.close()


def test_imap_days_use_english_month_names_in_utc():
    assert imap_day(datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-8)))) == "02-Dec-2026"
    assert imap_day(datetime(2026, 3, 7, 0, 0, tzinfo=timezone.utc)) == "07-Mar-2026"


# --- maildir ----------------------------------------------------------------------------


def test_maildir_skips_files_from_days_before_the_submission(tmp_path):
    token = new_token()
    address = f"qa+{token}@example.com"
    old = deliver(tmp_path, plain_email(address, "Three days old", "old"))
    stamp = time.time() - 3 * 86400
    os.utime(tmp_path / "new" / old, (stamp, stamp))
    deliver(tmp_path, plain_email(address, "Fresh", "new"))
    inbox = MaildirInbox(tmp_path)
    inbox.open()
    submitted = now() - timedelta(seconds=5)
    assert [m.subject for m in inbox.messages_for(token, submitted)] == ["Fresh"]
    assert sorted(m.subject for m in inbox.messages_for(token)) == ["Fresh", "Three days old"]
