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


def world_size() -> int:
    """Processes in this run: WORLD_SIZE as `accelerate launch` (torchrun) sets it, 1 for a plain run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def fsdp_enabled() -> bool:
    """True inside `accelerate launch` with an FSDP config (accelerate passes it to each process this way)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")


def fsdp_shards() -> int:
    """How many processes share the weights, gradients and optimizer states: the world size under FSDP, else 1
    (DDP keeps a full copy in every process)."""
    return world_size() if fsdp_enabled() else 1
