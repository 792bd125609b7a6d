"""Helpers every notebook uses: the first cell (profile, hardware, precision and why), and the CLAIM lines, each
judged by its rule in the claims registry (`ftlab.core.claims`) and checked against the verdict it expects."""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

import torch

from ftlab.core import claims
from ftlab.core.device import hardware_summary, precision_summary, set_threads
from ftlab.core.errors import ConfigError
from ftlab.core.paths import REPO_ROOT
from ftlab.core.profiles import Profile, active, default_profile_name
from ftlab.core.runcard import package_versions
from ftlab.course import verdicts

VERDICTS = claims.VERDICTS


THREADS_ENV = "FTLAB_THREADS"


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" in microseconds, or "max <period>"


def cgroup_cpus(cpu_max: Path | None = None) -> int | None:
    """The whole CPUs a cgroup v2 quota grants this process (at least 1), None when there is no quota or no file:
    a container or a lab server's per-user slice that says "2 CPUs" while the machine has 16."""
    try:
        quota, period = (cpu_max or CPU_MAX).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1, math.floor(int(quota) / int(period)))


def kernel_threads() -> tuple[int, str]:
    """(torch threads for this kernel, why): FTLAB_THREADS when set, else the fewest of torch's default, the CPUs
    this process may run on (its affinity) and its cgroup quota. torch counts the machine's cores, so on a shared
    server every student's kernel would otherwise start one thread per core of the whole machine."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ConfigError(f"{THREADS_ENV}={given!r}: expected a whole number of threads >= 1")
        return int(given), THREADS_ENV
    limits = {"torch's default": torch.get_num_threads(), "CPU affinity": len(os.sched_getaffinity(0))}
    if (quota := cgroup_cpus()) is not None:
        limits["cgroup CPU quota"] = quota
    why = min(limits, key=limits.get)
    return limits[why], why


def seed_everything(seed: int) -> None:
    """One call seeds every generator a run draws from: Python's `random`, numpy, torch (CPU and every CUDA
    device), through transformers' own `set_seed`, the function the Trainer calls with `args.seed`."""
    from transformers import set_seed

    set_seed(seed)


def short_path(filename: str) -> str:
    """A source file as a warning should name it: inside an installed package from the package's folder on
    ('transformers/modeling_utils.py'), inside the repository relative to it, so that stored outputs never show
    the machine's absolute paths."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return Path(*parts[parts.index("site-packages") + 1:]).as_posix()
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def format_warning(message, category, filename, lineno, line=None) -> str:
    """warnings.formatwarning, with `short_path` instead of the absolute file name."""
    return f"{short_path(filename)}:{lineno}: {category.__name__}: {message}\n"


def start(seed: int = 0) -> Profile:
    """Print which profile, hardware and precision (and why) produce this notebook's outputs, seed everything,
    give torch the threads this kernel may use (`kernel_threads`), return the profile."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.formatwarning = format_warning
    seed_everything(seed)
    threads, why = kernel_threads()
    set_threads(threads)
    profile = active()
    v = package_versions()
    print(f"ftlab profile: {profile.name} — {profile.description}")
    print(f"hardware: {hardware_summary()} ({why})")
    print(f"precision: {precision_summary(profile.bf16_on_gpu)}")
    print(f"python {sys.version.split()[0]}, torch {v['torch']}, transformers {v['transformers']}, trl {v['trl']}, "
          f"peft {v['peft']}")
    return profile


def claim(claim_id: str, **measured) -> str:
    """Judge a registered claim from measured numbers (`ftlab.core.claims`), print its CLAIM line and return it; a
    verdict other than the one the registry expects for the active profile stops the notebook. Below it, the
    same claim at the other scale (SmolLM2-135M beside the tiny model, and back), judged from that profile's
    stored references and checked against the registry too (`ftlab.course.verdicts`)."""
    profile = default_profile_name()
    line = claims.check(claim_id, profile, **measured)
    other = verdicts.other_scale(profile)
    if other is not None:
        line += "\n" + verdicts.stored_line(claim_id, other)
    print(line)
    return line
