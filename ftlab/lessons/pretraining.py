"""Pretraining a tiny Llama-architecture model from scratch on the general corpus (taught in notebook 00).

The model is transformers' `LlamaForCausalLM`; the loop is a short, explicit next-token loop over packed
fixed-length blocks (no padding, nothing to mask), so a learner can read every step. It checkpoints as it
goes and resumes where it stopped, because the committed base took over an hour of CPU time to train.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from ftlab.core.corpus import load_general
from ftlab.core.device import autocast, pick_device, set_threads
from ftlab.core.evaluate import fixed_blocks, mean_loss, token_stream
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.runcard import make_card, reset_peak_memory, write_card
from ftlab.core.settings import PretrainConfig
from ftlab.core.tokenizer import train_bpe


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio·lr at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def random_blocks(stream: torch.Tensor, batch: int, seq_len: int, gen: torch.Generator) -> torch.Tensor:
    """`batch` windows of `seq_len` tokens at random offsets (packed: windows cross document ends)."""
    starts = torch.randint(0, len(stream) - seq_len, (batch,), generator=gen)
    return torch.stack([stream[s:s + seq_len] for s in starts.tolist()]).long()


def unigram_perplexity(train: torch.Tensor, heldout: torch.Tensor, vocab_size: int) -> float:
    """Perplexity of a model that ignores context (token frequencies from train, add-one smoothed)."""
    counts = torch.bincount(train.long(), minlength=vocab_size).double() + 1.0
    logp = torch.log(counts / counts.sum())
    return math.exp(-logp[heldout.long()].mean().item())


@dataclass
class PretrainResult:
    model: LlamaForCausalLM
    tokenizer: PreTrainedTokenizerFast
    history: list[dict]
    card: dict
    run_card_path: Path | None = None


def pretrain(cfg: PretrainConfig, out_dir: Path, tokenizer: PreTrainedTokenizerFast | None = None,
             train_docs: list[dict] | None = None, heldout_docs: list[dict] | None = None,
             on_log: Callable[[dict], None] | None = None, progress: bool = True,
             until_step: int | None = None) -> PretrainResult:
    """Train (or resume) a tiny Llama from scratch; writes checkpoints, history and a run card to out_dir.

    `until_step` stops early (after checkpointing) so a long run can be done in pieces; rerunning resumes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.threads)
    device = pick_device()
    reset_peak_memory(device)
    torch.manual_seed(cfg.seed)
    train_docs = train_docs if train_docs is not None else load_general("train")
    heldout_docs = heldout_docs if heldout_docs is not None else load_general("heldout")
    if tokenizer is None:
        tokenizer = _load_or_train_tokenizer(out_dir, train_docs, cfg.shape.vocab_size)
    train_ids, heldout_ids = token_stream(train_docs, tokenizer), token_stream(heldout_docs, tokenizer)
    eval_blocks = fixed_blocks(heldout_ids, cfg.seq_len, cfg.eval_blocks)

    config = cfg.shape.to_config(tokenizer)
    config._attn_implementation = cfg.attn_implementation
    model = LlamaForCausalLM(config).to(device)
    step_model = torch.compile(model) if cfg.compile else model
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), fused=False)
    gen = torch.Generator().manual_seed(cfg.seed)
    state = _resume(out_dir, model, opt, gen)
    step, history, elapsed = state["step"], state["history"], state["elapsed"]

    bar = tqdm(total=cfg.steps, initial=step, desc="pretrain", unit="step", disable=not progress)
    t0, window_loss, window_n = time.perf_counter() - elapsed, 0.0, 0
    model.train()
    last_step = min(cfg.steps, until_step or cfg.steps)
    while step < last_step:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        x = random_blocks(train_ids, cfg.batch_size, cfg.seq_len, gen).to(device)
        with autocast(device, cfg.bf16):
            loss = step_model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        window_loss, window_n = window_loss + loss.item(), window_n + 1
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            row = {"step": step, "tokens": step * cfg.tokens_per_step, "train_loss": window_loss / window_n,
                   "heldout_loss": mean_loss(model, eval_blocks, bf16=cfg.bf16),
                   "lr": lr_at(step - 1, cfg), "elapsed_s": time.perf_counter() - t0}
            history.append(row)
            window_loss, window_n = 0.0, 0
            bar.set_postfix(train=f"{row['train_loss']:.3f}", heldout=f"{row['heldout_loss']:.3f}")
            if on_log:
                on_log(row)
        if step % cfg.checkpoint_every == 0 or step == last_step:
            _checkpoint(out_dir, model, opt, gen, step, history, time.perf_counter() - t0)
    bar.close()
    elapsed = time.perf_counter() - t0

    full_heldout = fixed_blocks(heldout_ids, cfg.seq_len)
    heldout_loss = mean_loss(model, full_heldout, bf16=False)
    card = {
        "config": asdict(cfg),
        "parameters": model.num_parameters(),
        "tokens_seen": step * cfg.tokens_per_step,
        "train_tokens_in_corpus": len(train_ids),
        "epochs": step * cfg.tokens_per_step / len(train_ids),
        "wall_time_s": elapsed,
        "tokens_per_s": step * cfg.tokens_per_step / max(elapsed, 1e-9),
        "device": str(device),
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "heldout_loss": heldout_loss,
        "heldout_perplexity": math.exp(heldout_loss),
        "heldout_tokens": int(full_heldout.numel()),
        "unigram_heldout_perplexity": unigram_perplexity(train_ids, full_heldout.flatten(), cfg.shape.vocab_size),
    }
    metrics = {k: card[k] for k in ("heldout_loss", "heldout_perplexity", "unigram_heldout_perplexity",
                                     "final_train_loss", "epochs")}
    run_card = make_card("pretrain", cfg, seed=cfg.seed, tokens=card["tokens_seen"], wall_time_s=elapsed,
                         metrics=metrics, device=device, extra={"parameters": card["parameters"],
                                                                "history": history})
    return PretrainResult(model, tokenizer, history, card, write_card(run_card, "runcard", out_dir))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only; norms (1-D weights) are not decayed."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _load_or_train_tokenizer(out_dir: Path, docs: list[dict], vocab_size: int) -> PreTrainedTokenizerFast:
    tok_dir = out_dir / "tokenizer"
    if (tok_dir / "tokenizer.json").exists():
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(tok_dir)
    tokenizer = train_bpe((d["text"] for d in docs), vocab_size=vocab_size)
    tokenizer.save_pretrained(tok_dir)
    return tokenizer


def _checkpoint(out_dir: Path, model, opt, gen, step: int, history: list[dict], elapsed: float) -> None:
    """Save everything needed to resume; written to a temp name first so a kill never leaves half a file."""
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "step": step,
             "history": history, "elapsed": elapsed}
    tmp = out_dir / "checkpoint.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(out_dir / "checkpoint.pt")
    atomic_write_text(out_dir / "history.json", json.dumps(history, indent=1))


def _resume(out_dir: Path, model, opt, gen) -> dict:
    path = out_dir / "checkpoint.pt"
    if not path.exists():
        return {"step": 0, "history": [], "elapsed": 0.0}
    state = torch.load(path, weights_only=True)  # tensors and plain containers only: no pickled code
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["gen"])
    return state


def save_base(result: PretrainResult, out_dir: Path, samples: dict[str, str] | None = None) -> Path:
    """Write the pretrained base as a loadable transformers folder: safetensors, tokenizer, training card."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(out_dir)
    result.tokenizer.save_pretrained(out_dir)
    card = dict(result.card, samples=samples or {}, history=result.history)
    atomic_write_text(out_dir / "training_card.json", json.dumps(card, indent=2) + "\n")
    return out_dir
