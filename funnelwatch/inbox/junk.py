"""Which folders of a mailbox are its junk folders (`spam_folders:`), for the backends that have folders.

`auto` (the default) takes every folder the server marks `\\Junk` (RFC 6154
SPECIAL-USE; Gmail's older XLIST says `\\Spam`) and every folder with one of
the usual names; a list names them; `[]` looks only into the inbox folder.
Reading a junk folder never marks mail read or moves it (the IMAP backend
EXAMINEs it and fetches with BODY.PEEK; a Maildir is only read).

    pick(listed=[("INBOX", ()), ("Junk", ("\\\\Junk",))], wanted="auto", home="INBOX")  # -> (["Junk"], [])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator

#: The junk folders' usual names (Dovecot, Thunderbird, Apple Mail, Outlook, Gmail, Courier-style INBOX.*).
JUNK_NAMES = ("Junk", "Spam", "Junk E-mail", "Junk Email", "[Gmail]/Spam", "INBOX.Junk", "INBOX.Spam")
JUNK_FLAGS = ("\\junk", "\\spam")


def _one_or_many(value: Any) -> Any:
    """`auto`, one folder name, or a list of them (`[]`: none)."""
    if isinstance(value, str):
        return "auto" if value.strip().lower() == "auto" else [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError("write auto, a list of folder names like [Junk, Spam], or [] to look into the inbox folder only")
    return [str(v) if isinstance(v, (int, float)) else v for v in value]


#: `spam_folders:` — `auto`, a list of folder names, or `[]` (inbox folder only).
SpamFolders = Annotated[Union[Literal["auto"], list[str]], BeforeValidator(_one_or_many)]


def pick(listed: list[tuple[str, tuple[str, ...]]], wanted: "str | list[str]", home: str) -> tuple[list[str], list[str]]:
    """The junk folders among the server's folders (`listed`: name and flags), and the wanted names it lacks."""
    others = [(name, flags) for name, flags in listed if name.lower() != home.lower()]
    if wanted == "auto":
        usual = {n.lower() for n in JUNK_NAMES}
        found = [name for name, flags in others
                 if any(f.lower() in JUNK_FLAGS for f in flags) or name.lower() in usual]
        return found, []
    by_name = {name.lower(): name for name, _ in others}
    found, missing = [], []
    for name in wanted:
        if name.lower() == home.lower():
            continue
        (found.append(by_name[name.lower()]) if name.lower() in by_name else missing.append(name))
    return list(dict.fromkeys(found)), missing


_LIST_ITEM = re.compile(r'\((?P<flags>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.+)', re.I)


def parse_list(data: list[Any]) -> list[tuple[str, tuple[str, ...]]]:
    """The (name, flags) of each untagged LIST / XLIST answer line (imaplib's data: bytes, or tuples for literals)."""
    from imap_tools.imap_utf7 import utf7_decode

    folders = []
    for item in data:
        if isinstance(item, tuple) and len(item) >= 2:
            head, name = utf7_decode(item[0]), utf7_decode(item[1])
            match = _LIST_ITEM.search(head + " x")
        elif isinstance(item, bytes):
            match = _LIST_ITEM.search(utf7_decode(item))
            name = match.group("name") if match else ""
        else:
            continue
        if not match:
            continue
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r'\\(.)', r"\1", name[1:-1])
        folders.append((name, tuple(match.group("flags").split())))
    return folders


def maildir_folders(root: Path) -> list[tuple[str, tuple[str, ...]]]:
    """A Maildir++'s subfolders (`.Junk` → `Junk`, `.INBOX.Spam`/`.[Gmail].Spam` keep their dots as written)."""
    try:
        names = sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name not in (".", "..") and p.is_dir())
    except OSError:
        return []
    return [(name[1:], ()) for name in names if (root / name / "cur").is_dir() or (root / name / "new").is_dir()]


def maildir_wanted(wanted: "str | list[str]") -> "str | list[str]":
    """Names as written in config, as Maildir++ spells them on disk (`[Gmail]/Spam` → `[Gmail].Spam`, no leading dot)."""
    if wanted == "auto":
        return [n.replace("/", ".") for n in JUNK_NAMES]
    return [n.lstrip(".").replace("/", ".") for n in wanted]
