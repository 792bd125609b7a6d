"""Text generation for demos: seeded sampling with a repetition penalty (greedy decoding of tiny bases loops)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplingConfig:
    max_new_tokens: int = 40
    temperature: float = 0.8
    top_k: int = 40
    repetition_penalty: float = 1.3
    seed: int = 0


@torch.no_grad()
def complete(model, tokenizer, prompts: list[str], cfg: SamplingConfig = SamplingConfig()) -> list[str]:
    """Continue each prompt; returns only the new text. Same seed, same model -> same output."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for i, prompt in enumerate(prompts):
        torch.manual_seed(cfg.seed + i)
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True,
                             max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                             repetition_penalty=cfg.repetition_penalty, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
        outs.append(tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True))
    return outs


SAMPLE_PROMPTS = ["The capital of France is", "dog:", "The history of science", "water:"]
