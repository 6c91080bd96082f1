"""Where a run keeps its partial downloads: one folder per run, which the next run cleans.

A run killed mid-download (SIGKILL, the OOM killer, a reboot) cannot remove
its own temp files; left in /tmp they pile up one `funnelwatch-asset-*` file
per killed run. So downloads and saved attachments go to
`$TMPDIR/funnelwatch-<uid>-<database key>/run-<id>/`, and every run, holding
the run lock (one run per database), removes the folders of earlier runs
before it starts. The parent folder is private (0700, owned by us, never a
symlink), since /tmp is shared.

    folder = run_folder(config.database_path, run_id)    # made now; earlier runs' folders removed
    remove(folder)                                      # at the end of the run
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path


def home_for(database: Path) -> Path:
    """The folder holding every run-<id> scratch folder of one history database."""
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"funnelwatch-{os.getuid()}-{key}"


def run_folder(database: str | os.PathLike[str], run_id: int) -> Path | None:
    """This run's scratch folder (created), after removing earlier runs'; None when it cannot be made safely."""
    parent = home_for(Path(database))
    try:
        parent.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():  # a symlink or another user's folder
            return None
        os.chmod(parent, 0o700)
        for old in parent.iterdir():
            if old.name.startswith("run-") and old.name != f"run-{run_id}":
                shutil.rmtree(old, ignore_errors=True)
        folder = parent / f"run-{run_id}"
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder
    except OSError:  # no temp space at all: downloads fall back to the system temp folder
        return None


def remove(folder: Path | None) -> None:
    """Remove a run's scratch folder, and its parent once no run folder is left in it."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.parent.rmdir()
        except OSError:  # another run's folder (a killed run's, for the next run to clean) is still there
            pass
