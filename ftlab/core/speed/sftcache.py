"""Train each full fine-tune once: a run that another notebook already trained is loaded, not trained again.

On a CPU, training is deterministic: the same base, settings (seed included), rows, ftlab code and library
versions give the same weights, bit for bit. Notebook 01's first run, notebook 05's full fine-tune and notebook
07's SFT starting point are that same run, so the first of them saves its model under
runs/sft-cache/<key>/ and the others load it (~45 s of training each on 2 cores). Delete the folder at any time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ftlab.core.jsonl import atomic_write_text
from ftlab.core.paths import runs_dir


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """ftlab's source and the versions of the libraries that train: a change to either is another run."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parents[2].rglob("*.py")):  # all of ftlab/
        digest.update(path.name.encode() + path.read_bytes())
    for package in ("torch", "transformers", "trl", "peft", "accelerate"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()


def run_key(model_name: str, settings, rows: list[dict], val_rows: list[dict] | None = None,
            extras: dict | None = None) -> str:
    """What a full fine-tune's stored result depends on: base, settings (seed included), training rows and code
    decide its weights; the validation rows decide the evaluation losses in its history, so a run validated on
    other rows (or on none) is another entry, whatever order the notebooks run in. `extras`: the arguments of a
    learner's SFTConfig beyond the settings (ftlab.core.train.library_extras); none leaves the key as it was."""
    entry = {"model": model_name, "settings": asdict(settings), "rows": rows, "val_rows": val_rows,
             "code": code_fingerprint()}
    if extras:
        entry["extras"] = extras
    blob = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def folder_for(model_name: str, settings, rows: list[dict], val_rows: list[dict] | None = None,
               extras: dict | None = None) -> Path:
    """runs/sft-cache/<key>: where this run's model is (or will be) saved."""
    return runs_dir() / "sft-cache" / run_key(model_name, settings, rows, val_rows, extras)


def complete(folder: Path) -> bool:
    """Whether the run of this `folder_for` was trained and stored in full."""
    return (folder / "model" / "config.json").exists() and (folder / "run.json").exists()


def store(folder: Path, model, tokenizer, history: list[dict], card: dict, card_path: Path) -> Path:
    """Save a finished run: its model and tokenizer in folder/model, its log history and card in run.json. The
    model is written to a side folder and renamed, so a half-written one is never found."""
    import shutil

    partial = folder / "model.partial"
    for stale in (partial, folder / "model"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    partial.rename(folder / "model")
    atomic_write_text(folder / "run.json", json.dumps({"history": history, "card": card,
                                                       "card_path": str(card_path)}, default=str) + "\n")
    return folder


def saved_run(folder: Path) -> dict:
    """The log history, run card and original card path of a cached run."""
    return json.loads((Path(folder) / "run.json").read_text())
