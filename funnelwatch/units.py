"""Durations (`30s`, `10m`, `2h`, `1d`, `7d`) and sizes (`500B`, `20KB`, `2MB`)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.I)
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.I)
_SIZE_BYTES = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_duration(value: object) -> float:
    """Seconds in a duration such as `30s` or `7d`; plain numbers are seconds.

    >>> parse_duration("10m")
    600.0
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 2h or 1d")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a duration; write it like 30s, 10m, 2h or 1d")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()]


def parse_size(value: object) -> int:
    """Bytes in a size such as `500B`, `20KB` or `2MB`; plain numbers are bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 500B, 20KB or 2MB")
    if isinstance(value, (int, float)):
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a size; write it like 500B, 20KB or 2MB")
    return int(float(match.group(1)) * _SIZE_BYTES[(match.group(2) or "b").lower()])


def format_duration(seconds: float | None) -> str:
    """A short human duration: `4m 12s`, `1d 3h`, `850ms`."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_size(size: int | None) -> str:
    if size is None:
        return "—"
    for unit, factor in (("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
