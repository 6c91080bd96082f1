"""funnelwatch: catch broken marketing funnels before prospects do."""

import importlib
from typing import TYPE_CHECKING, Any

from .config import Check, Config, load_config
from .errors import ConfigError, Diagnostic, FunnelwatchError
from .results import Category, CheckResult, RunResult, Status
from .shards import Shard

__version__ = "0.1.0"

__all__ = [
    "Category",
    "Check",
    "CheckResult",
    "Config",
    "ConfigError",
    "Diagnostic",
    "FunnelwatchError",
    "RunResult",
    "Shard",
    "Status",
    "build_report",
    "load_config",
    "new_check",
    "run",
]

if TYPE_CHECKING:
    from .api import build_report, run
    from .learn import new_check


def __getattr__(name: str) -> Any:
    """`run` and `build_report` load the runner (Playwright, steps) on first use, so `validate` starts fast."""
    if name in ("run", "build_report", "api"):
        api = importlib.import_module(".api", __name__)
        return api if name == "api" else getattr(api, name)
    if name == "new_check":
        return importlib.import_module(".learn", __name__).new_check
    raise AttributeError(f"module 'funnelwatch' has no attribute {name!r}")
