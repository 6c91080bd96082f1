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
    EMAIL_IN_SPAM = "email_in_spam"
    EMAIL_AUTH_FAIL = "email_auth_fail"
    MERGE_TAG = "merge_tag"
    WRONG_ASSET = "wrong_asset"
    ASSET_UNREACHABLE = "asset_unreachable"
    LATE_FOLLOWUP = "late_followup"
    MISSING_FOLLOWUP = "missing_followup"
    LATE_REPLY = "late_reply"
    MISSING_REPLY = "missing_reply"
    BOUNCED = "bounced"
    SLOW_PAGE = "slow_page"
    TEXT_MISSING = "text_missing"
    TEXT_FORBIDDEN = "text_forbidden"
    CONVERSION_MISSING = "conversion_missing"
    CONVERSION_EARLY = "conversion_early"
    ELEMENT_MISSING = "element_missing"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    # funnelwatch could not check (status error)
    CONFIG = "config"
    BROWSER = "browser"
    INBOX = "inbox"
    OUTBOX = "outbox"
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
    Category.EMAIL_IN_SPAM: "email landed in the spam folder",
    Category.EMAIL_AUTH_FAIL: "receivers distrust the email (SPF/DKIM/DMARC)",
    Category.MERGE_TAG: "email shows a raw merge tag",
    Category.WRONG_ASSET: "wrong asset delivered",
    Category.ASSET_UNREACHABLE: "asset link is broken",
    Category.LATE_FOLLOWUP: "follow-up came late",
    Category.MISSING_FOLLOWUP: "no follow-up",
    Category.LATE_REPLY: "reply came late",
    Category.MISSING_REPLY: "no reply",
    Category.BOUNCED: "published address bounced",
    Category.SLOW_PAGE: "page too slow",
    Category.TEXT_MISSING: "expected text missing",
    Category.TEXT_FORBIDDEN: "page shows forbidden text",
    Category.CONVERSION_MISSING: "conversion tag did not fire",
    Category.CONVERSION_EARLY: "conversion fires before the submit",
    Category.ELEMENT_MISSING: "element not found",
    Category.TIMEOUT: "timed out",
    Category.CONNECTION: "site unreachable",
    Category.CONFIG: "check file is invalid",
    Category.BROWSER: "browser problem",
    Category.INBOX: "inbox problem",
    Category.OUTBOX: "outbox problem",
    Category.INTERNAL: "funnelwatch problem",
}

#: Who usually fixes a category (shown with the next step, so a marketer knows whom to call).
WEB_TEAM, MAOPS, AD_OPS, SALES_OPS, MAIL_IT, FUNNELWATCH = (
    "web team", "marketing-automation admin", "ad-ops", "sales ops", "IT (mail)", "whoever runs funnelwatch")

#: Per category: the plain next step, and who usually owns it. Kept beside the labels: a new
#: category needs both (a test holds every category to it).
CATEGORY_ADVICE: dict[Category, tuple[str, str]] = {
    Category.HTTP_STATUS: ("The page answers with an error, so every visitor sees it: ask the web team to restore the page "
                           "or redirect the URL to its replacement.", WEB_TEAM),
    Category.REDIRECT_LOOP: ("The link redirects in a circle and never arrives: ask whoever manages the redirects or "
                             "link shortener to break the loop (the redirect chain below shows each hop).", WEB_TEAM),
    Category.LOST_PARAM: ("A redirect on the way drops a tracking parameter (gclid, utm_*), so the ad's clicks can't be "
                          "attributed: ask whoever manages the redirect or link shortener to pass the query string on "
                          "(the redirect chain below shows the hop that drops it).", AD_OPS),
    Category.WRONG_LANDING: ("The ad lands somewhere other than the page it should: update the ad's final URL, or ask the "
                             "web team why the page now redirects elsewhere.", AD_OPS),
    Category.MESSAGE_MISMATCH: ("The page no longer says what the ad promises (a changed headline or offer): update the ad "
                                "or the page so they match again; mismatched ads lose Quality Score and trust.", AD_OPS),
    Category.FORM_MISSING: ("The lead form is gone from the page (a template change, a broken embed): ask the web team to "
                            "put it back; until then this page collects no leads.", WEB_TEAM),
    Category.FORM_FIELD_MISSING: ("A form field was renamed or removed: ask the marketing-automation admin whether the form "
                                  "changed, then update the check's `fill:` to match.", MAOPS),
    Category.FORM_VALIDATION: ("The form refuses a valid entry (a new required field, a stricter rule): ask the "
                               "marketing-automation admin to fix the form's rules; prospects are refused the same way.", MAOPS),
    Category.FORM_JS_ERROR: ("A script error stops the form from submitting: send the console error below to the web team; "
                             "a tag or plugin update is the usual cause.", WEB_TEAM),
    Category.FORM_HTTP_ERROR: ("The form's server refused the submission: ask the marketing-automation admin to check the "
                               "form handler (the request and its answer are below).", MAOPS),
    Category.FORM_NO_SUCCESS: ("The form was sent but no thank-you appeared: check with the web team whether the thank-you "
                               "page or message changed, and update the check's `success:` if it did on purpose.", WEB_TEAM),
    Category.CAPTCHA: ("A CAPTCHA blocks the synthetic lead: ask the web team to allow funnelwatch's test address or a "
                       "test key, or check this funnel without submitting.", WEB_TEAM),
    Category.NO_EMAIL: ("The promised email never arrived: ask the marketing-automation admin whether the form still "
                        "triggers the delivery email and whether sending is paused.", MAOPS),
    Category.EMAIL_IN_SPAM: ("The email reached the inbox's junk folder, so the prospect will likely never see it: ask IT "
                             "(mail) to check the sending domain's reputation and its SPF, DKIM and DMARC records.", MAIL_IT),
    Category.EMAIL_AUTH_FAIL: ("The receiving server distrusts the email (its SPF, DKIM or DMARC check failed), the next "
                               "step towards the spam folder: ask IT (mail) to fix the sending domain's DNS records or "
                               "signing key (the verdicts are below).", MAIL_IT),
    Category.MERGE_TAG: ("The email shows a raw merge tag to the prospect: ask the marketing-automation admin to fix the "
                         "template's field or its default value.", MAOPS),
    Category.WRONG_ASSET: ("The email delivers a different asset than the one promised: ask the marketing-automation "
                           "admin to point the email at the right file.", MAOPS),
    Category.ASSET_UNREACHABLE: ("The email's download link is broken: ask the marketing-automation admin to re-upload the "
                                 "asset or fix the link.", MAOPS),
    Category.LATE_FOLLOWUP: ("The sales team answered the demo request later than the SLA: share the figures with sales ops "
                             "and check the lead routing and working hours.", SALES_OPS),
    Category.MISSING_FOLLOWUP: ("Nobody answered the demo request: ask sales ops whether leads from this form still reach a "
                                "person (routing rules, a left colleague's inbox).", SALES_OPS),
    Category.LATE_REPLY: ("The published address answered later than its SLA: share the response times with whoever "
                          "owns that inbox (sales ops for sales@, support for support@) and check who watches it.", SALES_OPS),
    Category.MISSING_REPLY: ("Nobody answered the question sent to the published address: ask sales ops who reads that "
                             "inbox now (a shared mailbox without an owner, a forwarding rule gone).", SALES_OPS),
    Category.BOUNCED: ("The address published on the site takes no mail: ask IT (mail) to restore the mailbox or alias, "
                       "or the web team to publish one that works (the bounce's words are below).", MAIL_IT),
    Category.SLOW_PAGE: ("The page takes longer to load than the check allows; slow pages lose visitors: send the "
                         "timings to the web team.", WEB_TEAM),
    Category.TEXT_MISSING: ("Copy the check expects is gone from the page: ask the web team whether it changed on purpose, "
                            "and update the check if it did.", WEB_TEAM),
    Category.TEXT_FORBIDDEN: ("The page shows text it must never show (an error, a placeholder, an old price): ask the web "
                              "team to remove it.", WEB_TEAM),
    Category.CONVERSION_MISSING: ("The form works but the ad platforms never hear about the lead, so their bidding starves "
                                  "and campaign reports undercount: ask whoever manages the tag manager to restore the "
                                  "conversion tag on the thank-you page (the Tags table below shows what fired instead).", AD_OPS),
    Category.CONVERSION_EARLY: ("The conversion fires before the form is sent, so every visitor counts as a lead and the "
                                "platforms bid on the wrong people: ask whoever manages the tag manager to trigger it on "
                                "the thank-you page or the form's success, not on the landing page.", AD_OPS),
    Category.ELEMENT_MISSING: ("An element a custom step needs is gone: ask the web team whether the page changed, and "
                               "update the check's selector if it did.", WEB_TEAM),
    Category.TIMEOUT: ("The funnel did not finish in time: if it is slow for everyone, tell the web team; if it was a "
                       "one-off, the next run will show it.", WEB_TEAM),
    Category.CONNECTION: ("The site could not be reached at all (DNS, certificate, server down): tell the web team at "
                          "once; nobody can reach this page.", WEB_TEAM),
    Category.CONFIG: ("The check file has a mistake: run `funnelwatch validate` and fix the line it names.", FUNNELWATCH),
    Category.BROWSER: ("The browser on the funnelwatch machine failed; the funnel may be fine: check the machine's memory "
                       "and Chromium installation.", FUNNELWATCH),
    Category.INBOX: ("funnelwatch could not read its inbox; the funnel may be fine: check the inbox settings and password "
                     "in config/funnelwatch.yaml.", FUNNELWATCH),
    Category.OUTBOX: ("funnelwatch could not send its question; the published inbox may be fine: check the outbox: "
                      "SMTP settings and password in config/funnelwatch.yaml.", FUNNELWATCH),
    Category.INTERNAL: ("funnelwatch itself failed; the funnel may be fine: run again with FUNNELWATCH_DEBUG=1 and report "
                        "the error.", FUNNELWATCH),
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

    def to_json(self, reports_dir: str = "") -> dict[str, Any]:
        """The stable `--json` shape from PRODUCT.md, plus viewport/latency, tags, started_at, artifacts and maintenance.

        Artifact paths are stored relative to the reports folder; here they are
        relative to the project, like `report` (`reports_dir` is prefixed).
        """
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
        doc["tags"] = list(self.tags)
        doc["started_at"] = self.started_at
        prefix = reports_dir.rstrip("/") + "/" if reports_dir else ""
        doc["artifacts"] = {kind: prefix + path for kind, path in sorted(self.artifacts.items())}
        doc["maintenance"] = self.maintenance
        return doc


#: The version of the `--json` document: new keys keep it, a renamed or removed key raises it.
JSON_SCHEMA_VERSION = 1


class Problem(str):
    """Something that went wrong around the checks (a channel down, a report not written): a line for
    people, and its `source` for machines (`alert`, `heartbeat`, `report`, `junit`, `other`)."""

    source: str

    def __new__(cls, message: str, source: str = "other") -> "Problem":
        made = super().__new__(cls, message)
        made.source = source
        return made

    @classmethod
    def of(cls, message: str, source: str) -> "Problem":
        """`message` as a Problem from `source`, unless it already says where it came from."""
        return message if isinstance(message, Problem) else cls(message, source)


@dataclass
class RunResult:
    """Everything one `funnelwatch run` produced."""

    run_id: int
    started_at: str
    finished_at: str | None
    results: list[CheckResult]
    report_path: str | None = None
    #: Things that went wrong around the checks (an alert channel down): shown, never a failed run.
    #: Plain strings are fine; a `Problem` also says where it came from (--json `problems[].source`).
    problems: list[str] = field(default_factory=list)
    #: The run could not be recorded whole (its disk filled up): exit 2, the run is `incomplete` in history.
    incomplete: bool = False
    #: settings.reports_dir as written, so --json paths are relative to the project like `report`.
    reports_dir: str = ""
    #: `1/2` for `run --shard 1/2` (its results are that shard's checks only); None: every check.
    shard: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when every funnel works, 1 when one is broken, 2 when we could not check (or not record it all)."""
        statuses = {r.status for r in self.results}
        if Status.ERROR in statuses or self.incomplete:
            return 2
        if Status.FAIL in statuses:
            return 1
        return 0

    def to_json(self) -> dict[str, Any]:
        """The `--json` document (funnelwatch/schemas/run-output.schema.json describes it)."""
        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "results": [r.to_json(self.reports_dir) for r in self.results],
            "problems": [{"source": Problem.of(p, "other").source, "message": str(p)} for p in self.problems],
            **({"incomplete": True} if self.incomplete else {}),
            **({"shard": self.shard} if self.shard else {}),
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
