"""A step kind is one module plus one registry line: the rest of funnelwatch learns about it from the kind.

The throwaway kind below lives only in this test: registered, it is validated
from its own section model, run on the page, stored, and shown in the report
with its own title and evidence view — no other file names it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import funnelwatch
from funnelwatch import Category, Status
from funnelwatch.errors import StepFailed
from funnelwatch.fields import Strict
from funnelwatch.steps import KINDS, StepKind, register, title_of, unregister
from funnelwatch.store import Store

PACKAGE = Path(funnelwatch.__file__).parent


class StampSection(Strict):
    text: str


class Stamp(StepKind):
    """Reads a build stamp off the page (a kind no funnelwatch module knows)."""

    name = "stamp"
    title = "Build stamp"
    model = StampSection

    def needs_page(self, section: StampSection) -> bool:
        return True

    async def run(self, ctx: Any, section: StampSection) -> None:
        seen = await ctx.page.inner_text("body")
        ctx.evidence["stamp"] = {"expected": section.text, "page_text": seen[:200]}
        if section.text not in seen:
            raise StepFailed(Category.TEXT_MISSING, f"the page carries no build stamp {section.text!r}")

    def evidence(self, value: Any, kit: Any) -> list[Any]:
        return kit.facts("Stamp on the page", value)


@pytest.fixture
def stamp_kind():
    kind = register(Stamp(), before="asset")
    yield kind
    unregister("stamp")


def test_a_registered_kind_is_validated_run_stored_and_shown_with_its_own_title(stamp_kind, project, site):
    site.page("/lp/build", "<h1>Spring offer</h1><p>build 41</p>")
    project.check("lp", f"name: Build check\nlanding:\n  url: {site.url('/lp/build')}\nstamp:\n  text: build 42\n")
    result = project.run_one()
    assert (result.status, result.step, result.category) == (Status.FAIL, "stamp", Category.TEXT_MISSING)
    assert result.evidence["stamp"]["expected"] == "build 42"
    store = Store(project.load().database_path)
    try:
        [stored] = store.history("Build check")
    finally:
        store.close()
    assert (stored.step, stored.category) == ("stamp", Category.TEXT_MISSING)
    page = (project.root / result.report).read_text(encoding="utf-8")
    assert "Build stamp" in page and "Stamp on the page" in page and "no build stamp" in page


def test_a_registered_kind_validates_its_section_with_did_you_mean(stamp_kind, project, site):
    project.check("lp", f"name: Build check\nlanding:\n  url: {site.url('/')}\nstamp:\n  txt: build 42\n")
    config = project.load()
    [broken] = config.broken
    assert any("stamp.txt" in str(d) and "unknown key" in str(d) for d in broken.diagnostics), broken.diagnostics


def test_without_the_registry_line_the_section_is_an_unknown_key(project, site):
    assert "stamp" not in KINDS
    project.check("lp", f"name: Build check\nlanding:\n  url: {site.url('/')}\nstamp:\n  text: build 42\n")
    [broken] = project.load().broken
    assert "stamp: unknown key" in str(broken.diagnostics[0])


def test_a_kind_name_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        register(KINDS["form"].__class__())


def test_titles_for_people_come_from_the_kinds():
    assert title_of("form") == "Lead form"
    assert title_of("steps[2]") == "Custom step 3"
    assert title_of("followup") == "Sales follow-up"
    assert title_of("mystery") == "mystery"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" if not base.endswith(".") else base + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_step_module_imports_the_runner_or_the_store():
    for path in sorted((PACKAGE / "steps").glob("*.py")):
        for name in _imports(path):
            assert not name.startswith(("..runner", "..store", "funnelwatch.runner", "funnelwatch.store")), (path.name, name)


def test_only_the_store_package_speaks_sql():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "store" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text(encoding="utf-8").lower()
        assert "sqlite3" not in _imports(path) and "sqlite_utils" not in _imports(path), path
        assert "insert into" not in text and "select * from" not in text, path
