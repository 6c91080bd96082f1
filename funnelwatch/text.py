"""File-safe names from free text: check files, report pages, imported ad checks.

    slugify("Summer sale — Meta ads")            -> "Summer-sale-Meta-ads"
    slugify("Summer Sale", lower=True, keep="")  -> "summer-sale"
    slugify("Über uns — Größe")                  -> "Uber-uns-Grosse"
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Latin letters that NFKD does not split into a base letter and a mark.
_FOLDS = str.maketrans({"ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
                        "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
                        "ı": "i"})


def fold_accents(text: str) -> str:
    """Accented letters as their plain ASCII letters ("Größe" -> "Grosse"); ASCII text is returned unchanged."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLDS))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def slugify(text: str, keep: str = "_.-", lower: bool = False, max_length: int | None = None,
            fallback: str = "check") -> str:
    """ASCII letters, digits and the `keep` characters; accents fold first, every other run becomes one `-`."""
    folded = fold_accents(text)
    base = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", "-", folded.casefold() if lower else folded).strip("-")
    return (base[:max_length] if max_length is not None else base) or fallback


def short_hash(text: str) -> str:
    """Six hex digits that tell apart names whose slugs collide."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
