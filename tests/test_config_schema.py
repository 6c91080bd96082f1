"""Editors and CI check keys as funnelwatch does: `funnelwatch schema`, the `# yaml-language-server` line `init`
writes, and the pre-commit hook."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from funnelwatch.config import _Loader, validate_text
from funnelwatch.config_schema import json_schema, reference_from_readme, shipped_reference
from funnelwatch.schema import CheckSpec, Settings

from .fixtures.spec import spec_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FUNNELWATCH = [sys.executable, "-m", "funnelwatch"]


def validator(which: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(which)  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


CHECK, CONFIG = validator("check"), validator("config")


def errors(text: str, which: str) -> list[str]:
    """What the schema says about a YAML text, read as funnelwatch reads YAML (`on:` is a key, dates are text)."""
    doc = yaml.load(text, Loader=_Loader)  # noqa: S506 — funnelwatch's SafeLoader subclass
    found = [best_match([e]) for e in (CHECK if which == "check" else CONFIG).iter_errors(doc)]
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found if e is not None]


def blocks_of(text: str) -> list[tuple[str, str]]:
    """Each ```yaml block as (which, text), a check fragment completed as tests/test_docs.py completes it."""
    out = []
    check_only = set(CheckSpec.model_fields) - set(Settings.model_fields)
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        top = set((yaml.load(block, Loader=_Loader) or {}).keys())  # noqa: S506
        if top & check_only or not top & set(Settings.model_fields):
            if "name" not in top:
                block = "name: example\n" + block
                if not top & {"ad", "landing", "steps"}:
                    block += "\nlanding:\n  url: https://example.com/\n"
                if "followup" in top and "form" not in top:
                    block += "\nform:\n  fill: {email: '{inbox}'}\n"
            out.append(("check", block))
        else:
            out.append(("config", block))
    return out


def test_the_shipped_descriptions_are_the_readmes_reference():
    assert shipped_reference() == reference_from_readme(README), (
        "funnelwatch/schemas/reference.json is stale: run `python -m funnelwatch.config_schema README.md`"
    )


def test_descriptions_come_from_the_readme_reference():
    check, config = json_schema("check"), json_schema("config")
    assert check["properties"]["tags"]["description"].startswith("`[google-ads, whitepaper]`; select with `run --tag`")
    alert = config["$defs"]["AlertChannel"]["properties"]
    assert alert["remind"]["description"] == "re-alert a still-broken funnel this often"
    imap = config["$defs"]["InboxSettings"]["properties"]["imap"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
    assert "(required)" in config["$defs"][imap]["properties"]["host"]["description"]


def test_durations_and_sizes_are_strings_and_one_item_lists_may_be_one_string():
    assert errors("browser:\n  timeout: 30s\nalerts:\n  - url: json://x\n    on: broken\n    remind: 1d\n", "config") == []
    (problem,) = errors("browser:\n  timeout: soon\n", "config")
    assert problem.startswith("browser.timeout: 'soon' does not match")
    assert errors("name: x\nlanding:\n  url: https://example.com/\nasset:\n  email: {within: 10m}\n"
                  "  expect: {min_size: 20KB}\n", "check") == []
    (problem,) = errors("name: x\nlanding:\n  url: https://example.com/\nasset:\n  expect: {min_size: big}\n", "check")
    assert problem.startswith("asset.expect.min_size: 'big' does not match")
    duration = json_schema("config")["$defs"]["BrowserSettings"]["properties"]["timeout"]
    assert duration["anyOf"][0]["type"] == "string" and "30s" in duration["examples"]


def test_the_schema_rejects_an_unknown_key_in_a_check_and_in_the_settings():
    (problem,) = errors("name: x\nlanding:\n  url: https://example.com/\n  sucess: Thanks\n", "check")
    assert problem == "landing: Additional properties are not allowed ('sucess' was unexpected)"
    (problem,) = errors("browser:\n  concurency: 2\n", "config")
    assert problem == "browser: Additional properties are not allowed ('concurency' was unexpected)"
    assert errors("nmae: x\nlanding:\n  url: https://example.com/\n", "check") == [
        ": Additional properties are not allowed ('nmae' was unexpected)", ": 'name' is a required property"]


def test_the_repos_example_project_and_demo_checks_validate_against_the_schema(monkeypatch):
    assert errors((ROOT / "config" / "funnelwatch.yaml").read_text(encoding="utf-8"), "config") == []
    files = sorted((ROOT / "checks").glob("*.yaml")) + sorted((ROOT / "funnelwatch" / "demo" / "checks").glob("*.yaml"))
    assert len(files) >= 5
    for file in files:
        assert errors(file.read_text(encoding="utf-8"), "check") == [], file


def test_every_yaml_block_of_the_readme_and_guides_validates_against_the_schema():
    docs = [("README.md", README)] + [(f"docs/{d.name}", d.read_text(encoding="utf-8")) for d in sorted((ROOT / "docs").glob("*.md"))]
    seen = 0
    for where, text in docs:
        for which, block in blocks_of(text):
            assert errors(block, which) == [], f"{where}\n{block}"
            seen += 1
    assert seen >= 10


def test_the_schema_and_validate_agree_on_every_yaml_example_in_the_product_spec(monkeypatch):
    from tests.test_config import SECRET_ENV

    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    blocks = blocks_of(spec_text())
    # The spec's examples in order: the config, a check, custom steps, conversions, a contact check, the outbox.
    assert [which for which, _ in blocks][:6] == ["config", "check", "check", "check", "check", "config"]
    assert errors(blocks[0][1], "config") == [] and errors(blocks[1][1], "check") == []
    assert errors(blocks[2][1], "check") == [] and errors(blocks[3][1], "check") == []
    assert errors(blocks[4][1], "check") == [] and errors(blocks[5][1], "config") == []
    for which, block in blocks:
        by_schema = errors(block, which)
        by_loader = validate_text(block, CheckSpec if which == "check" else Settings, "spec")
        assert bool(by_schema) == bool(by_loader), (block, by_schema, [str(d) for d in by_loader])


def test_funnelwatch_schema_prints_each_schema_and_imports_no_playwright():
    for which in ("check", "config"):
        done = subprocess.run([*FUNNELWATCH, "schema", which], capture_output=True, text=True, timeout=60,
                              env={"PYTHONPROFILEIMPORTTIME": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == json_schema(which)  # type: ignore[arg-type]
        assert "import time:" in done.stderr and "playwright" not in done.stderr
    default = subprocess.run([*FUNNELWATCH, "schema"], capture_output=True, text=True, timeout=60)
    assert json.loads(default.stdout)["$id"] == "urn:funnelwatch:check"


def test_validate_imports_no_playwright(project):
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    done = subprocess.run([*FUNNELWATCH, "-C", str(project.root), "validate"], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPROFILEIMPORTTIME": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "import time:" in done.stderr and "playwright" not in done.stderr


def test_init_writes_the_schemas_and_the_yaml_language_server_line_that_points_at_them(tmp_path):
    done = subprocess.run([*FUNNELWATCH, "init", str(tmp_path / "new")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for relative, which in (("config/funnelwatch.yaml", "config"), ("checks/example.yaml", "check")):
        scaffolded = tmp_path / "new" / relative
        first = scaffolded.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../.funnelwatch/{which}.schema.json"
        named = (scaffolded.parent / first.split("$schema=", 1)[1]).resolve()
        schema = json.loads(named.read_text(encoding="utf-8"))
        assert schema == json_schema(which)  # type: ignore[arg-type]
        doc = yaml.load(scaffolded.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []
    assert f"wrote {tmp_path / 'new' / '.funnelwatch' / 'check.schema.json'}" in done.stdout
    check = subprocess.run([*FUNNELWATCH, "-C", str(tmp_path / "new"), "validate"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_the_pre_commit_hook_runs_validate_and_stops_a_bad_file(project):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "funnelwatch-validate" and hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("checks/hipaa.yaml") and files.search("marketing/config/funnelwatch.yml")
    assert not files.search("reports/index.html") and not files.search("docs/checks.md")
    entry = shlex.split(hook["entry"])
    assert entry[0] == "funnelwatch"
    command = [str(Path(sys.executable).parent / "funnelwatch"), *entry[1:]]
    project.check("ok", "name: OK\nlanding:\n  url: https://example.com/\n")
    assert subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=60).returncode == 0
    project.check("bad", "name: Bad\nlanding:\n  url: https://example.com/\n  sucess: x\n")
    stopped = subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 2 and "checks/bad.yaml:4: landing.sucess: unknown key" in stopped.stderr
