"""`funnelwatch schema`: the JSON Schema of check files and config/funnelwatch.yaml, for editors and pre-commit.

Built from the pydantic models in `schema.py` and the step kinds (so it
never offers a key the loader rejects, and rejects every key it does), plus
what the loader reads beyond the models' Python types: a duration or size as
text (`30s`, `20KB`), one string for a one-item list (`on: broken`), a command
as one string. What the file means cannot be checked here (a schedule that
does not parse, a bad time zone): `funnelwatch validate` still has the last word.

Descriptions come from the README's reference tables, shipped as
`schemas/reference.json`; `python -m funnelwatch.config_schema README.md`
refreshes that file (tests/test_config_schema.py says when it is stale).
"""

from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .fields import as_list, dates_as_text
from .units import parse_duration, parse_size

Which = Literal["check", "config"]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
DURATION = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([mM][sS]|[sSmMhHdDwW])\s*$"},
                      {"type": "number", "minimum": 0}],
            "description": "a duration: 30s, 10m, 2h, 1d, 7d (a plain number is seconds)", "examples": ["30s", "10m", "1d"]}
SIZE = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([bB]|[kKmMgG][iI]?[bB])?\s*$"},
                  {"type": "integer", "minimum": 0}],
        "description": "a size: 500B, 20KB, 2MB (a plain number is bytes)", "examples": ["20KB", "2MB"]}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, told what each `BeforeValidator` of `fields.py`/`schema.py` lets through."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        function = schema["function"]["function"]
        if function is parse_duration:
            return dict(DURATION)
        if function is parse_size:
            return dict(SIZE)
        inner = super().function_before_schema(schema)
        if getattr(function, "accepts_numbers", False):  # text written as a number (a pixel id, a value) is that text
            return {"anyOf": [inner, {"type": "number"}]}
        if getattr(function, "accepts_text", False):  # a one-line shorthand for the object (`Sun 01:00-03:00 Europe/Berlin`)
            return {"anyOf": [inner, {"type": "string"}]}
        name = getattr(function, "__name__", "")
        if function in (as_list, dates_as_text) or name in ("_as_list", "_command_words", "command_words"):
            items = inner.get("items", {"type": "string"}) if inner.get("type") == "array" else None
            if items is not None:
                return {**{k: v for k, v in inner.items() if k not in ("type", "items")},
                        "anyOf": [{"type": "array", "items": items}, items]}
        return inner


def json_schema(which: Which) -> dict[str, Any]:
    """The JSON Schema of a check file (`check`) or of config/funnelwatch.yaml (`config`)."""
    from .schema import Settings, check_model

    model = check_model() if which == "check" else Settings
    doc = model.model_json_schema(mode="validation", schema_generator=_Generator)
    reference = shipped_reference()[which]
    _describe(doc, doc, "", reference, set())
    title = "funnelwatch check file (checks/*.yaml)" if which == "check" else "funnelwatch settings (config/funnelwatch.yaml)"
    return {"$schema": DRAFT, "$id": f"urn:funnelwatch:{which}", "title": title, **{k: v for k, v in doc.items() if k != "title"}}


def _describe(root: dict[str, Any], node: dict[str, Any], prefix: str, reference: dict[str, str], seen: set[tuple[int, str]]) -> None:
    """Put the README's words on every property whose key path (`inbox.imap.host`, `alerts[].url`) it documents."""
    for target in _objects(root, node):
        if (id(target), prefix) in seen:
            continue
        seen.add((id(target), prefix))
        for name, prop in target.get("properties", {}).items():
            key = prefix + name
            if key in reference:
                prop["description"] = reference[key]
            prop.pop("title", None)
            _describe(root, prop, key + ".", reference, seen)
            for items in _arrays(root, prop):
                _describe(root, items, key + "[].", reference, seen)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root["$defs"][ref.rsplit("/", 1)[1]]
    return node


def _branches(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(root, node)
    return [node] + [b for branch in node.get("anyOf", []) for b in _branches(root, branch)]


def _objects(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in _branches(root, node) if "properties" in b]


def _arrays(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["items"] for b in _branches(root, node) if b.get("type") == "array" and isinstance(b.get("items"), dict)]


# --- the README's reference tables ----------------------------------------------------

_ROW = re.compile(r"^\| `([^`]+)` \|")


def reference_from_readme(text: str) -> dict[str, dict[str, str]]:
    """{"config": {key: description}, "check": {...}} from the README's two reference tables."""
    found: dict[str, dict[str, str]] = {"config": {}, "check": {}}
    which: str | None = None
    for line in text.splitlines():
        if line.startswith("### config/funnelwatch.yaml"):
            which = "config"
        elif line.startswith("### checks/*.yaml"):
            which = "check"
        elif line.startswith("## "):
            which = None
        elif which and (row := _ROW.match(line)):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if len(cells) < 4:
                continue
            key = row.group(1)
            kind, default, meaning = cells[1], cells[2], "|".join(cells[3:])
            said = meaning or kind
            if default and default not in ("none", "required"):
                said += f" (default: {default})"
            elif default == "required":
                said += " (required)"
            found[which].setdefault(key, said)
    return found


def shipped_reference() -> dict[str, dict[str, str]]:
    text = resources.files("funnelwatch").joinpath("schemas/reference.json").read_text(encoding="utf-8")
    loaded: dict[str, dict[str, str]] = json.loads(text)
    return loaded


def write_project_schemas(directory: Path) -> list[Path]:
    """`<project>/.funnelwatch/{check,config}.schema.json`: what the scaffold's `# yaml-language-server` lines name,
    on disk so editors complete keys offline."""
    folder = directory / ".funnelwatch"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for which in ("check", "config"):
        path = folder / f"{which}.schema.json"
        path.write_text(json.dumps(json_schema(which), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def schema_line(which: Which) -> str:
    """The first line of a scaffolded file: where yaml-language-server (VS Code, Neovim, …) finds its schema."""
    return f"# yaml-language-server: $schema=../.funnelwatch/{which}.schema.json\n"


if __name__ == "__main__":  # python -m funnelwatch.config_schema README.md: refresh schemas/reference.json
    readme = Path(sys.argv[1]).read_text(encoding="utf-8")
    out = Path(__file__).parent / "schemas" / "reference.json"
    out.write_text(json.dumps(reference_from_readme(readme), indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")
