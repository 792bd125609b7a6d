"""Where things live: the repository's data, models and run folders, in one place."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # ftlab/core/paths.py


DATA_DIR = REPO_ROOT / "data"


MODELS_DIR = REPO_ROOT / "models"


NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def relative(path: Path | str) -> str:
    """A path as a learner should read it: relative to the repository when inside it (stored notebook outputs
    never show the absolute paths of the machine that made them), else unchanged."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def runs_dir() -> Path:
    """Folder for run outputs (checkpoints, run cards); FTLAB_RUNS overrides it, never committed."""
    return Path(os.environ.get("FTLAB_RUNS", REPO_ROOT / "runs"))


def cache_dir() -> Path:
    """Folder for downloaded source packages (build time only); FTLAB_CACHE overrides it."""
    return Path(os.environ.get("FTLAB_CACHE", REPO_ROOT / ".cache"))


def new_run_dir(prefix: str) -> Path:
    """A fresh folder under runs/ for one run (timestamped, never reused), created on the spot. `prefix` is a
    plain name: one with a path separator, '..' or a leading dot could put run output outside runs/."""
    import time
    if not prefix or prefix.startswith(".") or any(sep in prefix for sep in ("/", "\\", os.sep)) or "\0" in prefix:
        raise ValueError(f"run name {prefix!r} must be a plain folder name (letters, digits, '-', '_'; no '/', "
                         "'\\' or leading '.'), so the run stays inside the runs folder")
    folder = runs_dir() / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = 0
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{folder.name.split('.')[0]}.{suffix}")
    folder.mkdir(parents=True)
    return folder
