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

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
ENV = {
    "FUNNELWATCH_IMAP_USER": "u", "FUNNELWATCH_IMAP_PASSWORD": "p", "FUNNELWATCH_ALERT_URL": "json://127.0.0.1:9/",
    "FUNNELWATCH_HEARTBEAT_URL": "http://127.0.0.1:9/", "FUNNELWATCH_SLACK_URL": "slack://a/b/c",
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


def test_every_yaml_block_in_the_readme_validates(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        is_check = bool(re.search(r"^(name|steps):", block, re.M))
        text = block if not block.lstrip().startswith("steps:") else "name: example\n" + block
        problems = validate_text(text, CheckSpec if is_check else Settings, "README.md")
        assert problems == [], f"{problems}\n---\n{block}"


def test_every_command_is_in_the_readme():
    for name in cli.commands:
        assert f"funnelwatch {name}" in README, f"README does not document `funnelwatch {name}`"
