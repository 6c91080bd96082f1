"""`run --shard K/N`: the K-th of N stable slices of the checks, so N machines split one night's work.

A check's shard is a hash of its file's name inside the checks folder
(`checks/hipaa.yaml` → `hipaa.yaml`), never of its position in a listing or of
Python's per-process `hash()`: the same file lands in the same shard on every
machine, in every process, whatever other files are added, renamed or removed.
That is what keeps a demo request's follow-up with the shard that sent it, and
the overlap lock per shard (`Shard.lock_name`).

Three ways to say which shard, for three kinds of engine:

    funnelwatch run --shard 2/4                      # a CI matrix, cron on host 2
    FUNNELWATCH_SHARD=2/4 funnelwatch run            # a systemd template unit, an env file
    JOB_COMPLETION_INDEX=1 funnelwatch run --shards 4   # a Kubernetes Indexed Job (0-based index)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Mapping

from .errors import FunnelwatchError

#: The environment variable `run --shard` falls back to.
SHARD_ENV = "FUNNELWATCH_SHARD"
#: The 0-based index a Kubernetes Indexed Job gives each pod (used with `--shards N`).
JOB_INDEX_ENV = "JOB_COMPLETION_INDEX"
#: More shards than this is a typo (a 16-shard night is the scale the recipes aim at).
MAX_SHARDS = 1000

_SHAPE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, both 1-based as people count (`--shard 1/2` and `--shard 2/2`)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise FunnelwatchError(f"shard {self.index}/{self.count}: the number of shards must be 1 to {MAX_SHARDS}")
        if not 1 <= self.index <= self.count:
            raise FunnelwatchError(f"shard {self.index}/{self.count}: K must be 1 to {self.count} in K/N "
                                   f"(shards count from 1: --shard 1/{self.count} … --shard {self.count}/{self.count})")

    @classmethod
    def parse(cls, text: str, source: str = "--shard") -> "Shard":
        """`2/4` → Shard(2, 4); anything else a clear FunnelwatchError (exit 2) naming `source`."""
        match = _SHAPE.match(text)
        if not match:
            raise FunnelwatchError(f"{source} {text!r}: write the shard as K/N, e.g. 1/4 for the first of four shards")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except FunnelwatchError as exc:
            raise FunnelwatchError(f"{source} {text!r}: {str(exc).split(': ', 1)[1]}") from None

    @classmethod
    def of_job_index(cls, index: str, count: int) -> "Shard":
        """A Kubernetes Indexed Job's 0-based `JOB_COMPLETION_INDEX` with `--shards N`: index 0 is shard 1/N."""
        if not index.strip().isdigit():
            raise FunnelwatchError(f"{JOB_INDEX_ENV}={index!r}: expected the 0-based index a Kubernetes Indexed Job sets")
        number = int(index)
        if count < 1 or number >= count:
            raise FunnelwatchError(f"{JOB_INDEX_ENV}={number} with --shards {count}: the index must be 0 to {count - 1} "
                                   f"— set the Job's completions and parallelism to {number + 1} or more, and --shards to match")
        return cls(number + 1, count)

    def owns(self, file: str) -> bool:
        """The check in `file` (as configs show it, `checks/hipaa.yaml`) is in this shard."""
        return shard_of(file, self.count) == self.index

    @property
    def label(self) -> str:
        """`1/2`, as alerts, `--json` and the run's selection say it."""
        return f"{self.index}/{self.count}"

    @property
    def lock_name(self) -> str:
        """`shard-1-of-2`: the overlap lock's name for this shard (a file suffix on SQLite, an advisory key on PostgreSQL)."""
        return f"shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"shard {self.label}"


def shard_key(file: str) -> str:
    """What a check's shard is a hash of: its file's name inside the checks folder (the same on every machine)."""
    return PurePath(file.replace("\\", "/")).name


def shard_of(file: str, count: int) -> int:
    """The 1-based shard of `count` that owns the check in `file` (sha256 of `shard_key`, stable everywhere)."""
    digest = hashlib.sha256(shard_key(file).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def choose(shard: str | None, shards: int | None, env: Mapping[str, str]) -> Shard | None:
    """The shard a `run` was told, or None for every check.

    `--shard K/N` (or `FUNNELWATCH_SHARD`) wins; else `--shards N` takes its index
    from `JOB_COMPLETION_INDEX`. `--shards` without an index, or disagreeing with
    `--shard`'s N, is an error: a runner must never guess its slice.
    """
    text = shard if shard is not None and shard.strip() else None
    source = "--shard"
    if text is None and env.get(SHARD_ENV, "").strip():
        text, source = env[SHARD_ENV], SHARD_ENV
    if shards is not None and not 1 <= shards <= MAX_SHARDS:
        raise FunnelwatchError(f"--shards {shards}: the number of shards must be 1 to {MAX_SHARDS}")
    if text is not None:
        chosen = Shard.parse(text, source)
        if shards is not None and shards != chosen.count:
            raise FunnelwatchError(f"{source} {text.strip()} and --shards {shards} disagree on the number of shards — give one of them")
        return chosen
    if shards is None:
        return None
    index = env.get(JOB_INDEX_ENV, "")
    if not index.strip():
        raise FunnelwatchError(f"--shards {shards} takes this runner's index from {JOB_INDEX_ENV} (a Kubernetes Indexed Job "
                               f"sets it), which is not set — outside Kubernetes use --shard K/{shards}")
    return Shard.of_job_index(index, shards)
