"""How long finding one submission's email takes in a full IMAP folder vs a nearly empty one.

funnelwatch asks the IMAP server to search by recipient (`TO`/`CC`), narrowed
to mail that came after the submission (`UID <uidnext at connect>:*` and
`SINCE` the day before), so finding the delivery email should cost about the
same among 1,000 messages as among 10. This starts a real Dovecot, fills two
users' INBOXes (10 and 1,000 messages), and each round does what a run does:
connect, submit (note the moment), the target message arrives over LMTP, and
`ImapInbox.messages_for(token, since)` is timed (fresh connection and token
each round, so nothing is cached), both users interleaved in the same run.
The target is 1.5x (issue #21); the unnarrowed search (no `since`, as before
#21) is printed beside it for comparison.

    .venv/bin/python bench/inbox_scale.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from funnelwatch.inbox.imap import ImapInbox, ImapSettings  # noqa: E402
from tests.fixtures.dovecot import MAIL_GID, MAIL_UID, DovecotServer  # noqa: E402

TARGET = 1.5


def _message(to: str, subject: str, number: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Acme <news@acme.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<bench-{number}-{secrets.token_hex(4)}@acme.test>"
    message.set_content(f"Message {number}.\n" + "Lorem ipsum dolor sit amet. " * 40)
    return message.as_bytes()


def _fill(server: DovecotServer, user: str, count: int) -> None:
    """Write `count` messages for other submissions straight into the user's Maildir."""
    home = server.root / "mail" / user
    for sub in ("new", "cur", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.chown(home / sub, MAIL_UID, MAIL_GID)
    os.chown(home, MAIL_UID, MAIL_GID)
    for number in range(count):
        token = "fw" + secrets.token_hex(5)
        path = home / "new" / f"{time.time():.6f}.bench{number}.fw"
        path.write_bytes(_message(f"{user}+{token}@example.com", f"Newsletter {number}", number))
        os.chown(path, MAIL_UID, MAIL_GID)


def _time_find(server: DovecotServer, user: str, rounds: int, narrowed: bool = True) -> list[float]:
    """Connect, submit, let the target arrive, time the poll that finds it."""
    settings = ImapSettings(host="127.0.0.1", port=server.imap_port, ssl=False, username=user, password=server.password)
    timings = []
    for _ in range(rounds):
        inbox = ImapInbox(settings, address=f"{user}+{{token}}@example.com")
        inbox.open()
        try:
            token = "fw" + secrets.token_hex(5)
            submitted = datetime.now(timezone.utc)
            address = f"{user}+{token}@example.com"
            server.deliver(_message(address, "Your HIPAA checklist", -1), address)
            started = time.perf_counter()
            found = inbox.messages_for(token, submitted if narrowed else None)
            timings.append(time.perf_counter() - started)
        finally:
            inbox.close()
        assert [m.subject for m in found] == ["Your HIPAA checklist"], [m.subject for m in found]
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    args = parser.parse_args()
    server = DovecotServer(user="small")
    server.start()
    try:
        passwd = server.root / "passwd"
        passwd.write_text(passwd.read_text() + passwd.read_text().replace("small", "large"))
        for user, count in (("small", args.small), ("large", args.large)):
            _fill(server, user, count)
            _time_find(server, user, 3)  # warm-up: Dovecot indexes the new files and caches To: headers
            _time_find(server, user, 1, narrowed=False)
        timings: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.rounds):  # interleaved, so load on the machine hits both sides alike
            for narrowed in (True, False):
                for user in ("small", "large"):
                    timings.setdefault((user, narrowed), []).extend(_time_find(server, user, 1, narrowed))
        median = {key: statistics.median(values) for key, values in timings.items()}
        for narrowed, label in ((False, "unnarrowed (no since)"), (True, "narrowed (since)")):
            for user, count in (("small", args.small), ("large", args.large)):
                print(f"inbox_scale: {label:>21}: find one email among {count:>5}: "
                      f"{median[(user, narrowed)] * 1000:7.1f} ms (median of {args.rounds})")
        before = median[("large", False)] / median[("small", False)]
        ratio = median[("large", True)] / median[("small", True)]
        print(f"inbox_scale: unnarrowed ratio {before:.2f}x (for comparison)")
        print(f"inbox_scale: ratio {ratio:.2f}x, target <= {TARGET:.1f}x: {'pass' if ratio <= TARGET else 'MISS'}")
        return 0 if ratio <= TARGET else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
