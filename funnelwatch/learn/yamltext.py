"""A check file as a person writes it: plain YAML, a comment on each guessed value.

ruamel.yaml is not a dependency, and PyYAML drops comments, so the text is
built here — but never by pasting page text into a template: every key and
value goes through PyYAML's own scalar emitter (quoted where YAML needs it)
and is read back to prove it means what was meant. Page text is hostile:
`${` is written `$${` (config reads it as a literal `${`, never as an
environment variable), and line breaks, control and bidi characters never
reach a value or a comment (`clean` folds them; comments go through
`text.one_line`).

    doc = Mapping([Item("name", "Free guide", "the page's title")])
    text = render(doc, header=["Written by funnelwatch new"])
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from ..text import one_line

Value = Union[str, int, float, bool, list[str], "Mapping"]
INDENT = "  "
COMMENT_COLUMN = 40
MAX_TEXT = 200


@dataclass
class Item:
    """One `key: value` line (or block), with an optional trailing comment and comment lines above it."""

    key: str
    value: Value
    comment: str = ""
    above: list[str] = field(default_factory=list)


@dataclass
class Mapping:
    items: list[Item] = field(default_factory=list)
    #: Commented-out lines written at the end of the block (suggestions the user may switch on).
    after: list[str] = field(default_factory=list)

    def add(self, key: str, value: Value, comment: str = "", above: list[str] | None = None) -> "Mapping":
        self.items.append(Item(key, value, comment, list(above or [])))
        return self


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """Page or email text as one short line of printable characters (whitespace runs become one space)."""
    text = "".join(" " if unicodedata.category(ch)[0] in ("Z", "C") and ch != "\u200d" else ch for ch in str(text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-") or text[:limit]
    return text


def scalar(value: Any, *, is_key: bool = False, flow: bool = False) -> str:
    """One YAML scalar, quoted when YAML needs it (`flow`: inside `[...]`); a value's `${` becomes `$${`."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    text = str(value)
    if not is_key:
        text = text.replace("${", "$${")
    if flow:
        dumped = yaml.safe_dump([text], default_flow_style=True, allow_unicode=True, width=1_000_000).strip()
        inner = dumped[1:-1] if dumped.startswith("[") and dumped.endswith("]") else ""
    else:
        inner = yaml.safe_dump(text, allow_unicode=True, width=1_000_000).strip().removesuffix("...").strip()
    if not inner or not _printable(inner) or not _reads_back(inner, text, flow):
        inner = json.dumps(text, ensure_ascii=True)  # a JSON string is a YAML double-quoted scalar
    return inner


def _printable(text: str) -> bool:
    """No line break, control, format (bidi) or other invisible character: what the eye sees is what YAML reads."""
    return all(ch == " " or unicodedata.category(ch)[0] not in ("C", "Z") for ch in text)


def _reads_back(emitted: str, meant: str, flow: bool) -> bool:
    try:
        if flow:
            return bool(yaml.safe_load(f"k: [{emitted}]") == {"k": [meant]})
        return bool(yaml.safe_load(f"k: {emitted}  # note") == {"k": meant}) and bool(yaml.safe_load(f"{emitted}: 1") == {meant: 1})
    except yaml.YAMLError:
        return False


def flow_list(values: list[Any]) -> str:
    return "[" + ", ".join(scalar(v, flow=True) for v in values) + "]"


def comment(text: str) -> str:
    """`# text`, one line whatever `text` holds."""
    return "# " + one_line(text).replace("\t", " ")


def _line(prefix: str, note: str) -> str:
    if not note:
        return prefix
    pad = max(COMMENT_COLUMN - len(prefix), 2)
    return prefix + " " * pad + comment(note)


def _emit(mapping: Mapping, depth: int, out: list[str]) -> None:
    indent = INDENT * depth
    for item in mapping.items:
        out.extend(indent + comment(line) for line in item.above)
        key = scalar(item.key, is_key=True)
        value = item.value
        if isinstance(value, Mapping):
            out.append(_line(f"{indent}{key}:", item.comment))
            _emit(value, depth + 1, out)
        elif isinstance(value, list):
            out.append(_line(f"{indent}{key}: {flow_list(value)}", item.comment))
        else:
            out.append(_line(f"{indent}{key}: {scalar(value)}", item.comment))
    out.extend(indent + comment(line) for line in mapping.after)


def render(doc: Mapping, header: list[str] | None = None) -> str:
    """The whole file; a final parse makes sure it is one YAML document."""
    out = [comment(line) for line in header or []]
    _emit(doc, 0, out)
    text = "\n".join(out) + "\n"
    yaml.safe_load(text)  # raises on a bug here, never writes a file that does not parse
    return text
