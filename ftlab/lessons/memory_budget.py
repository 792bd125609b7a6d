"""The source text's memory table for a 7B model, published measurements, and how notebook 04 judges them.

A claim is judged against ftlab.core.memory's prediction under several reasonable conventions (sequence length,
checkpointing, precision): "held" when every convention lands within the tolerance of the claimed figure,
"depends" when some do, "did not hold" when none do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

from ftlab.core.claims import judge_memory_claim
from ftlab.core.memory import estimate
from ftlab.core.settings import PeftOptions, TrainSetup

GB = 1e9  # the source text's GB; the calculator and plots use GiB (2**30)


TOLERANCE = 0.25  # a claim "holds" for a convention when the prediction is within +-25 % of it


CLAIM_MODEL = "llama-2-7b"  # the source text's "7B"


@dataclass(frozen=True)
class MemoryClaim:
    claim_id: str
    text: str
    gb: float
    setup: TrainSetup  # the method, optimizer and rank the claim is about
    precisions: tuple[str, ...] = ("bf16",)  # conventions it may have meant


SOURCE_CLAIMS = (
    MemoryClaim("memory-full-7b-80gb", "full fine-tuning of 7B needs ~80 GB", 80,
                TrainSetup(method="full"), ("mixed", "bf16")),
    MemoryClaim("memory-full-7b-56gb", "full FT of 7B = 14 GB weights + 14 GB gradients + 28 GB Adam = ~56 GB",
                56, TrainSetup(method="full"), ("bf16",)),
    MemoryClaim("memory-lora-r8-7b", "LoRA r=8 on 7B needs ~16 GB", 16,
                TrainSetup(method="lora", peft=PeftOptions(lora_r=8))),
    MemoryClaim("memory-lora-r16-7b", "LoRA r=16 on 7B needs ~15 GB", 15,
                TrainSetup(method="lora", peft=PeftOptions(lora_r=16))),
    MemoryClaim("memory-qlora-7b", "QLoRA on 7B needs ~6 GB", 6, TrainSetup(method="qlora")),
    MemoryClaim("memory-prompt-7b", "prompt tuning on 7B needs ~14 GB", 14, TrainSetup(method="prompt")),
)


# Conventions a "7B needs X GB" figure may assume: one sequence of 512 or 2,048 tokens, with or without
# gradient checkpointing, on a GPU.
SEQ_LENS = (512, 2048)


CHECKPOINTING = (False, True)


# Published peak measurements (GiB) to print beside the predictions; setups as their sources describe them.
PUBLISHED = (
    {"source": "PEFT method_comparison, MetaMathQA, Llama-3.2-3B, L40S, batch 4, seq 768", "model": "llama-3.2-3b",
     "rows": {"full": 36.2, "lora": 20.8, "prefix": 19.8, "prompt": 22.7},
     "setup": TrainSetup(precision="bf16", batch_size=4, seq_len=768, device="cuda",
                         peft=PeftOptions(lora_r=32))},
    {"source": "torchtune README, Llama-3.1-8B on an RTX 4090", "model": "llama-3.1-8b",
     "rows": {"lora": 16.2, "qlora": 7.4},
     "setup": TrainSetup(precision="bf16", batch_size=2, seq_len=2048, gradient_checkpointing=True,
                         device="cuda")},
)


def conventions(claim: MemoryClaim) -> list[TrainSetup]:
    """Every setup the claim could reasonably mean."""
    return [replace(claim.setup, precision=p, seq_len=s, gradient_checkpointing=c, batch_size=1, device="cuda")
            for p, s, c in product(claim.precisions, SEQ_LENS, CHECKPOINTING)
            if not (claim.setup.method == "prefix" and c)]


def judge(claim: MemoryClaim, model: str = CLAIM_MODEL) -> dict:
    """Predictions (GB) under each convention and the verdict they give."""
    predicted = {setup: estimate(model, setup).total / GB for setup in conventions(claim)}
    within = [abs(gb - claim.gb) / claim.gb <= TOLERANCE for gb in predicted.values()]
    verdict = judge_memory_claim(claim.gb, list(predicted.values()), TOLERANCE).verdict  # the registry's rule
    return {"claim": claim, "predicted_gb": predicted, "within": within, "verdict": verdict,
            "low": min(predicted.values()), "high": max(predicted.values())}
