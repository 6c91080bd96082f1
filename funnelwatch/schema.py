"""The config schema: every key a user may write, its type and its default.

Strict on purpose: an unknown key is an error (a misspelt key that is ignored
is a check that silently stops checking). `config.py` loads YAML into these
models and turns validation errors into file:line messages.

`Settings` is config/funnelwatch.yaml; its `inbox:` is built from the inbox
backend registry (`settings_model()`, `inbox_model()`): each backend declares
its own `inbox.<name>` model (`inbox/<name>.py`). A check file's model is
built from the step registry (`check_model()`): its top-level keys are here,
each section's model is declared by its step kind (`steps/<kind>.py`).
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
    #: answer: analytics and ad hits get an empty 204 inside the browser (synthetic leads never reach analytics); send: they go out.
    analytics: Literal["answer", "send"] = "answer"
    #: Which attempts record a Playwright trace: the retries of a failure (default), every attempt (kept when it fails), none.
    trace: Literal["on-all-retries", "retain-on-failure", "off"] = "on-all-retries"
    #: How long the `conversions` step waits for a tag once no new hit arrives.
    tag_quiet: Duration = Field(3.0, gt=0, le=60)

    @field_validator("allow_private")
    @classmethod
    def _allow_private_ranges(cls, value: list[str]) -> list[str]:
        from .netguard import parse_networks

        parse_networks(value)
        return value


class InboxSettings(Strict):
    """`inbox:` — the keys every backend shares; `inbox_model()` adds one optional section per registered backend."""

    address: str = "qa+{token}@example.com"
    poll: Duration = 2.0
    #: The receiving server's authserv-id: only its `Authentication-Results` (SPF, DKIM, DMARC) count.
    trusted_authserv_id: str | None = None

    @model_validator(mode="after")
    def _one_backend(self) -> "InboxSettings":
        chosen = self._chosen()
        if len(chosen) > 1:
            raise ValueError(f"choose one inbox backend, not {' and '.join(chosen)}")
        if "{token}" not in self.address:
            raise ValueError("address must contain {token} so every submission gets its own address")
        return self

    def _chosen(self) -> list[str]:
        from .inbox import BACKENDS

        return [name for name in BACKENDS if getattr(self, name, None) is not None]

    @property
    def backend(self) -> str | None:
        """The configured backend's name (None: no inbox)."""
        chosen = self._chosen()
        return chosen[0] if chosen else None


_inbox_models: dict[tuple[int, ...], type[InboxSettings]] = {}


def inbox_model() -> type[InboxSettings]:
    """The `inbox:` model, with one optional section per registered inbox backend (`inbox.BACKENDS`)."""
    from .inbox import BACKENDS

    key = tuple(id(b) for b in BACKENDS.values())
    if key not in _inbox_models:
        fields: dict[str, Any] = {name: (b.model | None, None) for name, b in BACKENDS.items()}
        _inbox_models[key] = create_model("InboxSettings", __base__=InboxSettings, __doc__=InboxSettings.__doc__, **fields)
    return _inbox_models[key]


_LOOPBACK_HOSTS = ("localhost", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    """A relay on this machine: 127.0.0.0/8, ::1 or localhost (plain SMTP may go there, nowhere else)."""
    import ipaddress

    if host.strip().lower() in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OutboxSmtp(Strict):
    """SMTP submission for probe emails: `starttls` (587) or `ssl` (465); plain only to a relay on this machine."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # when not given: 587 for starttls, 465 for ssl, 25 for plain
    starttls: bool = False
    ssl: bool = False
    plain: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _security_fits(self) -> "OutboxSmtp":
        if self.starttls and self.ssl:
            raise ValueError("choose one: starttls: true (port 587) or ssl: true (port 465), not both")
        if not (self.starttls or self.ssl):
            if not self.plain:
                raise ValueError("say how to encrypt: starttls: true (port 587) or ssl: true (port 465); "
                                 "plain SMTP needs plain: true and a relay on this machine")
            if not is_loopback(self.host):
                raise ValueError(f"plain SMTP only goes to a relay on this machine (127.0.0.1, localhost), not "
                                 f"'{self.host}' — use starttls: true (port 587) or ssl: true (port 465)")
        elif self.plain:
            raise ValueError("plain: true means no encryption: remove it, or remove starttls/ssl")
        if self.ssl and self.port == 587:
            raise ValueError("port 587 starts in plain text and upgrades: use starttls: true there, or ssl: true on port 465")
        if self.starttls and self.port == 465:
            raise ValueError("port 465 speaks TLS from the first byte: use ssl: true there, or starttls: true on port 587")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password (usually ${FUNNELWATCH_SMTP_USER} and "
                             "${FUNNELWATCH_SMTP_PASSWORD}), or neither for a relay that needs no login")
        if self.port is None:
            self.port = 465 if self.ssl else 587 if self.starttls else 25
        return self

    @property
    def security(self) -> str:
        return "ssl" if self.ssl else "starttls" if self.starttls else "plain"


class OutboxSettings(Strict):
    """How probe emails (`contact:` checks) are sent; `from` holds {token}, so every probe has its own reply address."""

    smtp: OutboxSmtp
    from_: str = Field(alias="from")

    @field_validator("from_")
    @classmethod
    def _from_has_token(cls, value: str) -> str:
        from email.utils import parseaddr

        if "{token}" not in value:
            raise ValueError("from must contain {token} (e.g. \"Funnel Tester <qa+{token}@example.com>\") "
                             "so every probe has its own reply address")
        _, address = parseaddr(value.replace("{token}", "fwtoken"))
        if "@" not in address:
            raise ValueError(f"'{value}' is not an email address; write it like \"Funnel Tester <qa+{{token}}@example.com>\"")
        return value


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


def _digest_off(value: Any) -> Any:
    return "off" if value is False or value is None else value  # YAML reads a bare `off` as false
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


_window_shorthand.accepts_text = True  # type: ignore[attr-defined]  # the JSON Schema says so (config_schema.py)
Maintenance = Annotated[list[Annotated[MaintenanceWindow, BeforeValidator(_window_shorthand)]], BeforeValidator(_as_list)]


class ReportSettings(Strict):
    keep: Duration = 90 * 86400.0
    url: str | None = None
    #: The zone of every date the report and the digest show (IANA name).
    timezone: TimezoneId = "UTC"
    #: `weekly`: the first run after Monday 08:00 (in `timezone`) sends the digest to every alert channel.
    digest: Annotated[Literal["off", "weekly"], BeforeValidator(_digest_off)] = "off"


class SettingsBase(Strict):
    """config/funnelwatch.yaml (`settings_model()` gives it the `inbox:` of the registered backends)."""

    database: str = "data/history.db"
    reports_dir: str = "reports"
    browser: BrowserSettings = BrowserSettings()  # type: ignore[call-arg]  # pydantic fills the defaults
    inbox: InboxSettings = Field(default_factory=lambda: inbox_model()())
    outbox: OutboxSettings | None = None
    alerts: list[AlertChannel] = []
    heartbeat: str | None = None
    heartbeat_fail: str | None = None
    maintenance: Maintenance = []
    defaults: Defaults = Defaults()  # type: ignore[call-arg]
    report: ReportSettings = ReportSettings()
    on_overlap: Literal["wait", "exit"] = "exit"
    #: `per_shard`: each `run --shard K/N` sends its own alerts; `at_report`: shards send none and the
    #: `funnelwatch report` run after them sends one message per channel for all of them.
    shard_alerts: Literal["per_shard", "at_report"] = "per_shard"


_settings_models: dict[type[InboxSettings], type[SettingsBase]] = {}


def settings_model() -> type[SettingsBase]:
    """The model of config/funnelwatch.yaml, its `inbox:` built from the inbox backend registry."""
    inbox = inbox_model()
    if inbox not in _settings_models:
        _settings_models[inbox] = create_model("Settings", __base__=SettingsBase, __doc__="config/funnelwatch.yaml.",
                                               inbox=(inbox, Field(default_factory=inbox)))
    return _settings_models[inbox]


if TYPE_CHECKING:
    Settings = SettingsBase
else:
    #: config/funnelwatch.yaml as the built-in inbox backends make it (`settings_model()` follows later registrations).
    Settings = settings_model()


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
        """The section a kind reads (None, or [] for a repeated or listed kind, when absent)."""
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
            listed = kind.repeated or kind.listed
            fields[kind.name] = (list[kind.model], []) if listed else (kind.model | None, None)  # type: ignore[name-defined]
        _models[key] = create_model("CheckSpec", __base__=CheckBase, __doc__=CheckBase.__doc__, **fields)
    return _models[key]


#: The check model as the built-in kinds make it (`check_model()` follows later registrations).
CheckSpec = check_model()
