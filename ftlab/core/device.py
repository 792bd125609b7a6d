"""Which device to run on, how many CPU threads, and bf16 autocast that works on CPU and CUDA alike."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ftlab.core.errors import ConfigError

# CPU features that give bf16 matmuls in hardware (x86: AVX-512 BF16, AMX). Without them PyTorch emulates bf16:
# 1024² matmuls ran at 0.94 GFLOP/s in bf16 against 101 in fp32 on a 2-core AVX2 AMD EPYC (2026-11-30), while a
# 2-core CPU with AVX-512 BF16 ran bf16 at 957 and fp32 at 217 (2026-11-29).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def bf16_override() -> bool | None:
    """FTLAB_BF16=on|off as True|False; None when unset or `auto`. Anything else is a ConfigError."""
    forced = os.environ.get("FTLAB_BF16", "auto").strip().lower()
    if forced not in ("auto", "on", "off", ""):
        raise ConfigError(f"FTLAB_BF16={forced!r}: expected auto, on or off")
    return None if forced in ("auto", "") else forced == "on"


def bf16_is_fast(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 matmuls run in hardware here: a CUDA GPU with bf16, or a CPU with `BF16_CPU_FLAGS`.
    FTLAB_BF16=on|off overrides the answer (e.g. to reproduce a run made on another machine). This is a fact
    about the hardware; what ftlab trains in is `training_precision`."""
    forced = bf16_override()
    if forced is not None:
        return forced
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and bool(cpu_flags() & BF16_CPU_FLAGS)


@dataclass(frozen=True)
class Precision:
    """What ftlab computes in on a device, and why (the first output of every notebook says both)."""

    bf16: bool
    reason: str

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"


def training_precision(device: torch.device | str = "cpu", bf16_profile: bool = False) -> Precision:
    """The precision policy. Every CPU trains in fp32: a CPU with AVX-512 BF16 would train ~1.3x faster in bf16
    (bench/README.md), an AVX2 one ~100x slower (bf16 emulated), and bf16 runs on the two kinds differ, so fp32
    everywhere lets one set of stored references (bench/results, made in fp32) serve every CPU. A CUDA GPU with
    bf16 trains in bf16 only for a profile made for it (`bf16_profile`, the `gpu` profile); the CPU profiles keep
    fp32 there too, so their references still apply. FTLAB_BF16=on|off overrides all of it."""
    forced = bf16_override()
    if forced is not None:
        return Precision(forced, f"FTLAB_BF16={'on' if forced else 'off'} is set")
    device = torch.device(device)
    if device.type == "cuda":
        if not bf16_profile:
            return Precision(False, "this profile's stored references are fp32, so it trains in fp32 on a GPU too")
        fast = bf16_is_fast(device)
        return Precision(fast, "a CUDA GPU with bf16" if fast else "this GPU has no bf16")
    has = "has" if cpu_flags() & BF16_CPU_FLAGS else "has no"
    return Precision(False, f"every CPU trains in fp32, so that every CPU reproduces the stored fp32 references (this "
                            f"CPU {has} bf16 in hardware; FTLAB_BF16=on trains in bf16)")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty elsewhere, which keeps bf16 off there."""
    return frozenset(cpuinfo_field("flags").split())


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    import platform

    return cpuinfo_field("model name") or platform.processor() or "unknown model"


def cpuinfo_field(name: str) -> str:
    """The first value of `name` in /proc/cpuinfo, '' where there is none (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


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
    return f"CPU {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def precision_summary(bf16_profile: bool = False) -> str:
    """One line: the precision this machine trains a profile in, and why (`training_precision`)."""
    precision = training_precision(pick_device(), bf16_profile)
    return f"{precision.name} — {precision.reason}"


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
