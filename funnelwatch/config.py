"""Reads config/funnelwatch.yaml and checks/*.yaml into validated models.

The only module that reads config. Every problem in a file is collected in one
pass and reported as `file:line: key.path: what is wrong — what to do`; a bad
check file becomes a `BrokenCheck` so the others still run.

    config = load_config("path/to/project")
    for check in config.checks: ...
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import redaction
from .errors import ConfigError, Diagnostic
from .schema import CheckBase, Settings, check_model
from .text import short_hash, slugify

CONFIG_FILE = Path("config") / "funnelwatch.yaml"
CHECKS_DIR = Path("checks")
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A ${VAR} value is a secret when its variable's name says so, or when it fills a
# credential: an IMAP login, an alert channel URL, the heartbeat URL, a proxy URL.
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|AUTH|CRED|WEBHOOK", re.I)
_SECRET_KEYS = {"password", "username", "proxy"}


def _is_secret(path: "Path_", variable: str, settings_file: bool) -> bool:
    if _SECRET_NAME.search(variable) or (path and path[-1] in _SECRET_KEYS):
        return True
    return settings_file and bool(path) and (path[0] == "heartbeat" or (path[0] == "alerts" and path[-1] == "url"))

Path_ = tuple[str | int, ...]


@dataclass
class Check:
    """A validated funnel with where it came from."""

    spec: CheckBase
    file: str
    slug: str
    #: The file fills a value from a secret ${VAR}: no Playwright trace is kept for it (traces hold typed values).
    uses_secrets: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class BrokenCheck:
    """A check file that did not validate: reported as `error`, never run."""

    file: str
    name: str
    slug: str
    diagnostics: list[Diagnostic]


@dataclass
class Config:
    """Everything a run needs to know, with paths resolved against `root`."""

    root: Path
    settings: Settings
    checks: list[Check] = field(default_factory=list)
    broken: list[BrokenCheck] = field(default_factory=list)
    settings_file: str = str(CONFIG_FILE)

    @property
    def database_path(self) -> Path:
        return self.resolve(self.settings.database)

    @property
    def reports_dir(self) -> Path:
        return self.resolve(self.settings.reports_dir)

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for b in self.broken for d in b.diagnostics]


# --- YAML with line numbers ---------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (`on:` is a key, `no` is text) and dates stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

if hasattr(yaml, "CSafeLoader"):

    class _FastLoader(yaml.CSafeLoader):
        """`_Loader` on libyaml: ~10× faster, so `validate` on 1,000 files stays under 2 s.

        Its error messages differ, so a text it rejects is re-read by `_Loader` for the message.
        """

    _FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _LOADERS: tuple[type, ...] = (_FastLoader, _Loader)
else:  # pragma: no cover - PyYAML built without libyaml
    _LOADERS = (_Loader,)


class _Document:
    """A YAML document as plain data plus the line of every key path."""

    def __init__(self, file: str, text: str, all_env_secret: bool = True):
        self.file = file
        self.all_env_secret = all_env_secret
        self.uses_secrets = False
        self.lines: dict[Path_, int] = {}
        self.diagnostics: list[Diagnostic] = []
        self.data: Any = None
        for loader_class in _LOADERS[:-1]:
            fast = loader_class(text)
            try:
                node = fast.get_single_node()
                self.data = self._build(fast, node, ()) if node is not None else None
                return
            except yaml.YAMLError:
                self.lines.clear()
                self.diagnostics.clear()
            finally:
                fast.dispose()
        try:
            loader = _Loader(text)
        except yaml.reader.ReaderError as exc:  # checked before parsing: control characters, bad encodings
            where = f"character {exc.character!r}" if isinstance(exc.character, str) else f"byte {exc.character!r}"
            self.diagnostics.append(Diagnostic(file, None, "", f"not valid YAML: unacceptable {where} at position "
                                                                f"{exc.position} — remove control characters"))
            return
        try:
            node = loader.get_single_node()
            self.data = self._build(loader, node, ()) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or str(exc)
            self.diagnostics.append(Diagnostic(file, line, "", f"not valid YAML: {problem} — check indentation and quoting"))
        except yaml.YAMLError as exc:
            self.diagnostics.append(Diagnostic(file, None, "", f"not valid YAML: {exc}"))
        finally:
            loader.dispose()

    def _build(self, loader: _Loader, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                key = str(key) if not isinstance(key, str) else key
                child = path + (key,)
                line = key_node.start_mark.line + 1
                if key in result:
                    self.diagnostics.append(
                        Diagnostic(self.file, line, _dotted(child), f"duplicate key (first at line {self.lines[child]}) — keep one")
                    )
                    continue
                self.lines[child] = line
                result[key] = self._build(loader, value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                items.append(self._build(loader, item, path + (index,)))
            return items
        value = loader.construct_object(node, deep=True)
        if isinstance(value, str):
            value = self._expand_env(value, path, node.start_mark.line + 1)
        return value

    def _expand_env(self, value: str, path: Path_, line: int) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                self.diagnostics.append(
                    Diagnostic(self.file, line, _dotted(path), f"environment variable {name} is not set — export {name}=... before running")
                )
                return ""
            if _is_secret(path, name, self.all_env_secret):
                redaction.register(os.environ[name])
                redaction.register_url_credentials(os.environ[name])
                self.uses_secrets = True
            return os.environ[name]

        return _ENV_VAR.sub(substitute, value)

    def line_of(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        part = part if isinstance(part, int) or str(part).isprintable() else repr(str(part))[1:-1]  # no raw control chars on a terminal
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- pydantic errors → diagnostics ---------------------------------------------


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model class that owns the keys at `path` (for did-you-mean)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fld = _field_by_key(current, part)
        if fld is None:
            return None
        current = _unwrap(fld.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, fld in model.model_fields.items():
        if key in (name, fld.alias):
            return fld
    return None


def _unwrap(annotation: Any) -> Any:
    """Find the model class inside Optional[...], list[...], Annotated[...]."""
    for _ in range(5):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        args = typing.get_args(annotation)
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        inner = [a for a in args if typing.get_args(a)]
        if not inner:
            return annotation
        annotation = inner[0]
    return annotation


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [fld.alias or name for name, fld in model.model_fields.items()]


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _diagnostics(doc: _Document, model: type[BaseModel], exc: ValidationError) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        loc: Path_ = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            owner = _model_at(model, loc[:-1])
            valid = _keys_of(owner) if owner else []
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}"
            message = f"unknown key — {hint}"
        elif kind == "missing":
            message = "required key is missing — add it"
        elif kind in ("value_error", "assertion_error"):
            message = str(err["ctx"].get("error", err["msg"])) if err.get("ctx") else err["msg"]
        elif kind == "literal_error":
            message = f"{_describe(err.get('input'))} is not allowed — use {err['ctx']['expected']}"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            message = f"{_describe(err.get('input'))} is out of range: {err['msg'].lower()}"
        elif kind in _TYPE_WORDS:
            message = f"expected {_TYPE_WORDS[kind]}, got {_describe(err.get('input'))}"
        else:
            message = err["msg"]
        found.append(Diagnostic(doc.file, doc.line_of(loc), _dotted(loc), message))
    return found


def _validate(doc: _Document, model: type[BaseModel]) -> BaseModel | None:
    if doc.diagnostics:
        return None
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        doc.diagnostics.append(Diagnostic(doc.file, 1, "", f"expected a mapping of keys to values at the top, got {_describe(data)}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        doc.diagnostics.extend(sorted(_diagnostics(doc, model, exc), key=lambda d: d.line or 0))
        return None


# --- public API ----------------------------------------------------------------


def find_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The project folder: the one holding config/funnelwatch.yaml (or given a file inside it)."""
    start = Path(path or ".").resolve()
    if start.is_file():
        return start.parent.parent if start.parent.name == "config" else start.parent
    return start


def _read(file: Path, shown: str, all_env_secret: bool = True) -> _Document | Diagnostic:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Diagnostic(shown, None, "", "not UTF-8 text — save the file as UTF-8")
    except OSError as exc:
        return Diagnostic(shown, None, "", f"cannot read: {exc.strerror}")
    return _Document(shown, text, all_env_secret)


def load_settings(root: Path, settings_file: Path | None = None) -> tuple[Settings, str]:
    file = settings_file or root / CONFIG_FILE
    shown = _shown(file, root)
    if not file.exists():
        raise ConfigError([Diagnostic(shown, None, "", "not found — run `funnelwatch init` to create it, or run from your project folder")])
    doc = _read(file, shown)
    if isinstance(doc, Diagnostic):
        raise ConfigError([doc])
    settings = _validate(doc, Settings)
    if settings is None:
        raise ConfigError(doc.diagnostics)
    return typing.cast(Settings, settings), shown


def _shown(file: Path, root: Path) -> str:
    try:
        return str(file.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(file)


def load_check(file: Path, root: Path) -> Check | BrokenCheck:
    shown = _shown(file, root)
    slug = slugify(file.stem)
    doc = _read(file, shown, all_env_secret=False)
    if isinstance(doc, Diagnostic):
        return BrokenCheck(shown, file.stem, slug, [doc])
    spec = _validate(doc, check_model())
    if spec is None:
        name = str(doc.data["name"]) if isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str) else file.stem
        return BrokenCheck(shown, name, slug, doc.diagnostics)
    return Check(typing.cast(CheckBase, spec), shown, slug, uses_secrets=doc.uses_secrets)


def load_config(path: str | os.PathLike[str] | None = None, checks_dir: str | os.PathLike[str] | None = None) -> Config:
    """Load the project at `path`: settings (errors raise) and every check (errors collected)."""
    root = find_root(path)
    given = Path(path) if path and Path(path).is_file() else None
    settings, shown = load_settings(root, given)
    config = Config(root=root, settings=settings, settings_file=shown)
    folder = Path(checks_dir) if checks_dir else root / CHECKS_DIR
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []
    seen: dict[str, str] = {}
    slugs: set[str] = set()
    for file in files:
        loaded = load_check(file, root)
        if loaded.slug in slugs:  # `a b.yaml` and `a-b.yaml`: own artifacts and report page for each
            loaded.slug = f"{loaded.slug}-{short_hash(file.name)}"
        slugs.add(loaded.slug)
        if isinstance(loaded, Check) and loaded.name in seen:
            line = 1
            loaded = BrokenCheck(
                loaded.file, loaded.name, loaded.slug,
                [Diagnostic(loaded.file, line, "name", f"'{loaded.name}' is already used by {seen[loaded.name]} — give each funnel its own name")],
            )
        if isinstance(loaded, Check):
            loaded = _fits_settings(loaded, settings)
        if isinstance(loaded, Check):
            seen[loaded.name] = loaded.file
            config.checks.append(loaded)
        else:
            config.broken.append(loaded)
    return config


def _fits_settings(check: Check, settings: Settings) -> Check | BrokenCheck:
    """A check whose sections config/funnelwatch.yaml cannot serve (e.g. follow-ups on the smtp inbox) is broken."""
    problems = [Diagnostic(check.file, None, kind.name, problem) for kind, section in check.spec.sections()
                if (problem := kind.settings_problem(section, settings))]
    return BrokenCheck(check.file, check.name, check.slug, problems) if problems else check


def validate_text(text: str, model: type[BaseModel], file: str = "<text>") -> list[Diagnostic]:
    """Diagnostics for a YAML text against a model (used by tests and docs checks)."""
    doc = _Document(file, text)
    _validate(doc, model)
    return doc.diagnostics
