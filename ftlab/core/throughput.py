"""Measured matmul peak of this machine, the yardstick for model FLOPs utilisation (MFU), and the MFU of a run.

Convention (as in the PaLM paper's MFU): a training token costs 2·N FLOPs forward and 4·N backward for the N
parameters of the model, attention-score FLOPs not counted. With frozen weights (PEFT) the backward still
propagates activation gradients through every weight (2·N) but computes weight gradients only for the
trainable ones, so a token costs 4·N + 2·N_trainable; full fine-tuning is the familiar 6·N.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=None)
def cached_peak_flops(dtype: torch.dtype, device_type: str) -> float:
    """`matmul_peak_flops` measured once per process, dtype and device type (a run card needs it each run).
    On CUDA the matmul is 8192² so the GPU is saturated."""
    n = 8192 if device_type == "cuda" else 1024
    return matmul_peak_flops(dtype, n=n, seconds=1.0, device=device_type)


def precision_peak_flops(bf16: bool, device: torch.device | str = "cpu") -> float:
    """The matmul peak of the precision a run computed in (bf16 autocast or fp32), measured once per process."""
    return cached_peak_flops(torch.bfloat16 if bf16 else torch.float32, torch.device(device).type)


def training_flops_per_token(model: torch.nn.Module) -> float:
    """4·N + 2·N_trainable (6·N when everything trains): the module docstring's convention."""
    total = sum(_logical_numel(p) for p in model.parameters())
    trainable = sum(_logical_numel(p) for p in model.parameters() if p.requires_grad)
    return 4.0 * total + 2.0 * trainable


def _logical_numel(param: torch.Tensor) -> int:
    """Elements of the weight a parameter stands for: a 4-bit bitsandbytes weight packs two per byte."""
    quant_state = getattr(param, "quant_state", None)
    shape = getattr(quant_state, "shape", None)
    return int(torch.Size(shape).numel()) if shape is not None else param.numel()


def run_mfu(model: torch.nn.Module, tokens_per_s: float, bf16: bool, device: torch.device | str) -> dict:
    """MFU of a training run against the matmul peak of the precision its matmuls ran in (bf16 under
    autocast, else fp32), measured in this process; the fp32 figure too, for comparison across precisions."""
    flops = training_flops_per_token(model) * tokens_per_s
    peak_fp32 = precision_peak_flops(False, device)
    peak = precision_peak_flops(bf16, device)
    return {"mfu": flops / peak, "peak_flops": peak, "peak_dtype": "bf16" if bf16 else "fp32",
            "model_flops_per_s": flops, "flops_per_token": training_flops_per_token(model),
            "fp32_peak_flops": peak_fp32, "mfu_vs_fp32_peak": flops / peak_fp32}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
