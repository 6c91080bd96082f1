"""The config schema: every key a user may write, its type and its default.

Strict on purpose: an unknown key is an error (a misspelt key that is ignored
is a check that silently stops checking). `config.py` loads YAML into these
models and turns validation errors into file:line messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .schedules import check_schedule
from .units import parse_duration, parse_size

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _as_list(value: Any) -> Any:
    """Let a single string stand for a one-item list (`on: broken`)."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


def _dates_as_text(value: Any) -> Any:
    """YAML reads `2026-12-25` as a date; holidays keep it as ISO text."""
    return [v.isoformat() if hasattr(v, "isoformat") else v for v in _as_list(value)] if value is not None else value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- config/funnelwatch.yaml -------------------------------------------------


class BrowserSettings(Strict):
    executable: str = "auto"
    headless: bool = True
    viewports: Annotated[list[Literal["desktop", "mobile"]], BeforeValidator(_as_list)] = ["desktop"]
    timeout: Duration = 30.0
    concurrency: int = Field(4, ge=1, le=64)
    #: Private address ranges the browser and the asset download may reach (staging sites); link-local never.
    allow_private: StrList = []

    @field_validator("allow_private")
    @classmethod
    def _allow_private_ranges(cls, value: list[str]) -> list[str]:
        from .netguard import parse_networks

        parse_networks(value)
        return value


class ImapInbox(Strict):
    host: str
    port: int = 993
    ssl: bool = True
    username: str
    password: str
    folder: str = "INBOX"


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
    schedule: str = "daily at 02:00"

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        return check_schedule(value)  # type: ignore[return-value]


class ReportSettings(Strict):
    keep: Duration = 90 * 86400.0
    url: str | None = None


class Settings(Strict):
    """config/funnelwatch.yaml."""

    database: str = "reports/history.db"
    reports_dir: str = "reports"
    browser: BrowserSettings = BrowserSettings()
    inbox: InboxSettings = InboxSettings()
    alerts: list[AlertChannel] = []
    heartbeat: str | None = None
    defaults: Defaults = Defaults()
    report: ReportSettings = ReportSettings()
    on_overlap: Literal["wait", "exit"] = "exit"


# --- checks/*.yaml -----------------------------------------------------------


class AdSection(Strict):
    url: str
    headline: str | None = None
    promise: StrList = []
    landing_url: str | None = None
    keep_params: StrList = []
    min_match: float = Field(0.8, ge=0, le=1)


class LandingSection(Strict):
    url: str | None = None
    must_show: StrList = []
    must_not_show: StrList = []
    max_load: Duration | None = None
    dismiss: str | None = None


class FormSuccess(Strict):
    url_contains: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _something(self) -> "FormSuccess":
        if not self.url_contains and not self.text:
            raise ValueError("give url_contains, text or both, so funnelwatch knows what success looks like")
        return self


class FormSection(Strict):
    selector: str | None = None
    fill: dict[str, str | int | bool] = {}
    submit: str | None = None
    success: FormSuccess | None = None


class AssetEmail(Strict):
    subject_contains: str | None = None
    within: Duration = 600.0


class AssetExpect(Strict):
    type: Literal["pdf", "docx", "html", "any"] = "any"
    title_contains: str | None = None
    text_contains: StrList = []
    min_size: Size | None = None
    max_size: Size = 50_000_000


class AssetSection(Strict):
    email: AssetEmail | None = None
    link_text: str | None = None
    attachment: bool = False
    page_link: str | None = None
    expect: AssetExpect = AssetExpect()

    @model_validator(mode="after")
    def _one_source(self) -> "AssetSection":
        sources = [s for s, on in (("link_text", self.link_text), ("attachment", self.attachment), ("page_link", self.page_link)) if on]
        if len(sources) > 1:
            raise ValueError(f"choose one of link_text, attachment or page_link, not {' and '.join(sources)}")
        if (self.link_text or self.attachment) and self.email is None:
            raise ValueError("link_text and attachment need an email: section (subject_contains, within)")
        return self


class FollowupSection(Strict):
    within: Duration
    every: Duration = 7 * 86400.0
    subject_contains: str | None = None
    from_: str | None = Field(None, alias="from")
    give_up: Duration = 7 * 86400.0
    hours: str | None = None
    holidays: Annotated[list[str], BeforeValidator(_dates_as_text)] = []

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, value: str | None) -> str | None:
        from .business_hours import BusinessHours

        return BusinessHours.parse(value).text if value else value

    @field_validator("holidays")
    @classmethod
    def _holidays_parse(cls, value: list[str]) -> list[str]:
        from .business_hours import BusinessHours

        BusinessHours.parse("Mon 00:00-01:00", value)
        return value

    @model_validator(mode="after")
    def _holidays_need_hours(self) -> "FollowupSection":
        if self.holidays and not self.hours:
            raise ValueError("holidays only apply with hours: (e.g. hours: Mon-Fri 09:00-17:00 Europe/Berlin)")
        return self


class CustomStep(Strict):
    """One item of `steps:`; exactly one action key."""

    goto: str | None = None
    click: str | None = None
    fill: dict[str, str | int | bool] | None = None
    submit: str | None = None
    expect_text: str | None = None
    expect_url: str | None = None
    screenshot: str | None = None
    wait: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "CustomStep":
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            valid = ", ".join(type(self).model_fields)
            raise ValueError(f"each step takes exactly one action ({valid}); this one has {len(given) or 'none'}")
        return self

    @property
    def action(self) -> tuple[str, Any]:
        for key in type(self).model_fields:
            value = getattr(self, key)
            if value is not None:
                return key, value
        raise AssertionError("validated step without action")


class CheckSpec(Strict):
    """One funnel: checks/NAME.yaml."""

    name: str
    tags: StrList = []
    schedule: str | None = None
    retries: int | None = Field(None, ge=0, le=10)
    viewports: Annotated[list[Literal["desktop", "mobile"]], BeforeValidator(_as_list)] | None = None
    enabled: bool = True
    ad: AdSection | None = None
    landing: LandingSection | None = None
    form: FormSection | None = None
    asset: AssetSection | None = None
    followup: FollowupSection | None = None
    steps: list[CustomStep] = []

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, value: str | None) -> str | None:
        return check_schedule(value)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be empty")
        return value.strip()

    @model_validator(mode="after")
    def _has_a_start(self) -> "CheckSpec":
        if not any((self.ad, self.landing, self.form, self.asset, self.followup, self.steps)):
            raise ValueError("nothing to check: add an ad, landing, form, asset, followup or steps section")
        has_url = bool(self.ad) or bool(self.landing and self.landing.url)
        needs_page = any((self.landing, self.form)) or (self.asset is not None and self.asset.page_link)
        if needs_page and not has_url:
            raise ValueError(
                "where does the funnel start? give ad.url or landing.url "
                "(landing and form run before steps:, so a flow that starts with goto keeps its checks in steps:)"
            )
        if self.followup and not self.form and not self.steps:
            raise ValueError("followup needs a form (or steps:) that submits the demo request")
        return self
