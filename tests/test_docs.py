"""The docs stay honest: every config key is in the README's reference, every README YAML block validates."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from funnelwatch.cli import cli
from funnelwatch.config import _unwrap, validate_text
from funnelwatch.schema import CheckSpec, Settings

from .fixtures.spec import BESIDE, KEPT, spec_text, yaml_blocks

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
ENV = {
    "FUNNELWATCH_IMAP_USER": "u", "FUNNELWATCH_IMAP_PASSWORD": "p", "FUNNELWATCH_ALERT_URL": "json://127.0.0.1:9/",
    "FUNNELWATCH_HEARTBEAT_URL": "http://127.0.0.1:9/", "FUNNELWATCH_HEARTBEAT_FAIL_URL": "http://127.0.0.1:9/fail",
    "FUNNELWATCH_SLACK_URL": "slack://a/b/c",
    "FUNNELWATCH_ONCALL_URL": "json://127.0.0.1:9/oncall",
    "FUNNELWATCH_SMTP_USER": "u", "FUNNELWATCH_SMTP_PASSWORD": "p",
    "FUNNELWATCH_DB_PASSWORD": "p",
}


def key_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        paths.append(key)
        inner = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            paths += key_paths(inner, key + ("[]." if typing.get_origin(field.annotation) is list or "list[" in str(field.annotation) else "."))
    return paths


def reference_keys() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)`", README, re.M))


@pytest.mark.parametrize("key", key_paths(Settings))
def test_every_settings_key_is_in_the_readme_reference(key):
    assert key in reference_keys(), f"README reference table lacks `{key}`"


@pytest.mark.parametrize("key", key_paths(CheckSpec))
def test_every_check_key_is_in_the_readme_reference(key):
    assert key in reference_keys(), f"README reference table lacks `{key}`"


def assert_yaml_blocks_validate(text: str, where: str) -> int:
    """Validate each block as a check file or as settings, by its top-level keys.

    A guide may show a fragment of a check (just `asset:`); it gets a name and a
    landing URL so the fragment is judged on its own keys.
    """
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    check_only = set(CheckSpec.model_fields) - set(Settings.model_fields)
    for block in blocks:
        top = set((yaml.safe_load(block) or {}).keys())
        is_check = bool(top & check_only)
        if is_check and "name" not in top:
            block = "name: example\n" + block
            if not top & {"ad", "landing", "steps"}:
                block += "\nlanding:\n  url: https://example.com/\n"
            if "followup" in top and "form" not in top:
                block += "\nform:\n  fill: {email: '{inbox}'}\n"
        problems = validate_text(block, CheckSpec if is_check else Settings, where)
        assert problems == [], f"{problems}\n---\n{block}"
    return len(blocks)


def test_every_yaml_block_in_the_readme_validates(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert assert_yaml_blocks_validate(README, "README.md") >= 3


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_yaml_block_in_the_guides_validates(monkeypatch, doc):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    assert_yaml_blocks_validate(doc.read_text(encoding="utf-8"), f"docs/{doc.name}")


def test_every_command_is_in_the_readme():
    for name in cli.commands:
        assert f"funnelwatch {name}" in README, f"README does not document `funnelwatch {name}`"


def test_readme_names_the_report_that_make_demo_really_writes():
    directory = next(p.default for p in cli.commands["demo"].params if p.name == "directory")
    make_demo = next(line for line in README.splitlines() if line.startswith("make demo"))
    written = re.findall(r"reports/\S*index\.html", make_demo)
    assert written == [f"{directory}/index.html"], make_demo


def test_no_doc_sends_microsoft_365_users_to_app_passwords_and_oauth2_is_documented():
    for doc in [README, *(d.read_text(encoding="utf-8") for d in DOCS)]:
        assert "Microsoft 365 need an app password" not in doc and "Microsoft 365 needs an app password" not in doc
    for key in ("inbox.imap.security", "inbox.imap.auth", "inbox.imap.token_command", "inbox.imap.ca_file",
                "browser.locale", "browser.timezone_id", "browser.proxy", "locale", "timezone_id", "proxy"):
        assert key in reference_keys()
    assert "auth: oauth2" in (ROOT / "docs" / "inbox-and-assets.md").read_text(encoding="utf-8")


def spec_section(heading: str) -> str:
    text = spec_text()
    start = text.index(f"### {heading}")
    end = text.find("\n#", start + 4)
    return text[start:end if end > 0 else None]


def test_the_specs_email_placement_section_matches_the_code(monkeypatch):
    """PRODUCT.md "Where the email landed, and whether receivers trust it": its YAML (if any) validates, its words are real."""
    from funnelwatch.inbox.junk import JUNK_NAMES
    from funnelwatch.results import CATEGORY_LABELS, Category

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    section = spec_section("Where the email landed, and whether receivers trust it")
    assert_yaml_blocks_validate(section, "PRODUCT.md")
    for category in ("email_in_spam", "email_auth_fail"):
        assert f"`{category}`" in section and Category(category) in CATEGORY_LABELS
    for name in re.findall(r"`((?:\[Gmail\]/)?[A-Z][\w -]*)`", section.split("names", 1)[1].split("; or", 1)[0]):
        assert name in JUNK_NAMES, name
    assert "spam_folders: auto" in section and "inbox.imap.spam_folders" in reference_keys()
    assert "inbox.maildir.spam_folders" in reference_keys() and "inbox.trusted_authserv_id" in reference_keys()


def test_the_specs_config_example_with_its_inbox_validates_as_written(monkeypatch):
    import yaml

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    block = next(b for b in yaml_blocks() if "inbox:" in b and "database:" in b)
    assert "imap" in (yaml.safe_load(block) or {}).get("inbox", {})
    assert validate_text(block, Settings, "PRODUCT.md") == []


def test_the_spec_conversion_tags_yaml_validates_as_written(monkeypatch):
    section = spec_section("Conversion tags")
    assert assert_yaml_blocks_validate(section, "PRODUCT.md") >= 1
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    spec = CheckSpec.model_validate({"name": "spec", "landing": {"url": "https://example.com/"}, **__import__("yaml").safe_load(block)})
    assert [tag.vendor for tag in spec.conversions] == ["ga4", "google_ads", "meta", "linkedin", "url"]
    assert [tag.wanted_event for tag in spec.conversions][:3] == ["generate_lead", "AbC-D_efG-hIjk", "Lead"]


def test_the_kept_copy_of_the_spec_is_the_current_one():
    """A clone without `../shared` tests against tests/data/spec/PRODUCT.md: it must be the contract as it is now."""
    if not BESIDE.exists():
        pytest.skip(f"the product spec is not beside the repository ({BESIDE}): nothing to compare the copy with")
    assert KEPT.read_text(encoding="utf-8") == BESIDE.read_text(encoding="utf-8"), (
        f"the product spec changed: cp {BESIDE} {KEPT}")


# --- docs/scale-out.md: every recipe is what `funnelwatch recipe` prints ------------------------

#: Where the systemd recipe in the docs pretends the project lives (the test's own is a temp folder).
RECIPE_PROJECT = "/srv/funnelwatch"
RECIPE_COMMAND = "/usr/local/bin/funnelwatch"


def recipe_output(args: list[str]) -> str:
    """`funnelwatch recipe ARGS` as the docs show it: for systemd, on a fresh `init` project moved to /srv/funnelwatch."""
    import tempfile

    from click.testing import CliRunner

    from funnelwatch.cron import funnelwatch_command

    with tempfile.TemporaryDirectory() as folder:
        runner = CliRunner()
        assert runner.invoke(cli, ["init", folder]).exit_code == 0
        done = runner.invoke(cli, ["-C", folder, "recipe", *args])
        assert done.exit_code == 0, done.output
        return done.output.replace(funnelwatch_command(), RECIPE_COMMAND).replace(str(Path(folder).resolve()), RECIPE_PROJECT)


def recipe_blocks() -> list[tuple[str, str]]:
    """(`funnelwatch recipe` arguments, the block under them) from docs/scale-out.md."""
    text = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    return re.findall(r"<!-- funnelwatch recipe ([^>]+?) -->\n```\w*\n(.*?)```", text, re.S)


def test_the_scale_out_guide_shows_every_recipe_as_the_command_prints_it():
    blocks = recipe_blocks()
    assert sorted(args.split()[0] for args, _ in blocks) == ["github-actions", "k8s", "systemd"]
    for args, block in blocks:
        assert block == recipe_output(args.split()), f"docs/scale-out.md: `funnelwatch recipe {args}` prints something else"


def test_the_kubernetes_recipe_is_an_indexed_cronjob_that_never_overlaps_or_retries_a_shard():
    import yaml

    shards, report = yaml.safe_load_all(recipe_output(["k8s", "--shards", "16", "--image", "example/fw:1"]))
    assert (shards["kind"], shards["spec"]["concurrencyPolicy"]) == ("CronJob", "Forbid")
    job = shards["spec"]["jobTemplate"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"], job["backoffLimitPerIndex"]) == ("Indexed", 16, 16, 0)
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert (container["image"], container["args"]) == ("example/fw:1", ["run", "--shards", "16"])
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secrets == {"FUNNELWATCH_DB_PASSWORD": {"name": "funnelwatch", "key": "db-password"},
                       "FUNNELWATCH_IMAP_PASSWORD": {"name": "funnelwatch", "key": "imap-password"}}
    assert report["spec"]["schedule"] == "0 4 * * *"
    assert report["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["report"]


def test_the_github_actions_recipe_runs_one_job_per_shard_then_the_report():
    import yaml

    workflow = yaml.safe_load(recipe_output(["github-actions", "--shards", "3"]))
    shard = workflow["jobs"]["shard"]
    assert shard["strategy"] == {"fail-fast": False, "matrix": {"shard": [1, 2, 3]}}
    assert shard["steps"][1]["run"].startswith("funnelwatch run --shard ${{ matrix.shard }}/3 ")
    assert shard["env"]["FUNNELWATCH_DB_PASSWORD"] == "${{ secrets.FUNNELWATCH_DB_PASSWORD }}"
    assert "--user 1001" in shard["container"]["options"]
    assert workflow["jobs"]["report"]["needs"] == "shard"
    assert workflow["jobs"]["report"]["steps"][1]["run"] == "funnelwatch report"
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_the_systemd_recipe_is_a_template_unit_per_shard():
    text = recipe_output(["systemd", "--shards", "3"])
    assert "# /etc/systemd/system/funnelwatch@.service" in text and "# /etc/systemd/system/funnelwatch@.timer" in text
    assert f"ExecStart={RECIPE_COMMAND} -C {RECIPE_PROJECT} run --shard %i/3" in text
    assert "Unit=funnelwatch@%i.service" in text
    assert "enable --now funnelwatch@1.timer funnelwatch@2.timer funnelwatch@3.timer" in text
