"""What `database:` names: a SQLite file (the default) or a shared PostgreSQL server.

Kept apart from the store so config loading can tell the two apart without
importing a database driver. A PostgreSQL URL's password is a secret: it is
added to the config's redactor however it was written (literally or through
`${VAR}`), and `shown()` is the URL every message prints (no password).

    is_postgresql("postgresql://fw:s3cret@db:5432/funnelwatch")   # True
    shown("postgresql://fw:s3cret@db:5432/funnelwatch")           # 'postgresql://db:5432/funnelwatch'
    user("postgresql://fw:s3cret@db:5432/funnelwatch")            # 'fw'
"""

from __future__ import annotations

import hashlib
from urllib.parse import unquote, urlsplit

#: The schemes libpq accepts for a connection URI.
SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(database: object) -> bool:
    return isinstance(database, str) and database.strip().lower().startswith(SCHEMES)


def password(url: str) -> str | None:
    """The URL's password as written and decoded (None when it has none or cannot be read)."""
    try:
        found = urlsplit(url.strip()).password
    except ValueError:
        return None
    return unquote(found) if found else None


def shown(url: str) -> str:
    """`postgresql://host:port/db`: where the history is, for messages; never the password (nor the user: text
    leaving funnelwatch masks any `user@` of a URL as credentials, see redaction.py, so it is named apart)."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "localhost", parts.port or 5432
    except ValueError:
        return "postgresql://(unreadable URL)"
    return f"postgresql://{host}:{port}{parts.path or '/'}"


def user(url: str) -> str | None:
    """The URL's user name (None when it names none or cannot be read)."""
    try:
        found = urlsplit(url.strip()).username
    except ValueError:
        return None
    return unquote(found) if found else None


def key(url: str) -> str:
    """A short stable name for one PostgreSQL history (its shown URL's hash), for this machine's per-history files."""
    return hashlib.sha256(shown(url).encode()).hexdigest()[:12]
