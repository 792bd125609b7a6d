"""Which `accelerate launch` command fits this machine: no GPU, one, or several (DDP or FSDP), decided with the
per-GPU memory estimate of ftlab.core.memory. `python -m ftlab launch-command` prints it with the reason.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace

from ftlab.core.memory import Estimate, estimate, gib
from ftlab.core.settings import TrainSetup
from ftlab.tools.scale import CONFIG_DIR

USABLE_FRACTION = 0.9  # of a GPU's memory a run may plan for: the rest is CUDA context and allocator slack


FSDP_TABLE_GPUS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Hardware:
    gpus: int
    gpu_bytes: int = 0  # memory of one GPU

    def __str__(self) -> str:
        return f"{self.gpus} x {gib(self.gpu_bytes)} GPU" if self.gpus else "no GPU"


@dataclass(frozen=True)
class LaunchPlan:
    config: str  # file name in ftlab/launch_configs
    processes: int
    command: str
    why: str
    per_gpu: Estimate | None  # the estimate the choice rests on (None without a GPU)


def detect() -> Hardware:
    """The CUDA GPUs torch sees (count and the first one's memory)."""
    import torch

    if not torch.cuda.is_available():
        return Hardware(0)
    return Hardware(torch.cuda.device_count(), torch.cuda.get_device_properties(0).total_memory)


def config_path(name: str) -> str:
    """A launch config's path, relative to the current folder when it is inside it."""
    path = CONFIG_DIR / name
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def command(config: str, processes: int, scale_args: list[str], cpu: bool = False) -> str:
    """The shell command: accelerate launch with a config file running `python -m ftlab.tools.scale`."""
    parts = ["accelerate", "launch", "--config_file", config_path(config)]
    if config.startswith("multi_gpu"):
        parts += ["--num_processes", str(processes)]
    env = "OMP_NUM_THREADS=1 " if cpu else ""  # one thread per process: the processes share the cores
    return env + shlex.join(parts + ["-m", "ftlab.tools.scale", *scale_args])


def plan(method: str, hardware: Hardware, memory_model: str, setup: TrainSetup, scale_args: list[str]) -> LaunchPlan:
    """The launch config for `method` on `hardware`. `setup` is one GPU's share of the run (its per-device
    batch); the whole model on every GPU (DDP) when it fits one, else FSDP sharding over all of them."""
    if hardware.gpus == 0:
        return LaunchPlan("cpu_2proc_gloo.yaml", 2, command("cpu_2proc_gloo.yaml", 2, scale_args, cpu=True),
                          "no GPU: two CPU processes over gloo, the check that a distributed run trains like one "
                          "process. On a small machine one plain process (python -m ftlab.tools.scale) is faster.", None)
    budget = USABLE_FRACTION * hardware.gpu_bytes
    whole = estimate(memory_model, replace(setup, method=method, shards=1))
    fits = f"{gib(whole.total)} predicted per GPU of {gib(budget)} usable"
    n = hardware.gpus
    if n == 1:
        warn = "" if whole.total <= budget else (" — predicted NOT to fit: use gradient checkpointing, a smaller "
                                                 "batch, or QLoRA (ftlab.core.memory.alternatives lists what fits)")
        return LaunchPlan("single_gpu.yaml", 1, command("single_gpu.yaml", 1, scale_args),
                          f"one GPU: {fits}{warn}", whole)
    if whole.total <= budget:
        return LaunchPlan("multi_gpu_ddp.yaml", n, command("multi_gpu_ddp.yaml", n, scale_args),
                          f"{n} GPUs, DDP: the whole {method} run fits one GPU ({fits}), so every GPU keeps a "
                          f"copy and trains on 1/{n} of the global batch", whole)
    config = "multi_gpu_fsdp_qlora.yaml" if method == "qlora" else "multi_gpu_fsdp.yaml"
    sharded = estimate(memory_model, replace(setup, method=method, shards=n))
    verdict = "fits" if sharded.total <= budget else "still does NOT fit: " + ", ".join(_remedies(method, setup))
    return LaunchPlan(config, n, command(config, n, scale_args),
                      f"{n} GPUs, FSDP: one GPU would need {gib(whole.total)} (> {gib(budget)} usable); sharding "
                      f"weights, gradients and optimizer states {n} ways needs {gib(sharded.total)} per GPU, "
                      f"which {verdict}", sharded)


def _remedies(method: str, setup: TrainSetup) -> list[str]:
    """What lowers the per-GPU peak further, leaving out what the setup already does."""
    return (["add GPUs"] + (["gradient checkpointing"] if not setup.gradient_checkpointing else [])
            + (["a smaller per-GPU batch"] if setup.batch_size > 1 else [])
            + (["QLoRA"] if method != "qlora" else []))


def fsdp_table(memory_model: str, setup: TrainSetup, gpus: tuple[int, ...] = FSDP_TABLE_GPUS) -> list[str]:
    """One line per GPU count: the predicted per-GPU peak under FSDP full sharding, with its largest parts."""
    lines = []
    for n in gpus:
        e = estimate(memory_model, replace(setup, shards=n))
        parts = ", ".join(f"{k.replace('_', ' ')} {gib(v)}" for k, v in e.breakdown.items() if v)
        lines.append(f"{n} GPU{'s' if n > 1 else ' '}: {gib(e.total):>10s} per GPU ({e.peak_phase}: {parts})")
    return lines
