r"""Free text made safe: file-safe names, and one line a terminal shows as it is.

    slugify("Summer sale — Meta ads")            -> "Summer-sale-Meta-ads"
    slugify("Summer Sale", lower=True, keep="")  -> "summer-sale"
    slugify("Über uns — Größe")                  -> "Uber-uns-Grosse"
    one_line("Title\x1b]0;pwned\x07\u202e")     -> "Title\\x1b]0;pwned\\x07\\u202e"
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

#: Characters a terminal (or a log viewer) acts on instead of showing: C0 and C1 controls (ESC starts
#: escape sequences, BEL ends OSC titles), line and paragraph separators, and the bidi controls that
#: make text display in another order than it is stored (U+202E, "Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def one_line(text: str) -> str:
    """`text` with every control, line-break and bidi character shown escaped (`\\n`, `\\x1b`,
    `\\u202e`): what came from a page, an email or a file prints as one harmless line. Tabs stay."""
    return _UNSAFE.sub(_escaped, text)


def one_line_each(text: str) -> str:
    """Like `one_line`, but keeps the line breaks of a message that has several lines on purpose."""
    return "\n".join(one_line(line) for line in text.split("\n"))


def json_one_line(dumped: str) -> str:
    """JSON text (`json.dumps(..., ensure_ascii=False)`, no indent) with what `one_line` escapes written
    as `\\uXXXX`: the same document to a parser, harmless on a terminal."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)


def slugify(text: str, keep: str = "_.-", lower: bool = False, max_length: int | None = None,
            fallback: str = "check") -> str:
    """ASCII letters, digits and the `keep` characters; accents fold first, every other run becomes one `-`."""
    folded = fold_accents(text)
    base = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", "-", folded.casefold() if lower else folded).strip("-")
    return (base[:max_length] if max_length is not None else base) or fallback


def short_hash(text: str) -> str:
    """Six hex digits that tell apart names whose slugs collide."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
