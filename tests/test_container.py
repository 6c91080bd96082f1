"""The Dockerfile builds a runnable image: right base, not root, `funnelwatch` as the entry point.

Docker is not available where the tests run, so the file is read as Docker
would read it, and the file tree its COPY lines make is built into a wheel
that then runs `funnelwatch init` and `validate` on its own.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def pinned(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def copied() -> list[str]:
    """Every source path of the Dockerfile's COPY lines."""
    sources = []
    for word, rest in instructions():
        if word == "COPY":
            sources += rest.split()[:-1]
    return sources


def test_the_base_image_is_the_playwright_python_image_of_the_pinned_playwright():
    [base] = [rest for word, rest in instructions() if word == "FROM"]
    assert base == f"mcr.microsoft.com/playwright/python:v{pinned('playwright')}-noble"  # noble: Python 3.12


def test_the_image_runs_as_pwuser_not_root():
    users = [rest for word, rest in instructions() if word == "USER"]
    assert users and users[-1] == "pwuser"
    last_user = max(i for i, (word, _) in enumerate(instructions()) if word == "USER")
    assert not any(word == "RUN" for word, _ in instructions()[last_user:]), "nothing runs as root after USER"


def test_the_entry_point_is_funnelwatch_and_it_runs_the_checks_by_default():
    found = dict(instructions())
    assert json.loads(found["ENTRYPOINT"]) == ["funnelwatch"]
    assert json.loads(found["CMD"]) == ["run"]
    assert [rest for word, rest in instructions() if word == "WORKDIR"][-1] == "/project"
    assert "FUNNELWATCH_PROJECT=/project" in found["ENV"]
    assert any("pip install -c constraints.txt ." in rest for word, rest in instructions() if word == "RUN")


def test_every_copied_path_exists_and_the_dockerignore_lets_it_through():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            keep = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path, body.replace("**/", "")):
                verdict = not keep
        return verdict

    for source in copied():
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source), f"COPY {source}: .dockerignore leaves it out of the build context"
    assert ignored("tests") and ignored("data") and ignored(".venv") and ignored("reports")


def test_the_copied_tree_builds_and_runs(tmp_path):
    """The tree the image builds from: a wheel of it holds every package file funnelwatch needs to start."""
    tree = tmp_path / "context"
    for source in copied():
        target = tree / source
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, target)
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(wheels), str(tree)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("funnelwatch-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "funnelwatch = funnelwatch.cli:main" in archive.read(entry_points).decode()
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    project = tmp_path / "project"
    for args in (["init", str(project)], ["-C", str(project), "validate"]):
        done = subprocess.run([sys.executable, "-m", "funnelwatch", *args], capture_output=True, text=True,
                              timeout=120, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    probe = subprocess.run([sys.executable, "-c", "import funnelwatch; print(funnelwatch.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert probe.stdout.strip().startswith(str(unpacked)), "the test ran the wheel's code, not the checkout's"
