"""Where a run keeps its partial downloads: one folder per run, which the next run cleans.

A run killed mid-download (SIGKILL, the OOM killer, a reboot) cannot remove
its own temp files; left in /tmp they pile up one `funnelwatch-asset-*` file
per killed run. So downloads and saved attachments go to
`$TMPDIR/funnelwatch-<uid>-<database key>/run-<id>/`, and every run, holding
the run lock, removes the folders of earlier runs before it starts. The parent
folder is private (0700, owned by us, never a symlink), since /tmp is shared.

Shards of one history run at once on one machine, each holding only its own
shard's lock: so a shard's folder is named by its lock
(`shard-1-of-2-run-<id>`) and a shard removes only earlier folders of the same
shard (which no live process can be using, as it holds that shard's lock). An
unsharded run holds the whole history's lock, so no shard is running: it
removes every earlier folder, shards' too.

    folder = run_folder(config.database_path, run_id, "shard-1-of-2")   # made now; earlier runs' folders removed
    remove(folder)                                      # at the end of the run
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path


def home_for(database: Path) -> Path:
    """The folder holding every run-<id> scratch folder of one history database."""
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"funnelwatch-{os.getuid()}-{key}"


def run_folder(database: str | os.PathLike[str], run_id: int, lock_name: str | None = None) -> Path | None:
    """This run's scratch folder (created), after removing earlier runs' of the same lock (`lock_name`: a shard's,
    `Shard.lock_name`; None: the whole history's, which removes every run's); None when it cannot be made safely."""
    parent = home_for(Path(database))
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():  # a symlink or another user's folder
            return None
        os.chmod(parent, 0o700)
        mine = f"{lock_name}-run-{run_id}" if lock_name else f"run-{run_id}"
        for old in parent.iterdir():
            if old.name != mine and _cleaned_by(old.name, lock_name):
                shutil.rmtree(old, ignore_errors=True)
        folder = parent / mine
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder
    except OSError:  # no temp space at all: downloads fall back to the system temp folder
        return None


def _cleaned_by(name: str, lock_name: str | None) -> bool:
    """Is `name` a run folder a run holding `lock_name` may remove (no live run can be using it)?"""
    if lock_name:
        return name.startswith(f"{lock_name}-run-")
    return name.startswith("run-") or bool(_SHARD_FOLDER.match(name))


_SHARD_FOLDER = re.compile(r"shard-\d+-of-\d+-run-\d+$")


def remove(folder: Path | None) -> None:
    """Remove a run's scratch folder, and its parent once no run folder is left in it."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.parent.rmdir()
        except OSError:  # another run's folder (a killed run's, for the next run to clean) is still there
            pass
