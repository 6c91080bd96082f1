"""funnelwatch: catch broken marketing funnels before prospects do."""

from .api import build_report, run
from .config import Check, Config, load_config
from .errors import ConfigError, Diagnostic, FunnelwatchError
from .results import Category, CheckResult, RunResult, Status

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
    "Status",
    "build_report",
    "load_config",
    "run",
]
