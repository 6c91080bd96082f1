"""How long finding one submission's email takes in a full IMAP folder vs a nearly empty one.

funnelwatch asks the IMAP server to search by recipient (`TO`/`CC`), so
finding the delivery email should cost about the same among 1,000 messages
as among 10. This starts a real Dovecot, fills two users' INBOXes (10 and
1,000 messages), delivers one target message to each over LMTP, and times
`ImapInbox.messages_for(token)` (fresh connection each round, so nothing is
cached) in the same run. The ratio must stay flat (well under 10x).

    .venv/bin/python bench/inbox_scale.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from funnelwatch.inbox.imap import ImapInbox, ImapSettings  # noqa: E402
from tests.fixtures.dovecot import MAIL_GID, MAIL_UID, DovecotServer  # noqa: E402

FLAT_ENOUGH = 10.0


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


def _time_find(server: DovecotServer, user: str, token: str, rounds: int) -> list[float]:
    settings = ImapSettings(host="127.0.0.1", port=server.imap_port, ssl=False, username=user, password=server.password)
    timings = []
    for _ in range(rounds):
        inbox = ImapInbox(settings, address=f"{user}+{{token}}@example.com")
        inbox.open()
        try:
            started = time.perf_counter()
            found = inbox.messages_for(token)
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
        tokens = {}
        for user, count in (("small", args.small), ("large", args.large)):
            _fill(server, user, count)
            tokens[user] = "fw" + secrets.token_hex(5)
            address = f"{user}+{tokens[user]}@example.com"
            server.deliver(_message(address, "Your HIPAA checklist", -1), address)
            _time_find(server, user, tokens[user], 3)  # warm-up: Dovecot indexes the new files and caches To: headers
        timings: dict[str, list[float]] = {"small": [], "large": []}
        for _ in range(args.rounds):  # interleaved, so load on the machine hits both sides alike
            for user in ("small", "large"):
                timings[user] += _time_find(server, user, tokens[user], 1)
        medians = {args.small: statistics.median(timings["small"]), args.large: statistics.median(timings["large"])}
        ratio = medians[args.large] / medians[args.small]
        print(f"inbox_scale: find one email among {args.small:>5}: {medians[args.small] * 1000:7.1f} ms (median of {args.rounds})")
        print(f"inbox_scale: find one email among {args.large:>5}: {medians[args.large] * 1000:7.1f} ms (median of {args.rounds})")
        print(f"inbox_scale: ratio {ratio:.2f}x ({'flat' if ratio < FLAT_ENOUGH else 'NOT flat'}: limit {FLAT_ENOUGH:.0f}x)")
        return 0 if ratio < FLAT_ENOUGH else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
