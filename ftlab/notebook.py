"""Helpers every notebook uses: the first cell (profile + hardware), and the CLAIM lines at the end."""
from __future__ import annotations

import os

from .device import hardware_summary
from .profiles import Profile, active
from .runcard import package_versions

VERDICTS = ("held", "did not hold", "depends")


def seed_everything(seed: int) -> None:
    """One call seeds every generator a run draws from: Python's `random`, numpy, torch (CPU and every CUDA
    device), through transformers' own `set_seed`, the function the Trainer calls with `args.seed`."""
    from transformers import set_seed

    set_seed(seed)


def start(seed: int = 0) -> Profile:
    """Print which profile and hardware produce this notebook's outputs, seed everything, return the profile."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seed_everything(seed)
    profile = active()
    v = package_versions()
    print(f"ftlab profile: {profile.name} — {profile.description}")
    print(f"hardware: {hardware_summary()}")
    print(f"torch {v['torch']}, transformers {v['transformers']}, trl {v['trl']}, peft {v['peft']}")
    return profile


def claim(claim_id: str, verdict: str, numbers: str) -> str:
    """Print `CLAIM <id>: <verdict> — <numbers>`; the notebook asserts the measurement behind the verdict."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    line = f"CLAIM {claim_id}: {verdict} — {numbers}"
    print(line)
    return line
