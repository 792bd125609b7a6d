"""Resumable SFT checkpoints that a kill cannot corrupt.

transformers' Trainer writes checkpoint-<step>/ file by file in place (weights, optimizer, scheduler, RNG
states, trainer_state.json last), so a run killed mid-save leaves a folder that looks like a checkpoint but is
not one. ftlab marks a checkpoint complete only after the Trainer has finished it: every file is flushed to
disk, then a small manifest (`ftlab-complete.json`, names and sizes) is written atomically. Resuming trusts
only marked folders whose files still match, and sets the unmarked ones a kill left behind aside
(renamed `<name>.incomplete`, which neither ftlab nor the Trainer will load).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

from transformers import TrainerCallback

from ftlab.core.jsonl import atomic_write_text

MARKER = "ftlab-complete.json"


_STEP = re.compile(r"^checkpoint-(\d+)$")


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARKER}


def mark_complete(folder: Path) -> None:
    """Flush every file of a finished checkpoint to disk, then record its files and sizes atomically."""
    folder = Path(folder)
    for name in _files(folder):
        with open(folder / name, "rb") as fh:
            os.fsync(fh.fileno())
    atomic_write_text(folder / MARKER, json.dumps({"files": _files(folder)}, indent=1, sort_keys=True) + "\n")


def is_complete(folder: Path) -> bool:
    """A checkpoint is trusted only if its marker exists, parses, and every file it lists has its size."""
    try:
        listed = json.loads((Path(folder) / MARKER).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(listed) and _files(Path(folder)) == listed


def checkpoints(out_dir: Path) -> list[Path]:
    """checkpoint-<step> folders in out_dir, oldest step first."""
    out_dir = Path(out_dir)
    found = [p for p in out_dir.iterdir() if p.is_dir() and _STEP.match(p.name)] if out_dir.is_dir() else []
    return sorted(found, key=lambda p: int(_STEP.match(p.name).group(1)))


def last_complete_checkpoint(out_dir: Path) -> Path | None:
    complete = [p for p in checkpoints(out_dir) if is_complete(p)]
    return complete[-1] if complete else None


def prepare_resume(out_dir: Path) -> Path | None:
    """The checkpoint to resume from (None: start afresh). Half-written checkpoints are set aside, so the
    Trainer neither resumes from one nor mixes its stale files into the checkpoint it writes next."""
    for folder in checkpoints(out_dir):
        if not is_complete(folder):
            aside = folder.with_name(folder.name + ".incomplete")
            warnings.warn(f"{folder} was not completely written (the run was interrupted while saving it); "
                          f"moved to {aside.name}, resuming from the last complete checkpoint", RuntimeWarning,
                          stacklevel=3)
            shutil.rmtree(aside, ignore_errors=True)
            folder.rename(aside)
    last = last_complete_checkpoint(out_dir)
    print(f"resuming from {last}" if last else f"no complete checkpoint in {out_dir}: training from the start")
    return last


class CompleteCheckpointMarker(TrainerCallback):
    """Marks each checkpoint complete once the Trainer has written all of it (on_save runs after the save)."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if args.should_save and folder.is_dir():
            mark_complete(folder)
