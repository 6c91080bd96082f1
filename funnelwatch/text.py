"""File-safe names from free text: check files, report pages, imported ad checks.

    slugify("Summer sale — Meta ads")            -> "Summer-sale-Meta-ads"
    slugify("Summer Sale", lower=True, keep="")  -> "summer-sale"
"""

from __future__ import annotations

import hashlib
import re


def slugify(text: str, keep: str = "_.-", lower: bool = False, max_length: int | None = None,
            fallback: str = "check") -> str:
    """ASCII letters, digits and the `keep` characters; every other run becomes one `-`."""
    base = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", "-", text.casefold() if lower else text).strip("-")
    return (base[:max_length] if max_length is not None else base) or fallback


def short_hash(text: str) -> str:
    """Six hex digits that tell apart names whose slugs collide."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
