"""`<project>/.env`: the variables `${VAR}` reads, for runs that start without your shell.

cron and systemd start funnelwatch with an almost empty environment, so a
`${FUNNELWATCH_IMAP_PASSWORD}` exported in your shell profile is not there at
02:00. The project's `.env` (python-dotenv's format: `NAME=value` lines) is
read before the config: a variable already set in the environment always
wins, and a value from the file is treated exactly like one from the
environment (a secret wherever a `${VAR}` would be one).

    loaded = load_env_file(root)     # names set from .env in this process
    where_is(name, root)             # "environment", ".env" or None (missing)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import EnvUse

ENV_FILE = ".env"

#: Names this process set from a .env file (a reload may update them; a variable set by the caller never).
_FROM_FILE: dict[str, str] = {}


def load_env_file(root: Path) -> dict[str, str]:
    """Set every variable of `root/.env` that the environment does not already have; return those set."""
    path = root / ENV_FILE
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError):
        return {}
    loaded: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name in os.environ and _FROM_FILE.get(name) != os.environ[name]:
            continue  # set by the caller: the environment wins
        os.environ[name] = value
        _FROM_FILE[name] = value
        loaded[name] = value
    return loaded


def source_of(name: str) -> str | None:
    """Where a variable's value comes from now: ".env", "environment", or None (not set)."""
    if name not in os.environ:
        return None
    return ENV_FILE if _FROM_FILE.get(name) == os.environ[name] else "environment"


def describe(variables: "list[EnvUse]", root: Path) -> list[str]:
    """One line per variable the config needs: where it is used and where its value comes from.

    A variable set only in this shell is flagged: cron and systemd will not have it.
    """
    by_name: dict[str, list[EnvUse]] = {}
    for use in variables:
        by_name.setdefault(use.name, []).append(use)
    env_file = root / ENV_FILE
    lines = []
    for name in sorted(by_name):
        uses = by_name[name]
        where = ", ".join(dict.fromkeys(u.where() for u in uses))
        source = source_of(name)
        if source == ENV_FILE:
            state = f"set in {env_file}"
        elif source is None:
            state = f"MISSING — add {name}=... to {env_file}"
        else:
            state = (f"set in this shell only — not in {env_file}, so cron and systemd will not have it; "
                     f"add {name}=... there")
        lines.append(f"{name} ({where}): {state}")
    return lines
