"""Run cards: one JSON per training run with config, versions, seed, tokens, time, throughput, memory, metrics.

Written atomically, so an interrupted run never leaves a half-written card.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ftlab.core.jsonl import atomic_write_text
from ftlab.core.paths import REPO_ROOT, runs_dir
from ftlab.core.profiles import default_profile_name

TRACKED_PACKAGES = ["torch", "transformers", "trl", "peft", "datasets", "tokenizers", "accelerate",
                    "bitsandbytes", "ftlab"]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def peak_memory_bytes(device: torch.device | str = "cpu") -> dict[str, int]:
    """CUDA: the allocator's peak since the last reset; CPU: this process's peak resident set size."""
    if torch.device(device).type == "cuda":
        return {"cuda_max_allocated": torch.cuda.max_memory_allocated(device)}
    return {"cpu_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def reset_peak_memory(device: torch.device | str = "cpu") -> None:
    """Start a run's CUDA peak from zero (CPU peak RSS cannot be reset: measure in a fresh process)."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def make_card(kind: str, config: Any, *, seed: int, tokens: int, wall_time_s: float, metrics: dict,
              device: torch.device | str = "cpu", profile: str | None = None, extra: dict | None = None) -> dict:
    """A run card as a plain dict (what `write_card` saves)."""
    return _jsonable({
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": profile or _profile_name(),
        "config": config,
        "seed": seed,
        "tokens": tokens,
        "wall_time_s": wall_time_s,
        "tokens_per_s": tokens / wall_time_s if wall_time_s > 0 else None,
        "peak_memory": peak_memory_bytes(device),
        "device": str(device),
        "metrics": metrics,
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        **(extra or {}),
    })


def _profile_name() -> str:
    return default_profile_name()


def write_card(card: dict, name: str, folder: Path | None = None) -> Path:
    """Save a card as runs/cards/<name>.json (atomically) and return its path."""
    folder = Path(folder) if folder else runs_dir() / "cards"
    path = folder / f"{name}.json"
    atomic_write_text(path, json.dumps(card, indent=2) + "\n")
    return path


def read_card(path: Path) -> dict:
    return json.loads(Path(path).read_text())
