"""Config loading: every spec example validates; bad input gets file:line, key, what to do."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from funnelwatch.config import load_config, validate_text
from funnelwatch.errors import ConfigError
from funnelwatch.schema import CheckSpec, Settings

from .fixtures.spec import yaml_blocks

ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV = {
    "FUNNELWATCH_IMAP_USER": "qa-user",
    "FUNNELWATCH_IMAP_PASSWORD": "hunter2-imap-secret",
    "FUNNELWATCH_ALERT_URL": "json://127.0.0.1:9/alerts",
    "FUNNELWATCH_HEARTBEAT_URL": "http://127.0.0.1:9/heartbeat",
    "FUNNELWATCH_SMTP_USER": "qa-smtp",
    "FUNNELWATCH_SMTP_PASSWORD": "hunter2-smtp-secret",
}


def messages(text: str, model=CheckSpec, file: str = "checks/hipaa.yaml") -> list[str]:
    return [str(d) for d in validate_text(textwrap.dedent(text), model, file)]


@pytest.fixture
def secrets_env(monkeypatch):
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)


def test_example_config_and_checks_in_the_repo_validate(secrets_env):
    config = load_config(ROOT)
    assert not config.broken, config.diagnostics
    assert config.settings.inbox.imap.password == "hunter2-imap-secret"
    assert config.settings.browser.timeout == 30
    assert config.checks[0].spec.asset.expect.min_size == 20_000


def test_every_yaml_example_in_the_product_spec_validates(secrets_env):
    blocks = yaml_blocks()
    # Picked by what each example is, not by where it sits: a new example in the spec moves no other.
    [config] = [b for b in blocks if b.startswith("database:")]
    [check] = [b for b in blocks if b.startswith("name:") and "\nform:" in b]
    [custom] = [b for b in blocks if b.startswith("steps:")]
    assert messages(config, Settings, "config/funnelwatch.yaml") == []
    assert messages(check) == []
    assert messages("name: custom flow\n" + custom) == []
    # "Deaf ears": the contact check and the outbox settings validate as written.
    [contact] = [b for b in blocks if b.lstrip().startswith("name:") and "\ncontact:" in b]
    [outbox] = [b for b in blocks if "outbox:" in b]
    assert messages(contact, file="checks/sales.yaml") == []
    assert messages(outbox, Settings, "config/funnelwatch.yaml") == []


def test_durations_and_sizes_are_parsed():
    spec = CheckSpec.model_validate({
        "name": "x", "landing": {"url": "http://127.0.0.1/", "max_load": "2h"},
        "asset": {"email": {"within": "10m"}, "link_text": "Download", "expect": {"min_size": "2MB"}},
    })
    assert spec.landing.max_load == 7200
    assert spec.asset.email.within == 600
    assert spec.asset.expect.min_size == 2_000_000


# --- bad input: exact messages ------------------------------------------------

BAD_CASES = [
    (
        "misspelt key gets a did-you-mean",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
        form:
          sucess:
            text: Thanks
        """,
        ["checks/hipaa.yaml:5: form.sucess: unknown key — did you mean 'success'?"],
    ),
    (
        "unknown key without a near match lists valid keys",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
          colour: blue
        """,
        ["checks/hipaa.yaml:4: landing.colour: unknown key — valid keys here: url, must_show, must_not_show, max_load, dismiss"],
    ),
    (
        "missing required key",
        """\
        landing:
          url: https://example.com/lp
        """,
        ["checks/hipaa.yaml:1: name: required key is missing — add it"],
    ),
    (
        "bad duration",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
          max_load: fast
        """,
        ["checks/hipaa.yaml:4: landing.max_load: 'fast' is not a duration; write it like 30s, 10m, 2h or 1d"],
    ),
    (
        "bad size",
        """\
        name: HIPAA
        asset:
          email: {subject_contains: HIPAA}
          link_text: Download
          expect:
            min_size: big
        """,
        ["checks/hipaa.yaml:6: asset.expect.min_size: 'big' is not a size; write it like 500B, 20KB or 2MB"],
    ),
    (
        "asset type outside the allowed list",
        """\
        name: HIPAA
        asset:
          email: {subject_contains: HIPAA}
          attachment: true
          expect:
            type: exe
        """,
        ["checks/hipaa.yaml:6: asset.expect.type: 'exe' is not allowed — use 'pdf', 'docx', 'html' or 'any'"],
    ),
    (
        "min_match out of range",
        """\
        name: HIPAA
        ad:
          url: https://example.com/go
          min_match: 1.5
        """,
        ["checks/hipaa.yaml:4: ad.min_match: 1.5 is out of range: input should be less than or equal to 1"],
    ),
    (
        "fill must be a mapping",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
        form:
          fill: [email]
        """,
        ["checks/hipaa.yaml:5: form.fill: expected a mapping of keys to values, got a list"],
    ),
    (
        "tags must be a list",
        """\
        name: HIPAA
        tags: {google: ads}
        landing:
          url: https://example.com/lp
        """,
        ["checks/hipaa.yaml:2: tags: expected a list, got a mapping"],
    ),
    (
        "a custom step with two actions",
        """\
        name: HIPAA
        steps:
          - goto: https://example.com/
          - click: text=Demo
            fill: {"#email": "{inbox}"}
        """,
        ["checks/hipaa.yaml:4: steps[1]: each step takes exactly one action (goto, click, fill, submit, expect_text, expect_url, screenshot, wait); this one has 2"],
    ),
    (
        "a misspelt custom step action",
        """\
        name: HIPAA
        steps:
          - goto: https://example.com/
          - expect_txt: Thanks
        """,
        ["checks/hipaa.yaml:4: steps[1].expect_txt: unknown key — did you mean 'expect_text'?"],
    ),
    (
        "a form without a page to start from",
        """\
        name: HIPAA
        form:
          fill: {email: "{inbox}"}
        """,
        ["checks/hipaa.yaml:1: where does the funnel start? give ad.url or landing.url (landing and form run before steps:, so a flow that starts with goto keeps its checks in steps:)"],
    ),
    (
        "an empty check",
        """\
        name: HIPAA
        tags: [x]
        """,
        ["checks/hipaa.yaml:1: nothing to check: add an ad, landing, form, conversions, asset, followup, contact or steps section"],
    ),
    (
        "success without a condition",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
        form:
          success: {}
        """,
        ["checks/hipaa.yaml:5: form.success: give url_contains, text or both, so funnelwatch knows what success looks like"],
    ),
    (
        "two asset sources",
        """\
        name: HIPAA
        asset:
          email: {subject_contains: HIPAA}
          link_text: Download
          attachment: true
        """,
        ["checks/hipaa.yaml:2: asset: choose one of link_text, attachment or page_link, not link_text and attachment"],
    ),
    (
        "duplicate key",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
        name: Other
        """,
        ["checks/hipaa.yaml:4: name: duplicate key (first at line 1) — keep one"],
    ),
    (
        "broken YAML",
        """\
        name: HIPAA
        landing:
          url: [https://example.com/lp
        """,
        ["checks/hipaa.yaml:4: not valid YAML: expected ',' or ']', but got '<stream end>' — check indentation and quoting"],
    ),
    (
        "a list at the top",
        """\
        - name: HIPAA
        """,
        ["checks/hipaa.yaml:1: expected a mapping of keys to values at the top, got a list"],
    ),
    (
        "a boolean where text belongs",
        """\
        name: HIPAA
        landing:
          url: https://example.com/lp
          dismiss: true
        """,
        ["checks/hipaa.yaml:4: landing.dismiss: expected text, got True"],
    ),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_check_files_get_exact_messages(text, expected):
    assert messages(text) == expected


def test_every_error_of_a_file_is_reported_in_one_pass():
    found = messages("""\
        name: HIPAA
        landing:
          url: https://example.com/lp
          must_sho: [x]
          max_load: soon
        form:
          sucess: {text: hi}
        """)
    assert found == [
        "checks/hipaa.yaml:4: landing.must_sho: unknown key — did you mean 'must_show'?",
        "checks/hipaa.yaml:5: landing.max_load: 'soon' is not a duration; write it like 30s, 10m, 2h or 1d",
        "checks/hipaa.yaml:7: form.sucess: unknown key — did you mean 'success'?",
    ]


def test_settings_errors_name_the_settings_file(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "funnelwatch.yaml").write_text("browser:\n  concurency: 4\ninbox:\n  maildir: {path: x}\n  smtp: {port: 25}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert [str(d) for d in caught.value.diagnostics] == [
        "config/funnelwatch.yaml:2: browser.concurency: unknown key — did you mean 'concurrency'?",
        "config/funnelwatch.yaml:3: inbox: choose one inbox backend, not maildir and smtp",
    ]


def test_missing_environment_variable_names_file_and_key(tmp_path, monkeypatch):
    monkeypatch.delenv("FW_TEST_UNSET", raising=False)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "funnelwatch.yaml").write_text("heartbeat: ${FW_TEST_UNSET}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == (
        "config/funnelwatch.yaml:1: heartbeat: environment variable FW_TEST_UNSET is not set — add FW_TEST_UNSET=... to .env "
        "in the project folder (cron and systemd start without your shell's variables), or export it"
    )


def test_missing_settings_file_says_to_run_init(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "run `funnelwatch init`" in str(caught.value)


def test_one_bad_check_file_does_not_stop_the_others(project):
    project.check("good", "name: Good\nlanding:\n  url: http://127.0.0.1:9/\n")
    project.check("bad", "name: Bad\nlanding:\n  url: http://127.0.0.1:9/\n  must_sho: [x]\n")
    config = project.load()
    assert [c.name for c in config.checks] == ["Good"]
    assert [(b.name, str(b.diagnostics[0])) for b in config.broken] == [
        ("Bad", "checks/bad.yaml:4: landing.must_sho: unknown key — did you mean 'must_show'?")
    ]


def test_two_checks_with_one_name_is_an_error(project):
    project.check("a", "name: Same\nlanding:\n  url: http://127.0.0.1:9/\n")
    project.check("b", "name: Same\nlanding:\n  url: http://127.0.0.1:9/\n")
    config = project.load()
    assert [str(d) for d in config.diagnostics] == [
        "checks/b.yaml:1: name: 'Same' is already used by checks/a.yaml — give each funnel its own name"
    ]


def test_on_and_no_are_words_not_booleans():
    assert messages("name: x\nlanding:\n  url: http://x/\n  must_show: [no, on, yes]\n") == []
    spec = CheckSpec.model_validate({"name": "x", "landing": {"url": "http://x/", "must_show": ["no"]}})
    assert spec.landing.must_show == ["no"]


def test_env_values_in_settings_are_secrets_and_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("FW_TEST_PASSWORD", "correct-horse-battery")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "funnelwatch.yaml").write_text(
        "inbox:\n  imap: {host: 127.0.0.1, username: u, password: '${FW_TEST_PASSWORD}'}\n"
    )
    redact = load_config(tmp_path).redactor.redact
    assert redact("login failed for correct-horse-battery") == "login failed for ***"


def test_a_bad_date_is_a_diagnostic_not_a_crash():
    found = messages("""\
        name: Demo
        landing:
          url: https://example.com/demo
        form:
          fill: {email: "{inbox}"}
        followup:
          within: 1d
          holidays: [2026-13-01]
        """)
    assert len(found) == 1 and found[0].startswith("checks/hipaa.yaml:8: followup.holidays")


def test_env_values_that_are_not_credentials_stay_readable(tmp_path, monkeypatch):
    monkeypatch.setenv("FW_TEST_REPORT_URL", "https://reports.acme.test/funnels")
    monkeypatch.setenv("FW_TEST_HOOK", "json://127.0.0.1:9/hook-s3cr3t-path")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "funnelwatch.yaml").write_text(
        "report:\n  url: ${FW_TEST_REPORT_URL}\nalerts:\n  - url: ${FW_TEST_HOOK}\n"
    )
    redact = load_config(tmp_path).redactor.redact
    assert redact("see https://reports.acme.test/funnels") == "see https://reports.acme.test/funnels"
    assert "hook-s3cr3t-path" not in redact("posting to json://127.0.0.1:9/hook-s3cr3t-path")


def test_followup_with_the_smtp_receiver_is_refused(project):
    project.config("inbox:\n  smtp: {port: 2525}\n  address: 'qa+{token}@acme.test'\n")
    project.check("demo", "name: Demo\nlanding:\n  url: http://127.0.0.1:9/demo\nform:\n  fill: {email: '{inbox}'}\nfollowup:\n  within: 1h\n")
    config = project.load()
    assert [str(d) for d in config.diagnostics] == [
        "checks/demo.yaml: followup: needs an inbox that keeps mail between runs (imap or maildir): the smtp receiver "
        "only listens while funnelwatch runs, so replies that come later would be lost"
    ]


def test_a_followup_check_is_planned_on_one_viewport_only(project):
    from funnelwatch.plan import make_plan

    project.config("browser:\n  viewports: [desktop, mobile]\n")
    project.check("demo", "name: Demo\nlanding:\n  url: http://127.0.0.1:9/demo\nform:\n  fill: {email: '{inbox}'}\nfollowup:\n  within: 1h\n")
    project.check("lp", "name: Landing\nlanding:\n  url: http://127.0.0.1:9/lp\n")
    plan = make_plan(project.load())
    assert sorted((i.check.name, i.viewport) for i in plan.items) == [("Demo", "desktop"), ("Landing", "desktop"), ("Landing", "mobile")]


def test_a_check_filling_a_secret_is_marked_so_no_trace_is_kept(project, monkeypatch):
    monkeypatch.setenv("FW_TEST_PORTAL_PASSWORD", "sw0rdfish-portal")
    project.check("portal", "name: Portal\nsteps:\n  - goto: http://127.0.0.1:9/login\n  - fill: {'#password': '${FW_TEST_PORTAL_PASSWORD}'}\n")
    project.check("plain", "name: Plain\nlanding:\n  url: http://127.0.0.1:9/\n")
    assert {c.name: c.uses_secrets for c in project.load().checks} == {"Portal": True, "Plain": False}


def test_a_value_with_control_characters_still_gives_a_one_line_message():
    found = messages("name: x\nlanding:\n  url: https://example.com/\n  max_load: \"\\r\"\n")
    assert found == ["checks/hipaa.yaml:4: landing.max_load: '\\r' is not a duration; write it like 30s, 10m, 2h or 1d"]


def test_every_text_value_is_the_text_the_user_wrote_not_a_yaml_number(project):
    project.check("texts", """\
        name: 2026
        tags: [0755, 1_000]
        retries: 2
        ad:
          url: https://example.com/go
          headline: 10:30
          promise: [02134, +49301234, 1e3]
          min_match: 0.5
        landing:
          must_show: 0x1F
          max_load: 5
        form:
          fill:
            zip: 02134
            phone: +4930123456
            seats: 1_000
            slot: 10:30
            agree: true
          success:
            text: 007
        asset:
          email:
            subject_contains: 0o17
            within: 60
          link_text: 1.50
        steps:
          - fill: {"#zip": 02134, 0123: 1_0}
          - expect_text: 12:00:00
          - wait: 2
    """)
    config = project.load()
    assert not config.diagnostics, [str(d) for d in config.diagnostics]
    spec = config.checks[0].spec
    assert spec.name == "2026" and spec.tags == ["0755", "1_000"] and spec.retries == 2
    assert (spec.ad.headline, spec.ad.promise, spec.ad.min_match) == ("10:30", ["02134", "+49301234", "1e3"], 0.5)
    assert (spec.landing.must_show, spec.landing.max_load) == (["0x1F"], 5.0)
    assert spec.form.fill == {"zip": "02134", "phone": "+4930123456", "seats": "1_000", "slot": "10:30", "agree": True}
    assert spec.form.success.text == "007"
    assert (spec.asset.email.subject_contains, spec.asset.email.within, spec.asset.link_text) == ("0o17", 60.0, "1.50")
    assert spec.steps[0].fill == {"#zip": "02134", "0123": "1_0"}
    assert (spec.steps[1].expect_text, spec.steps[2].wait) == ("12:00:00", 2.0)


def test_settings_texts_keep_their_digits_and_numbers_stay_numbers(tmp_path):
    from funnelwatch.config import load_settings

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "funnelwatch.yaml").write_text(
        "browser:\n  concurrency: 3\n  timeout: 20\ninbox:\n  imap:\n    host: 127.0.0.1\n    port: 1143\n"
        "    username: 0042\n    password: 0123\n    folder: 2026\n", encoding="utf-8")
    settings, _ = load_settings(tmp_path)
    imap = settings.inbox.imap
    assert (imap.username, imap.password, imap.folder, imap.port) == ("0042", "0123", "2026", 1143)
    assert (settings.browser.concurrency, settings.browser.timeout) == (3, 20.0)


def test_double_dollar_writes_a_literal_variable_reference(project, monkeypatch):
    monkeypatch.setenv("FW_PLAN", "pro")
    project.check("dollars", """\
        name: Dollars
        ad:
          url: https://example.com/go?plan=${FW_PLAN}
          headline: Pay $5 for ${FW_PLAN}; $${FW_PLAN} and $$5 stay as written
    """)
    (check,) = project.load().checks
    assert check.spec.ad.url == "https://example.com/go?plan=pro"
    assert check.spec.ad.headline == "Pay $5 for pro; ${FW_PLAN} and $$5 stay as written"


def test_two_configs_in_one_process_keep_their_own_secrets(tmp_path, monkeypatch):
    """The redactor belongs to the loaded config: a library user holding two projects never mixes their secrets."""
    monkeypatch.setenv("FW_TEST_PASSWORD_A", "alpha-horse-battery")
    monkeypatch.setenv("FW_TEST_PASSWORD_B", "bravo-horse-battery")
    loaded = {}
    for name in ("a", "b"):
        (tmp_path / name / "config").mkdir(parents=True)
        (tmp_path / name / "config" / "funnelwatch.yaml").write_text(
            f"inbox:\n  imap: {{host: 127.0.0.1, username: u, password: '${{FW_TEST_PASSWORD_{name.upper()}}}'}}\n"
        )
        loaded[name] = load_config(tmp_path / name)
    text = "alpha-horse-battery and bravo-horse-battery"
    assert loaded["a"].redactor.redact(text) == "*** and bravo-horse-battery"
    assert loaded["b"].redactor.redact(text) == "alpha-horse-battery and ***"
