"""Typed results: what a check found, as data every output shares.

The runner produces these, the store persists them, and the CLI, JSON, JUnit,
report and alerts all read them; nothing downstream passes bare dicts around.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """The outcome of one check (see PRODUCT.md "Statuses")."""

    PASS = "pass"
    FAIL = "fail"
    FLAKY = "flaky"
    PENDING = "pending"
    ERROR = "error"


class Category(str, enum.Enum):
    """Why a check failed, in the spec's words; stable in --json output."""

    HTTP_STATUS = "http_status"
    REDIRECT_LOOP = "redirect_loop"
    LOST_PARAM = "lost_param"
    WRONG_LANDING = "wrong_landing"
    MESSAGE_MISMATCH = "message_mismatch"
    FORM_MISSING = "form_missing"
    FORM_FIELD_MISSING = "form_field_missing"
    FORM_VALIDATION = "form_validation"
    FORM_JS_ERROR = "form_js_error"
    FORM_HTTP_ERROR = "form_http_error"
    FORM_NO_SUCCESS = "form_no_success"
    CAPTCHA = "captcha"
    NO_EMAIL = "no_email"
    MERGE_TAG = "merge_tag"
    WRONG_ASSET = "wrong_asset"
    ASSET_UNREACHABLE = "asset_unreachable"
    LATE_FOLLOWUP = "late_followup"
    MISSING_FOLLOWUP = "missing_followup"
    SLOW_PAGE = "slow_page"
    TEXT_MISSING = "text_missing"
    TEXT_FORBIDDEN = "text_forbidden"
    ELEMENT_MISSING = "element_missing"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # funnelwatch could not check (status error)
    CONFIG = "config"
    BROWSER = "browser"
    INBOX = "inbox"
    INTERNAL = "internal"


#: Plain-English names for a category, for people (report, alerts, terminal).
CATEGORY_LABELS: dict[Category, str] = {
    Category.HTTP_STATUS: "page answered with an error",
    Category.REDIRECT_LOOP: "redirect loop",
    Category.LOST_PARAM: "tracking parameter lost",
    Category.WRONG_LANDING: "ad lands on the wrong page",
    Category.MESSAGE_MISMATCH: "page does not match the ad",
    Category.FORM_MISSING: "form not found",
    Category.FORM_FIELD_MISSING: "form field not found",
    Category.FORM_VALIDATION: "form rejected the entry",
    Category.FORM_JS_ERROR: "form script error",
    Category.FORM_HTTP_ERROR: "form submission failed",
    Category.FORM_NO_SUCCESS: "form showed no success",
    Category.CAPTCHA: "CAPTCHA blocks the form",
    Category.NO_EMAIL: "delivery email never arrived",
    Category.MERGE_TAG: "email shows a raw merge tag",
    Category.WRONG_ASSET: "wrong asset delivered",
    Category.ASSET_UNREACHABLE: "asset link is broken",
    Category.LATE_FOLLOWUP: "follow-up came late",
    Category.MISSING_FOLLOWUP: "no follow-up",
    Category.SLOW_PAGE: "page too slow",
    Category.TEXT_MISSING: "expected text missing",
    Category.TEXT_FORBIDDEN: "page shows forbidden text",
    Category.ELEMENT_MISSING: "element not found",
    Category.TIMEOUT: "timed out",
    Category.CONNECTION: "site unreachable",
    Category.CONFIG: "check file is invalid",
    Category.BROWSER: "browser problem",
    Category.INBOX: "inbox problem",
    Category.INTERNAL: "funnelwatch problem",
}


@dataclass
class StepRecord:
    """One step that ran in an attempt: its name, how long, and whether it passed."""

    step: str
    ok: bool
    duration_s: float


@dataclass
class CheckResult:
    """The result of one check (one funnel on one viewport) in one run."""

    check: str
    file: str
    status: Status
    step: str | None = None
    category: Category | None = None
    reason: str | None = None
    duration_s: float = 0.0
    attempts: int = 1
    viewport: str = "desktop"
    latency_s: float | None = None
    token: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    report: str | None = None
    started_at: str | None = None
    tags: list[str] = field(default_factory=list)
    #: The maintenance window this result fell in (its alerts are held, uptime skips it); None outside one.
    maintenance: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable `--json` shape from PRODUCT.md, plus viewport/latency."""
        doc: dict[str, Any] = {
            "check": self.check,
            "file": self.file,
            "status": self.status.value,
            "step": self.step,
            "category": self.category.value if self.category else None,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 2),
            "attempts": self.attempts,
            "report": self.report,
            "viewport": self.viewport,
        }
        doc["latency_s"] = round(self.latency_s, 1) if self.latency_s is not None else None
        return doc


@dataclass
class RunResult:
    """Everything one `funnelwatch run` produced."""

    run_id: int
    started_at: str
    finished_at: str | None
    results: list[CheckResult]
    report_path: str | None = None
    #: Things that went wrong around the checks (an alert channel down): shown, never a failed run.
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every funnel works, 1 when one is broken, 2 when we could not check."""
        statuses = {r.status for r in self.results}
        if Status.ERROR in statuses:
            return 2
        if Status.FAIL in statuses:
            return 1
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "results": [r.to_json() for r in self.results],
        }


STATUS_MARKS: dict[Status, str] = {Status.PASS: "✓", Status.FAIL: "✗", Status.FLAKY: "~", Status.PENDING: "…", Status.ERROR: "!"}


def failure_text(step: str | None, category: Category | None, reason: str | None) -> str:
    """`Lead form: form submission failed: the POST … answered HTTP 500` — the label is left out
    when the reason already says it, so nobody reads the same words twice."""
    from .steps import title_of  # the step kinds import this module: look their titles up late

    label = CATEGORY_LABELS.get(category, "") if category else ""
    reason = reason or ""
    if label and label.lower() in reason.lower():
        label = ""
    return f"{title_of(step) or 'check'}: {label + ': ' if label else ''}{reason}"


def summary_line(result: CheckResult) -> str:
    """One line per result, as the terminal, the demo and the daemon print it."""
    where = f" [{result.viewport}]" if result.viewport != "desktop" else ""
    line = f"{STATUS_MARKS[result.status]} {result.status.value:<7} {result.check}{where}"
    if result.reason:
        line += " — " + failure_text(result.step, result.category, result.reason)
    if result.latency_s is not None:
        from .units import format_duration

        line += f" (latency {format_duration(result.latency_s)})"
    if result.maintenance:
        line += f" [maintenance {result.maintenance}: alerts held]"
    from .text import one_line

    return one_line(line)  # names and reasons carry page and email text: never an escape code on a terminal
