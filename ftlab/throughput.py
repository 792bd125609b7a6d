"""Measured matmul peak of this machine, the yardstick for model FLOPs utilisation (MFU)."""
from __future__ import annotations

import time

import torch


def matmul_peak_flops(dtype: torch.dtype = torch.bfloat16, n: int = 1024, seconds: float = 1.0,
                      device: str | torch.device = "cpu") -> float:
    """FLOP/s of repeated n×n matmuls in `dtype`: the best this machine does on the core operation."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up
    _sync(device)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
