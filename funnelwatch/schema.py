"""The config schema: every key a user may write, its type and its default.

Strict on purpose: an unknown key is an error (a misspelt key that is ignored
is a check that silently stops checking). `config.py` loads YAML into these
models and turns validation errors into file:line messages.

`Settings` is config/funnelwatch.yaml. A check file's model is built from the
step registry (`check_model()`): its top-level keys are here, each section's
model is declared by its step kind (`steps/<kind>.py`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, create_model, field_validator, model_validator

from .fields import Duration, Strict, StrList
from .fields import as_list as _as_list
from .schedules import check_schedule

if TYPE_CHECKING:
    from .steps.base import StepKind


def _command_words(value: Any) -> Any:
    """A command as one string (split like a shell would, without running one) or as a list of words."""
    if isinstance(value, str):
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split this command into words: {exc}") from None
    return value


_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PROXY_SCHEMES = ("http", "https", "socks5")


def check_locale(value: str | None) -> str | None:
    if value is not None and not _LOCALE.match(value):
        raise ValueError(f"'{value}' is not a language tag — write it like en-US, de-DE or fr")
    return value


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone — write an IANA name like Europe/Berlin or America/New_York") from None
    return value


def check_proxy(value: str | None) -> str | None:
    if value is None:
        return value
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in _PROXY_SCHEMES or not parts.hostname or port is None:
        raise ValueError("a proxy is a URL with scheme, host and port, like http://127.0.0.1:3128 "
                         f"(schemes: {', '.join(_PROXY_SCHEMES)}; credentials as http://user:pass@host:port)")
    return value


Locale = Annotated[str, AfterValidator(check_locale)]
TimezoneId = Annotated[str, AfterValidator(check_timezone)]
ProxyUrl = Annotated[str, AfterValidator(check_proxy)]


# --- config/funnelwatch.yaml -------------------------------------------------


class BrowserSettings(Strict):
    executable: str = "auto"
    headless: bool = True
    viewports: Annotated[list[Literal["desktop", "mobile"]], BeforeValidator(_as_list)] = ["desktop"]
    timeout: Duration = 30.0
    concurrency: int = Field(4, ge=1, le=64)
    locale: Locale = "en-US"
    timezone_id: TimezoneId | None = None
    proxy: ProxyUrl | None = None
    #: Private address ranges the browser and the asset download may reach (staging sites); link-local never.
    allow_private: StrList = []

    @field_validator("allow_private")
    @classmethod
    def _allow_private_ranges(cls, value: list[str]) -> list[str]:
        from .netguard import parse_networks

        parse_networks(value)
        return value


class ImapInbox(Strict):
    """`security:` says how the connection is encrypted, `auth:` how funnelwatch logs in.

    `ssl: true|false` is the old spelling of `security: ssl|none` and still works.
    """

    host: str
    port: int = Field(993, ge=1, le=65535)  # when not given: 993 for security: ssl, 143 otherwise
    security: Literal["ssl", "starttls", "none"] = "ssl"
    ssl: bool | None = None
    ca_file: str | None = None
    auth: Literal["password", "oauth2"] = "password"
    username: str
    password: str | None = None
    token_command: Annotated[list[str], BeforeValidator(_command_words)] | None = None
    folder: str = "INBOX"

    @model_validator(mode="before")
    @classmethod
    def _old_ssl_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        old = data.get("ssl")
        if isinstance(old, bool):
            implied = "ssl" if old else "none"
            given = data.get("security")
            if given is not None and given != implied:
                raise ValueError(f"ssl: {str(old).lower()} means security: {implied}, but security: {given} is given too — "
                                 "keep only security: (ssl: is its old spelling)")
            data["security"] = implied
        if "port" not in data and data.get("security") in ("starttls", "none"):
            data["port"] = 143
        return data

    @model_validator(mode="after")
    def _login_fits(self) -> "ImapInbox":
        if self.security == "starttls" and self.port == 993:
            raise ValueError("port 993 speaks TLS from the first byte: use security: ssl there, or starttls on port 143")
        if self.auth == "password":
            if self.token_command is not None:
                raise ValueError("token_command is for auth: oauth2 — add auth: oauth2, or remove token_command")
            if self.password is None:
                raise ValueError("give password (usually ${FUNNELWATCH_IMAP_PASSWORD}), or auth: oauth2 with a token_command")
        else:
            if self.password is not None:
                raise ValueError("auth: oauth2 logs in with the token from token_command, not a password — remove password")
            if not self.token_command:
                raise ValueError("auth: oauth2 needs token_command: a program that prints an access token")
        return self


class MaildirInbox(Strict):
    path: str


class SmtpInbox(Strict):
    host: str = "127.0.0.1"
    port: int = 2525


class InboxSettings(Strict):
    imap: ImapInbox | None = None
    maildir: MaildirInbox | None = None
    smtp: SmtpInbox | None = None
    address: str = "qa+{token}@example.com"
    poll: Duration = 2.0

    @model_validator(mode="after")
    def _one_backend(self) -> "InboxSettings":
        chosen = [n for n in ("imap", "maildir", "smtp") if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose one inbox backend, not {' and '.join(chosen)}")
        if "{token}" not in self.address:
            raise ValueError("address must contain {token} so every submission gets its own address")
        return self

    @property
    def backend(self) -> str | None:
        for name in ("imap", "maildir", "smtp"):
            if getattr(self, name) is not None:
                return name
        return None


class AlertChannel(Strict):
    url: str
    on: Annotated[list[Literal["broken", "recovered", "error", "reminder"]], BeforeValidator(_as_list)] = [
        "broken",
        "recovered",
        "error",
    ]
    remind: Duration | None = None
    failure_threshold: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)


class Defaults(Strict):
    retries: int = Field(1, ge=0, le=10)
    #: Pause between a failed attempt and its retry (plus up to half again, at random): a deploy or CDN blip passes.
    retry_delay: Duration = 5.0
    schedule: str = "daily at 02:00"

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        return check_schedule(value)  # type: ignore[return-value]


def _window_shorthand(value: Any) -> Any:
    """`- Sun 01:00-03:00 Europe/Berlin` is `- weekly: Sun 01:00-03:00 Europe/Berlin`."""
    return {"weekly": value} if isinstance(value, str) else value


class MaintenanceWindow(Strict):
    """A maintenance window: `weekly` (days and hours, as business hours) or `start`/`end` (ISO times)."""

    weekly: str | None = None
    start: str | None = None
    end: str | None = None
    tags: StrList = []
    checks: StrList = []
    note: str | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> "MaintenanceWindow":
        from .business_hours import BusinessHours
        from .maintenance import parse_moment

        if self.weekly is not None:
            if self.start or self.end:
                raise ValueError("a window is weekly: or start:/end:, not both — split it into two windows")
            BusinessHours.parse(self.weekly)
            return self
        if not (self.start and self.end):
            raise ValueError("give weekly: (like 'Sun 01:00-03:00 Europe/Berlin') or both start: and end: "
                             "(like 2026-12-24T18:00+01:00)")
        if parse_moment(self.end) <= parse_moment(self.start):
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


Maintenance = Annotated[list[Annotated[MaintenanceWindow, BeforeValidator(_window_shorthand)]], BeforeValidator(_as_list)]


class ReportSettings(Strict):
    keep: Duration = 90 * 86400.0
    url: str | None = None


class Settings(Strict):
    """config/funnelwatch.yaml."""

    database: str = "data/history.db"
    reports_dir: str = "reports"
    browser: BrowserSettings = BrowserSettings()  # type: ignore[call-arg]  # pydantic fills the defaults
    inbox: InboxSettings = InboxSettings()
    alerts: list[AlertChannel] = []
    heartbeat: str | None = None
    heartbeat_fail: str | None = None
    maintenance: Maintenance = []
    defaults: Defaults = Defaults()  # type: ignore[call-arg]
    report: ReportSettings = ReportSettings()
    on_overlap: Literal["wait", "exit"] = "exit"


# --- checks/*.yaml -----------------------------------------------------------


class CheckBase(Strict):
    """One funnel: checks/NAME.yaml — the keys every check has; sections come from the step kinds."""

    name: str
    tags: StrList = []
    schedule: str | None = None
    retries: int | None = Field(None, ge=0, le=10)
    viewports: Annotated[list[Literal["desktop", "mobile"]], BeforeValidator(_as_list)] | None = None
    enabled: bool = True
    locale: Locale | None = None
    timezone_id: TimezoneId | None = None
    proxy: ProxyUrl | None = None
    maintenance: Maintenance = []

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str | None) -> str | None:
        return check_schedule(value)

    @field_validator("maintenance")
    @classmethod
    def _own_windows(cls, value: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        if any(w.tags or w.checks for w in value):
            raise ValueError("a check's own maintenance windows cover that check; tags: and checks: belong in "
                             "config/funnelwatch.yaml's maintenance:")
        return value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be empty")
        return value.strip()

    def section(self, kind: str) -> Any:
        """The section a kind reads (None, or [] for a repeated kind, when absent)."""
        return getattr(self, kind, None)

    def sections(self) -> list[tuple["StepKind", Any]]:
        """(kind, section) for every section this check has, in the registry's order."""
        from .steps import KINDS

        return [(kind, value) for kind in KINDS.values() if (value := self.section(kind.name)) not in (None, [])]

    @model_validator(mode="after")
    def _sections_fit(self) -> "CheckBase":
        from .steps import KINDS

        present = self.sections()
        if not present:
            names = [k.name for k in KINDS.values() if not k.repeated] + [k.name for k in KINDS.values() if k.repeated]
            names = [", ".join(names[:-1]), names[-1]] if len(names) > 1 else names
            raise ValueError(f"nothing to check: add an {' or '.join(names)} section")
        has_url = any(kind.starts_page(section) for kind, section in present)
        if any(kind.needs_page(section) for kind, section in present) and not has_url:
            raise ValueError(
                "where does the funnel start? give ad.url or landing.url "
                "(landing and form run before steps:, so a flow that starts with goto keeps its checks in steps:)"
            )
        for kind, section in present:
            problem = kind.check_rules(section, [(k, s) for k, s in present if k is not kind])
            if problem:
                raise ValueError(problem)
        return self


_models: dict[tuple[int, ...], type[CheckBase]] = {}


def check_model() -> type[CheckBase]:
    """The model of a check file, with one optional field per registered step kind."""
    from .steps import KINDS

    key = tuple(id(kind) for kind in KINDS.values())
    if key not in _models:
        fields: dict[str, Any] = {}
        for kind in KINDS.values():
            fields[kind.name] = (list[kind.model], []) if kind.repeated else (kind.model | None, None)  # type: ignore[name-defined]
        _models[key] = create_model("CheckSpec", __base__=CheckBase, __doc__=CheckBase.__doc__, **fields)
    return _models[key]


#: The check model as the built-in kinds make it (`check_model()` follows later registrations).
CheckSpec = check_model()
