"""The building blocks of every config model: strictness, durations, sizes, lists.

Shared by `schema.py` (config/funnelwatch.yaml and the check file's top level)
and by each step kind's own section model (`steps/<kind>.py`), so a kind can
declare its section without importing the schema that is built from it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def as_list(value: Any) -> Any:
    """Let a single string stand for a one-item list (`on: broken`)."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(as_list)]


def command_words(value: Any) -> Any:
    """A command as one string (split like a shell would, without running one) or as a list of words."""
    if isinstance(value, str):
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split this command into words: {exc}") from None
    return value


def dates_as_text(value: Any) -> Any:
    """YAML reads `2026-12-25` as a date; holidays keep it as ISO text."""
    return [v.isoformat() if hasattr(v, "isoformat") else v for v in as_list(value)] if value is not None else value


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key that is ignored is a check that silently stops checking."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def web_url(value: str | None) -> str | None:
    """A URL the browser opens must be a web page: never file://, javascript:, data: or a bare path."""
    from urllib.parse import urlsplit

    if value is None:
        return value
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(f"'{shown}' is not an http(s) URL — funnelwatch only opens web pages; "
                         "write the full address, starting with https:// (or http://)")
    return value
