"""What each training stage costs: training FLOPs (6·N·T), GPU-hours and dollars (taught in notebook 00).

6·N·T counts a forward (2·N per token) and a backward (4·N per token) pass over T tokens for N parameters
(Kaplan et al. 2020; "Transformer Math 101"). Dollar figures assume the Hardware below; change it and rerun.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Hardware:
    name: str
    peak_flops: float  # dense bf16 FLOP/s
    usd_per_hour: float
    mfu: float  # model FLOPs utilisation a well-tuned run reaches


# NVIDIA H100 SXM datasheet: 989 TFLOP/s dense bf16. $2.50/GPU-hour and 40% MFU are our assumptions.
H100 = Hardware("H100 SXM, bf16", 989e12, 2.50, 0.40)


@dataclass(frozen=True)
class Stage:
    model: str
    params: float
    stage: str  # "pretraining", "SFT" or "domain tuning"
    tokens: float
    source: str  # where the token count comes from


def sft_tokens(pairs: int, tokens_per_pair: int = 512, epochs: int = 3) -> float:
    return float(pairs * tokens_per_pair * epochs)


STAGES = [
    Stage("SmolLM2-135M", 135e6, "pretraining", 2e12, "SmolLM2 paper (Allal et al. 2025): 2 T tokens"),
    Stage("Llama-3.1-8B", 8.0e9, "pretraining", 15e12, "Llama 3 paper (2024): ~15 T tokens"),
    Stage("SmolLM2-135M", 135e6, "SFT", sft_tokens(10_000), "10 k pairs × 512 tokens × 3 epochs"),
    Stage("Llama-3.1-8B", 8.0e9, "SFT", sft_tokens(10_000), "10 k pairs × 512 tokens × 3 epochs"),
    Stage("Llama-3.1-8B", 8.0e9, "SFT", sft_tokens(1_000_000), "1 M pairs × 512 tokens × 3 epochs"),
    Stage("Llama-3.1-8B", 8.0e9, "domain tuning", sft_tokens(50_000), "50 k domain examples × 512 × 3"),
]


# The source text's ranges, in US dollars.
CLAIMED_USD = {"pretraining": (1e6, float("inf")), "SFT": (10.0, 10_000.0), "domain tuning": (50.0, 5_000.0)}


def training_flops(params: float, tokens: float) -> float:
    """6·N·T: forward + backward FLOPs of one pass over `tokens` tokens."""
    return 6.0 * params * tokens


def stage_cost(stage: Stage, hw: Hardware = H100) -> dict:
    """FLOPs, GPU-hours and dollars for one stage on `hw`."""
    flops = training_flops(stage.params, stage.tokens)
    gpu_hours = flops / (hw.peak_flops * hw.mfu) / 3600
    return {**asdict(stage), "flops": flops, "gpu_hours": gpu_hours, "usd": gpu_hours * hw.usd_per_hour}


def cost_table(stages: list[Stage] = STAGES, hw: Hardware = H100) -> list[dict]:
    return [stage_cost(s, hw) for s in stages]


def measured_mfu(params: float, tokens: float, seconds: float, peak_flops: float) -> float:
    """Fraction of `peak_flops` a measured run achieved, counting 6·N FLOPs per token."""
    return training_flops(params, tokens) / seconds / peak_flops


def within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]
