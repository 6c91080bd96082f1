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
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from . import database_url, envfile
from .errors import ConfigError, Diagnostic
from .redaction import SHORT_SECRET_CHARS, Redactor
from .schema import CheckBase, Settings, check_model, settings_model
from .text import short_hash, slugify

CONFIG_FILE = Path("config") / "funnelwatch.yaml"
CHECKS_DIR = Path("checks")
#: `${VAR}` is read from the environment; `$${` is a literal `${` (for text that must keep one).
_ENV_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A ${VAR} value is a secret when its variable's name says so, or when it fills a
# credential: an IMAP login, an alert channel URL, the heartbeat URL, a proxy URL.
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|AUTH|CRED|WEBHOOK", re.I)
_SECRET_KEYS = {"password", "username", "proxy"}


def _is_secret(path: "Path_", variable: str, settings_file: bool) -> bool:
    if _SECRET_NAME.search(variable) or (path and path[-1] in _SECRET_KEYS):
        return True
    return settings_file and bool(path) and (path[0] == "heartbeat" or (path[0] == "alerts" and path[-1] == "url"))

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class EnvUse:
    """One `${VAR}` in a file: which variable, where, and where its value comes from (None: missing)."""

    name: str
    file: str
    line: int
    key: str
    source: str | None

    def where(self) -> str:
        return f"{self.file}:{self.line} {self.key}"


@dataclass
class Check:
    """A validated funnel with where it came from."""

    spec: CheckBase
    file: str
    slug: str
    #: The file fills a value from a secret ${VAR}: no Playwright trace is kept for it (traces hold typed values).
    uses_secrets: bool = False
    #: Weak spots that do not stop the check (a short secret): shown by `validate`.
    warnings: list[Diagnostic] = field(default_factory=list)
    #: The `${VAR}`s the file uses.
    variables: list[EnvUse] = field(default_factory=list)

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
    #: The tags the file names, if it names any (so `run --tag` still reports it).
    tags: list[str] = field(default_factory=list)
    #: The `${VAR}`s the file uses.
    variables: list[EnvUse] = field(default_factory=list)


@dataclass
class Config:
    """Everything a run needs to know, with paths resolved against `root`."""

    root: Path
    settings: Settings
    checks: list[Check] = field(default_factory=list)
    broken: list[BrokenCheck] = field(default_factory=list)
    settings_file: str = str(CONFIG_FILE)
    #: Weak spots in the settings and the valid checks (a short secret): shown by `validate`, never an error.
    warnings: list[Diagnostic] = field(default_factory=list)
    #: This config's secrets (every secret ${VAR} it expanded, its channel URLs): hand it to whatever writes text out.
    redactor: Redactor = field(default_factory=Redactor)
    #: Every `${VAR}` the files use, with where its value comes from (`validate`, `cron`, `systemd` list them).
    variables: list[EnvUse] = field(default_factory=list)
    #: One-line notes for every command (an old history location still in use).
    notices: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        """What to open the history with (`funnelwatch.store.open_store`): a PostgreSQL URL as given, or the SQLite file."""
        return self.settings.database.strip() if self.postgresql else str(self.database_path)

    @property
    def postgresql(self) -> bool:
        """The history is a shared PostgreSQL database (`database: postgresql://…`), not a SQLite file."""
        return database_url.is_postgresql(self.settings.database)

    @property
    def database_shown(self) -> str:
        """The history's location for messages: the file, or the URL without its password."""
        return database_url.shown(self.settings.database) if self.postgresql else str(self.database_path)

    @property
    def database_path(self) -> Path:
        """The SQLite file; for a PostgreSQL history a stand-in path that is never created, only naming this
        machine's files for that history (scratch folders, the cron lines' flock): `data/postgresql-<hash>`."""
        if self.postgresql:
            return self.root / "data" / f"postgresql-{database_url.key(self.settings.database)}"
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


#: Limits that keep one hostile file from stopping every check: a check file is a page of YAML.
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_VALUES = 100_000  # values after expanding &anchors and *aliases (an alias bomb expands to billions)
MAX_DIAGNOSTICS = 20  # per file; a file that is not a check at all is not echoed line by line


def _shape_problem(loader: Any) -> tuple[int | None, str] | None:
    """Too deep, or too many values once aliases are expanded? Read from the event stream, which is
    flat (the node composer recurses and would crash), before anything is built."""
    open_frames: list[tuple[int, str | None]] = []  # (values counted when it opened, its anchor)
    sizes: dict[str, int] = {}
    values = 0
    get_event = loader.get_event
    while True:  # the events of 1,000 files pass here: one type lookup each, and the line only for a problem
        event = get_event()
        kind = _EVENT_KINDS.get(type(event))
        if kind == "scalar":
            values += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif kind == "start":
            values += 1
            open_frames.append((values - 1, event.anchor))
            if len(open_frames) > MAX_DEPTH:
                return _line(event), f"nested more than {MAX_DEPTH} levels deep — a check needs a few levels; flatten it"
        elif kind == "end":
            opened, anchor = open_frames.pop()
            if anchor:
                sizes[anchor] = values - opened
        elif kind == "alias":
            if any(anchor == event.anchor for _, anchor in open_frames):
                return _line(event), f"the alias *{event.anchor} refers to itself — remove the alias"
            values += sizes.get(event.anchor or "", 1)
        elif kind == "stream end":
            return None
        if values > MAX_VALUES:
            return _line(event), (f"expands to more than {MAX_VALUES:,} values through &anchors and *aliases "
                                  "— write the values out, or use fewer aliases")


_EVENT_KINDS: dict[type, str] = {
    yaml.ScalarEvent: "scalar", yaml.AliasEvent: "alias", yaml.StreamEndEvent: "stream end",
    yaml.SequenceStartEvent: "start", yaml.MappingStartEvent: "start",
    yaml.SequenceEndEvent: "end", yaml.MappingEndEvent: "end",
}


def _line(event: Any) -> int | None:
    return event.start_mark.line + 1 if event.start_mark else None


class _Document:
    """A YAML document as plain data plus the line of every key path."""

    def __init__(self, file: str, text: str, all_env_secret: bool = True, model: type[BaseModel] | None = None,
                 redactor: Redactor | None = None):
        self.file = file
        #: Where the secret ${VAR} values found while expanding go (the loaded Config's redactor).
        self.redactor = redactor if redactor is not None else Redactor()
        self.model = model
        self.all_env_secret = all_env_secret
        self.uses_secrets = False
        self.lines: dict[Path_, int] = {}
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.variables: list[EnvUse] = []
        self.data: Any = None
        if self._too_big(text):
            return
        for loader_class in _LOADERS[:-1]:
            fast = loader_class(text)
            try:
                node = fast.get_single_node()
                self.data = self._build(fast, node, (), model) if node is not None else None
                return
            except yaml.YAMLError:
                self.lines.clear()
                self.diagnostics.clear()
                self.warnings.clear()
                self.variables.clear()
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
            self.data = self._build(loader, node, (), model) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or str(exc)
            self.diagnostics.append(Diagnostic(file, line, "", f"not valid YAML: {problem} — check indentation and quoting"))
        except yaml.YAMLError as exc:
            self.diagnostics.append(Diagnostic(file, None, "", f"not valid YAML: {exc}"))
        finally:
            loader.dispose()

    def _too_big(self, text: str) -> bool:
        scanner = _LOADERS[0](text)
        try:
            problem = _shape_problem(scanner)
        except (yaml.YAMLError, ValueError):
            return False  # not valid YAML: the composing pass below says where and why
        finally:
            scanner.dispose()
        if problem:
            self.diagnostics.append(Diagnostic(self.file, problem[0], "", problem[1]))
        return problem is not None

    def _build(self, loader: _Loader, node: yaml.Node, path: Path_, wanted: Any = None) -> Any:
        """Plain data from the node; `wanted` is the schema's type here, so a number the user wrote where
        the schema wants text stays the text they wrote (`zip: 02134` is not octal 1116)."""
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                plain = key_node.tag in _NUMBER_TAGS or key_node.tag == _STR_TAG
                key = key_node.value if plain else loader.construct_object(key_node, deep=True)
                key = str(key) if not isinstance(key, str) else key
                child = path + (key,)
                line = key_node.start_mark.line + 1
                if key in result:
                    self.diagnostics.append(
                        Diagnostic(self.file, line, _dotted(child), f"duplicate key (first at line {self.lines[child]}) — keep one")
                    )
                    continue
                self.lines[child] = line
                result[key] = self._build(loader, value_node, child, _type_at(wanted, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                items.append(self._build(loader, item, path + (index,), _type_at(wanted, index)))
            return items
        if node.tag == _STR_TAG or (node.tag in _NUMBER_TAGS and _wants_text(wanted)):  # str: what construct_object gives
            return self._expand_env(node.value, path, node.start_mark.line + 1)
        value = loader.construct_object(node, deep=True)
        if isinstance(value, str):
            value = self._expand_env(value, path, node.start_mark.line + 1)
        return value

    def _expand_env(self, value: str, path: Path_, line: int) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "${"
            self.variables.append(EnvUse(name, self.file, line, _dotted(path), envfile.source_of(name)))
            if name not in os.environ:
                self.diagnostics.append(Diagnostic(
                    self.file, line, _dotted(path),
                    f"environment variable {name} is not set — add {name}=... to .env in the project folder "
                    "(cron and systemd start without your shell's variables), or export it",
                ))
                return ""
            if _is_secret(path, name, self.all_env_secret):
                self.redactor.add(os.environ[name])
                self.redactor.add_url_credentials(os.environ[name])
                self.uses_secrets = True
                if 0 < len(os.environ[name]) < SHORT_SECRET_CHARS:
                    self.warnings.append(Diagnostic(
                        self.file, line, _dotted(path),
                        f"warning: the secret ${{{name}}} is only {len(os.environ[name])} characters — it is hidden only where "
                        f"it stands alone (a whole field or query value) and is easy to guess; use {SHORT_SECRET_CHARS} or more",
                    ))
            return os.environ[name]

        return _ENV_VAR.sub(substitute, value)

    def line_of(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_STR_TAG = "tag:yaml.org,2002:str"


def _options(annotation: Any) -> list[Any]:
    """The types a value may have: `str | int | None` → [str, int, NoneType]; Annotated is looked through."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [option for arg in typing.get_args(annotation) for option in _options(arg)]
    return [annotation]


_types_at: dict[tuple[Any, str | int], Any] = {}
_TYPES_AT_KEPT = 10_000


def _type_at(annotation: Any, key: str | int) -> Any:
    """The schema's type for the value at `key` inside a value of type `annotation` (None: not known).

    Remembered per (type, key): every node of every file asks, and 1,000 files ask the same few hundred
    questions (a third of `validate`'s time before)."""
    if annotation is None:
        return None
    try:
        return _types_at[annotation, key]
    except KeyError:
        found = _find_type_at(annotation, key)
        if len(_types_at) < _TYPES_AT_KEPT:  # a file of a million made-up keys does not grow it for ever
            _types_at[annotation, key] = found
        return found
    except TypeError:  # an unhashable annotation: asked, not remembered
        return _find_type_at(annotation, key)


def _find_type_at(annotation: Any, key: str | int) -> Any:
    for option in _options(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(key, str):
            fld = _field_by_key(option, key)
            if fld is not None:
                return fld.annotation
        origin, args = typing.get_origin(option), typing.get_args(option)
        if origin is dict and isinstance(key, str) and len(args) == 2:
            return args[1]
        if origin is list and isinstance(key, int) and args:
            return args[0]
    return None


def _wants_text(annotation: Any) -> bool:
    """Text is allowed here (a `str`, or a list of them that one text may stand for)."""
    return any(option is str or (typing.get_origin(option) is list and typing.get_args(option) == (str,))
               for option in _options(annotation))


def _dotted(path: Path_) -> str:
    """`form.fill.email`; a key is shown up to 40 characters (a diagnostic never copies a file out)."""
    out = ""
    for part in path:
        if not isinstance(part, int):
            part = part if len(part) <= 40 else part[:37] + "..."
            part = part if part.isprintable() else repr(part)[1:-1]  # no raw control chars on a terminal
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
    """The project folder: the first of `path` and its parents that holds config/funnelwatch.yaml, as git
    finds its repository (so `validate` works from inside checks/); `path` itself when none does.
    Given a settings file: the folder holding its config/ folder (or the file's own folder)."""
    start = Path(path or ".").resolve()
    if start.is_file():
        return start.parent.parent if start.parent.name == "config" else start.parent
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return start


_FILE_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def _read_text(file: Path, shown: str, inside: tuple[Path, ...] = ()) -> str | Diagnostic:
    """The file's text if it is a regular file of at most MAX_FILE_BYTES (and, given `inside`, resolves
    into one of those folders); otherwise why not. Never blocks on a pipe, never reads a device."""
    try:
        info = file.stat()
    except FileNotFoundError:
        return Diagnostic(shown, None, "", "cannot read: it is a link to a file that does not exist — fix or remove the link")
    except OSError as exc:
        return Diagnostic(shown, None, "", f"cannot read: {exc.strerror}")
    if not stat.S_ISREG(info.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        return Diagnostic(shown, None, "", f"not a regular file ({kind}) — a check must be a plain YAML file; remove it")
    # A plain file whose folder is one of the resolved `inside` folders is inside; only others are resolved.
    if inside and (os.path.islink(file) or file.parent not in inside):
        target = file.resolve()
        if not any(target.is_relative_to(folder) for folder in inside):
            return Diagnostic(shown, None, "", "links to a file outside the project folder, which is never read "
                                               "— copy the file into checks/ instead of linking to it")
    too_big = Diagnostic(shown, None, "", f"larger than {MAX_FILE_BYTES // 1_000_000} MB — a check file is a page of "
                                          "YAML; split it into one file per funnel")
    if info.st_size > MAX_FILE_BYTES:
        return too_big
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the stat above
                return Diagnostic(shown, None, "", "not a regular file — a check must be a plain YAML file; remove it")
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return Diagnostic(shown, None, "", f"cannot read: {exc.strerror}")
    if len(raw) > MAX_FILE_BYTES:
        return too_big
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Diagnostic(shown, None, "", "not UTF-8 text — save the file as UTF-8")


def _read(file: Path, shown: str, model: type[BaseModel], all_env_secret: bool = True,
          inside: tuple[Path, ...] = (), redactor: Redactor | None = None) -> _Document | Diagnostic:
    text = _read_text(file, shown, inside)
    if isinstance(text, Diagnostic):
        return text
    return _Document(shown, text, all_env_secret, model, redactor)


def load_settings(root: Path, settings_file: Path | None = None, warnings: list[Diagnostic] | None = None,
                  redactor: Redactor | None = None, variables: list[EnvUse] | None = None) -> tuple[Settings, str]:
    file = settings_file or root / CONFIG_FILE
    shown = _shown(file, root)
    if not file.exists():
        hint = ("check the path given with --config" if settings_file is not None
                else "run `funnelwatch init` to create it, or run from your project folder")
        raise ConfigError([Diagnostic(shown, None, "", f"not found — {hint}")])
    try:
        doc = _read(file, shown, settings_model(), redactor=redactor)
        if isinstance(doc, Diagnostic):
            raise ConfigError([doc])
        settings = _validate(doc, settings_model())
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a strange settings file is a message, not a traceback
        raise ConfigError([Diagnostic(shown, None, "", f"could not be read ({type(exc).__name__}) — simplify the file")]) from None
    if settings is None:
        raise ConfigError(_bounded(doc.diagnostics))
    if warnings is not None:
        warnings.extend(doc.warnings)
    if variables is not None:
        variables.extend(doc.variables)
    return typing.cast(Settings, settings), shown


def _shown(file: Path, root: Path) -> str:
    return _shown_in(file.parent.resolve(), file.name, root.resolve(), file)


def _shown_in(real_folder: Path, name: str, real_root: Path, file: Path) -> str:
    try:
        return str((real_folder / name).relative_to(real_root))  # a link is shown by its own name
    except ValueError:
        return str(file)


def _bounded(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    if len(diagnostics) <= MAX_DIAGNOSTICS:
        return diagnostics
    first = diagnostics[:MAX_DIAGNOSTICS]
    more = len(diagnostics) - MAX_DIAGNOSTICS
    return first + [Diagnostic(first[0].file, None, "", f"… and {more} more problems — is this a check file? fix the ones above first")]


def load_check(file: Path, root: Path, inside: tuple[Path, ...] | None = None,
               redactor: Redactor | None = None, shown: str | None = None) -> Check | BrokenCheck:
    """One check file; any problem, however strange the file, is a `BrokenCheck` (the others still run).

    `shown` is how messages name the file (default: its path from the project folder)."""
    shown = shown if shown is not None else _shown(file, root)
    slug = slugify(file.stem)
    inside = inside if inside is not None else (root.resolve(), file.parent.resolve())
    try:
        return _load_check(file, root, shown, slug, inside, redactor if redactor is not None else Redactor())
    except Exception as exc:  # noqa: BLE001 - whatever a file does, it stops only itself
        return BrokenCheck(shown, file.stem, slug, [Diagnostic(
            shown, None, "", f"could not be read ({type(exc).__name__}) — simplify the file; `funnelwatch validate` checks it")])


def _load_check(file: Path, root: Path, shown: str, slug: str, inside: tuple[Path, ...],
                redactor: Redactor) -> Check | BrokenCheck:
    model = check_model()
    doc = _read(file, shown, model, all_env_secret=False, inside=inside, redactor=redactor)
    if isinstance(doc, Diagnostic):
        return BrokenCheck(shown, file.stem, slug, [doc])
    spec = _validate(doc, model)
    if spec is None:
        data = doc.data if isinstance(doc.data, dict) else {}
        name = str(data["name"]) if isinstance(data.get("name"), str) else file.stem
        tags = data.get("tags")
        tags = [tags] if isinstance(tags, str) else tags
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        return BrokenCheck(shown, name, slug, _bounded(doc.diagnostics), tags, variables=doc.variables)
    return Check(typing.cast(CheckBase, spec), shown, slug, uses_secrets=doc.uses_secrets, warnings=doc.warnings,
                 variables=doc.variables)


def load_config(path: str | os.PathLike[str] | None = None, checks_dir: str | os.PathLike[str] | None = None,
                settings_file: str | os.PathLike[str] | None = None) -> Config:
    """Load the project at `path`: settings (errors raise) and every check (errors collected).

    `settings_file` reads the settings from that file instead of config/funnelwatch.yaml; the project
    is then `path` as given (or, without one, the project `find_root` finds for the file).
    """
    if settings_file is not None:
        given: Path | None = Path(settings_file)
        root = Path(path).resolve() if path is not None else find_root(settings_file)
    else:
        root = find_root(path)
        given = Path(path) if path and Path(path).is_file() else None
    redactor = Redactor()
    for name, value in envfile.load_env_file(root).items():
        if _SECRET_NAME.search(name):  # as secret as the same variable exported in the environment
            redactor.add(value)
            redactor.add_url_credentials(value)
    warnings: list[Diagnostic] = []
    variables: list[EnvUse] = []
    settings, shown = load_settings(root, given, warnings, redactor, variables)
    for url in [channel.url for channel in settings.alerts] + [settings.heartbeat or "", settings.heartbeat_fail or ""]:
        redactor.add(url)  # a channel URL typed into the YAML (not via ${VAR}) is just as secret
    secret = database_url.password(settings.database) if database_url.is_postgresql(settings.database) else None
    if secret:  # a PostgreSQL password typed into the URL (not via ${VAR}) is just as secret
        redactor.add(secret)
        redactor.add(urlsplit(settings.database.strip()).password or "")
    notices: list[str] = []
    settings = _history_location(root, settings, notices)
    config = Config(root=root, settings=settings, settings_file=shown, warnings=warnings, redactor=redactor,
                    variables=variables, notices=notices)
    folder = Path(checks_dir) if checks_dir else root / CHECKS_DIR
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []
    seen: dict[str, str] = {}
    real_root, real_folder = inside = (root.resolve(), folder.resolve())  # once, not per file (#21: a fifth of validate)
    slugs: set[str] = set()
    for file in files:
        loaded = load_check(file, root, inside, redactor, shown=_shown_in(real_folder, file.name, real_root, file))
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
        config.variables.extend(loaded.variables)
        if isinstance(loaded, Check):
            seen[loaded.name] = loaded.file
            config.checks.append(loaded)
            config.warnings.extend(loaded.warnings)
        else:
            config.broken.append(loaded)
    return config


#: Where the history lived before it moved out of the published reports folder.
OLD_DATABASE = "reports/history.db"


def _history_location(root: Path, settings: Settings, notices: list[str]) -> Settings:
    """Without a `database:` setting, an existing reports/history.db (the old default) is still used, with a notice."""
    if "database" in settings.model_fields_set or database_url.is_postgresql(settings.database):
        return settings
    old, new = root / OLD_DATABASE, root / settings.database
    if not old.exists() or new.exists():
        return settings
    notices.append(
        f"using {OLD_DATABASE}, the old default inside the published reports folder (it holds received emails and "
        f"tokens) — move it with `mkdir -p {Path(settings.database).parent} && mv {OLD_DATABASE}* "
        f"{Path(settings.database).parent}/`, or set `database: {OLD_DATABASE}` to keep it there and silence this"
    )
    return settings.model_copy(update={"database": OLD_DATABASE})


def _fits_settings(check: Check, settings: Settings) -> Check | BrokenCheck:
    """A check whose sections config/funnelwatch.yaml cannot serve (e.g. follow-ups on the smtp inbox) is broken."""
    problems = [Diagnostic(check.file, None, kind.name, problem) for kind, section in check.spec.sections()
                if (problem := kind.settings_problem(section, settings))]
    return BrokenCheck(check.file, check.name, check.slug, problems) if problems else check


def validate_text(text: str, model: type[BaseModel], file: str = "<text>") -> list[Diagnostic]:
    """Diagnostics for a YAML text against a model (used by tests and docs checks)."""
    doc = _Document(file, text, model=model)
    _validate(doc, model)
    return doc.diagnostics
