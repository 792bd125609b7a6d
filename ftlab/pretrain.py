"""Pretraining a tiny Llama-architecture model from scratch on the general corpus (taught in notebook 00).

The model is transformers' `LlamaForCausalLM`; the loop is a short, explicit next-token loop over packed
fixed-length blocks (no padding, nothing to mask), so a learner can read every step. It checkpoints as it
goes and resumes where it stopped, because the committed base took over an hour of CPU time to train.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .corpus import load_general
from .device import autocast, pick_device, set_threads
from .jsonl import atomic_write_text
from .runcard import make_card, reset_peak_memory, write_card
from .tokenizer import train_bpe


@dataclass
class TinyLlamaShape:
    """Architecture of the tiny base (about 3.4 M parameters with a 4096-token vocabulary)."""

    vocab_size: int = 4096
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    max_position_embeddings: int = 256

    def to_config(self, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
        return LlamaConfig(**asdict(self), num_key_value_heads=self.num_attention_heads, tie_word_embeddings=True,
                           rope_theta=10000.0, bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


@dataclass
class PretrainConfig:
    """Everything that decides a pretraining run; saved in its training card."""

    shape: TinyLlamaShape = field(default_factory=TinyLlamaShape)
    steps: int = 4500
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    bf16: bool = True  # autocast matmuls to bf16 (CPU with AVX-512 BF16, or CUDA)
    seed: int = 0
    eval_every: int = 250
    eval_blocks: int = 48
    checkpoint_every: int = 250
    threads: int | None = None  # torch threads; None = all cores
    compile: bool = False  # torch.compile the training step: ~1.3x faster here, ~40 s to compile
    attn_implementation: str = "eager"  # on CPU in bf16, eager attention measured faster than sdpa at this size

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio·lr at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def token_stream(docs: list[dict], tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
    """All documents encoded and concatenated (each starts with EOS), as one int32 tensor."""
    ids = tokenizer([d["text"] for d in docs], add_special_tokens=True)["input_ids"]
    return torch.tensor([t for doc in ids for t in doc], dtype=torch.int32)


def random_blocks(stream: torch.Tensor, batch: int, seq_len: int, gen: torch.Generator) -> torch.Tensor:
    """`batch` windows of `seq_len` tokens at random offsets (packed: windows cross document ends)."""
    starts = torch.randint(0, len(stream) - seq_len, (batch,), generator=gen)
    return torch.stack([stream[s:s + seq_len] for s in starts.tolist()]).long()


def fixed_blocks(stream: torch.Tensor, seq_len: int, limit: int | None = None) -> torch.Tensor:
    """Consecutive non-overlapping windows, for evaluation that is the same every time."""
    n = len(stream) // seq_len
    if limit is not None:
        n = min(n, limit)
    return stream[: n * seq_len].view(n, seq_len).long()


@torch.no_grad()
def mean_loss(model: LlamaForCausalLM, blocks: torch.Tensor, batch_size: int = 16, bf16: bool = False) -> float:
    """Mean next-token loss (nats/token) over evaluation blocks; exp() of it is the perplexity."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(blocks), batch_size):
        x = blocks[i:i + batch_size].to(device)
        with autocast(device, bf16):
            logits = model(input_ids=x).logits.float()
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                                 x[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        count += x[:, 1:].numel()
    model.train()
    return total / count


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
    result.model.save_pretrained(out_dir, safe_serialization=True)
    result.tokenizer.save_pretrained(out_dir)
    card = dict(result.card, samples=samples or {}, history=result.history)
    atomic_write_text(out_dir / "training_card.json", json.dumps(card, indent=2) + "\n")
    return out_dir
