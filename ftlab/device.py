"""Which device to run on, how many CPU threads, and bf16 autocast that works on CPU and CUDA alike."""
from __future__ import annotations

import contextlib
import os

import torch


def pick_device() -> torch.device:
    """CUDA when present (and not disabled with FTLAB_DEVICE=cpu), else CPU."""
    wanted = os.environ.get("FTLAB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: leave torch's default, one per core) and return the count."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def autocast(device: torch.device | str, bf16: bool):
    """bf16 autocast on the given device type, or a no-op context when bf16 is off."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def hardware_summary() -> str:
    """One line naming the hardware, for the first output of every notebook."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"CUDA {props.name}, {props.total_memory / 2**30:.0f} GiB"
    return f"CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
