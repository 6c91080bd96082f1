"""Alerts after a run (broken, recovered, monitor problem) and the heartbeat.

Spine version: nothing is sent yet.
"""

from __future__ import annotations

from .config import Config
from .results import RunResult
from .store import Store


def dispatch(config: Config, store: Store, outcome: RunResult) -> list[str]:
    """Send what this run calls for; return problems worth showing (never raises)."""
    return []
