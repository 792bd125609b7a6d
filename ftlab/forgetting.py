"""Catastrophic forgetting and five mitigations (taught in notebook 03).

Fine-tuning on a narrow task (the source text's "SQL only" example: ftlab.domain's text-to-SQL) lowers the
task loss and, unless something stops it, damages what the base model knew. This module measures that damage
and implements each mitigation the source text rates:

- general ability, measured two ways: next-token loss on the held-out general corpus (`general_loss`), and a
  probe with checkable answers (`probe_items`, `general_probe`): pick a held-out WordNet word's gloss among
  `PROBE_CHOICES` glosses of the same part of speech, by pointwise mutual information (below);
- the forgetting curve: `ForgettingCurve`, a TrainerCallback that records both (and the task loss) every k steps;
- mitigations: LoRA (ftlab.peft_methods), replay (`with_replay`), EWC (`fisher_diagonal`, `EWCTrainer`,
  `run_ewc_sft`), a lower learning rate and shorter training (settings; `early_stop_step` reads the curve);
- `run_arm`: one arm (full fine-tuning or one mitigation) of one seed, measured the same way for every arm.

Held-out text is only ever measured; replay and the Fisher use the *train* split of data/general.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from transformers import TrainerCallback

from .corpus import load_general
from .pretrain import fixed_blocks, mean_loss, token_stream
from .sft import FtlabSFTTrainer

ARMS = ("full", "lora", "replay", "ewc", "low_lr", "short")  # plain full fine-tuning, then the five mitigations
STARS = {"lora": 4, "replay": 4, "ewc": 3, "low_lr": 2, "short": 2}  # the source text's ratings of the mitigations
SEQ_LEN = 256  # tokens per evaluation block and per Fisher block (the tiny base's context)
EVAL_BLOCKS = 16  # held-out blocks of SEQ_LEN tokens behind one general-loss number (4,096 tokens)
PROBE_CHOICES = 4  # one true gloss and three distractors: chance is 1/4
# Replay rows: a fixed user turn per source, the general text as the assistant turn (where SFT puts the loss).
REPLAY_PROMPTS = {"wikipedia": "Write an encyclopedia entry.", "wordnet": "Define the word."}
REPLAY_MAX_CHARS = 600  # general texts are cut (at a word) to about 180 tiny-tokenizer tokens, inside max_length


@dataclass(frozen=True)
class ForgettingSettings:
    """Sizes and knobs of notebook 03's experiment; each arm changes one thing from plain full fine-tuning."""

    steps: int = 60  # SFT steps of every arm but `short`
    learning_rate: float | None = None  # full fine-tuning's rate; None: the profile's SFT rate
    batch_size: int | None = None  # None: the profile's SFT batch
    lora_learning_rate: float | None = None  # None: the profile's LoRA rate (bench/peft_lr_sweep.py)
    low_lr_factor: float = 0.1  # the `low_lr` arm trains 10x slower
    short_share: float = 0.25  # the `short` arm stops after this share of `steps`
    replay_ratio: float = 0.25  # share of general rows in the `replay` arm's training mix
    # EWC strength for the batch-mean Fisher (see fisher_diagonal). Measured on tiny, 20 steps, batch 8, lr 1e-3:
    # general-loss rise 1e5 +0.26, 1e6 +0.08, 1e7 +0.02 (full FT +0.39); SQL loss 0.43, 0.52, 1.54 (full 0.42).
    ewc_lambda: float = 1e6
    fisher_batches: int = 4
    fisher_batch_size: int = 8
    eval_blocks: int = EVAL_BLOCKS
    probe_size: int = 100  # probe questions
    probe_seed: int = 0
    task_rows: int = 800  # SQL training rows (steps x batch needs no more than this for one pass)
    test_rows: int = 64  # SQL rows whose response loss is the task metric


# ---------------------------------------------------------------------------------------------------------
# General ability: held-out loss and a probe with checkable answers
# ---------------------------------------------------------------------------------------------------------

def general_eval_docs(split: str = "heldout") -> list[dict]:
    """The general corpus in a fixed hash order, so any prefix of blocks mixes Wikipedia and WordNet text."""
    return sorted(load_general(split), key=lambda d: hashlib.sha256(d["id"].encode()).hexdigest())


def general_blocks(tokenizer, docs: list[dict], max_blocks: int | None, seq_len: int = SEQ_LEN) -> torch.Tensor:
    """The fixed evaluation blocks of `docs`: the same tokens every call, so losses compare across models."""
    return fixed_blocks(token_stream(docs, tokenizer), seq_len, max_blocks)


def blocks_loss(model, blocks: torch.Tensor) -> float:
    """Mean next-token loss on prepared blocks, leaving the model in the mode it was in."""
    was_training = model.training
    loss = mean_loss(model, blocks)  # sets eval, then train
    model.train(was_training)
    return loss


def general_loss(model, tokenizer, docs: list[dict] | None = None, max_blocks: int | None = EVAL_BLOCKS) -> float:
    """Mean next-token loss (nats/token) on held-out general text (default: `general_eval_docs()`): the
    forgetting measure. Higher means the model forgot more."""
    docs = docs if docs is not None else general_eval_docs()
    return blocks_loss(model, general_blocks(tokenizer, docs, max_blocks))


def gloss_of(doc: dict) -> str:
    """The definition of a WordNet 'word: gloss; "example"' document, without the word and the examples."""
    return doc["text"].split(": ", 1)[1].split('; "')[0]


def probe_items(n: int, seed: int = 0, docs: list[dict] | None = None, choices: int = PROBE_CHOICES) -> list[dict]:
    """`n` multiple-choice questions: a held-out WordNet word, its true gloss and `choices - 1` glosses of other
    words of the same part of speech, shuffled. Glosses that contain the word itself are left out (the model
    could copy instead of knowing). Deterministic for a given seed."""
    docs = docs if docs is not None else load_general("heldout", source="wordnet")
    usable = sorted((d for d in docs if d["title"].lower() not in gloss_of(d).lower()), key=lambda d: d["id"])
    by_pos: dict[str, list[dict]] = {}
    for d in usable:
        by_pos.setdefault(d["id"].split(":")[1][0], []).append(d)
    rng = random.Random(seed)
    items = []
    for d in rng.sample(usable, min(n, len(usable))):
        pool = [o for o in by_pos[d["id"].split(":")[1][0]] if o["title"] != d["title"] and gloss_of(o) != gloss_of(d)]
        options = [gloss_of(d)] + [gloss_of(o) for o in rng.sample(pool, choices - 1)]
        rng.shuffle(options)
        items.append({"id": d["id"], "word": d["title"], "choices": options, "answer": options.index(gloss_of(d))})
    return items


def probe_prompt(word: str | None) -> str:
    """The text before a gloss, as the corpus writes it ('word:'); None gives the word-less baseline (':')."""
    return f"{word or ''}:"


def continuation_logprobs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 64) -> list[float]:
    """Sum of log p(continuation tokens | prompt) for each (prompt, continuation) pair, batched by length."""
    from .evaluate import completion_logprobs

    encoded = [(tokenizer(p)["input_ids"], tokenizer(c, add_special_tokens=False)["input_ids"]) for p, c in pairs]
    return completion_logprobs(model, encoded, tokenizer.pad_token_id, batch_size).tolist()


def probe_scores(model, tokenizer, items: list[dict]) -> list[list[float]]:
    """Each choice's pointwise mutual information with the word: log p(gloss | 'word:') - log p(gloss | ':').

    Subtracting the word-less score removes how likely a gloss is anyway (short, common words), so the choice
    rests on what the model associates with the word (Holtzman et al. 2021's domain-conditional PMI)."""
    glosses = sorted({g for it in items for g in it["choices"]})
    baseline = dict(zip(glosses, continuation_logprobs(model, tokenizer, [(probe_prompt(None), " " + g)
                                                                          for g in glosses])))
    pairs = [(probe_prompt(it["word"]), " " + g) for it in items for g in it["choices"]]
    conditional = iter(continuation_logprobs(model, tokenizer, pairs))
    return [[next(conditional) - baseline[g] for g in it["choices"]] for it in items]


def general_probe(model, tokenizer, items: list[dict]) -> float:
    """Accuracy on the gloss probe (chance is 1/choices): how much word knowledge the model still has."""
    scores = probe_scores(model, tokenizer, items)
    return sum(max(range(len(s)), key=s.__getitem__) == it["answer"] for s, it in zip(scores, items)) / len(items)


def chance_level(items: list[dict]) -> float:
    """Expected accuracy of guessing uniformly among each item's choices."""
    return sum(1 / len(it["choices"]) for it in items) / len(items)


# ---------------------------------------------------------------------------------------------------------
# The forgetting curve
# ---------------------------------------------------------------------------------------------------------

class ForgettingCurve(TrainerCallback):
    """Records general loss (and, when given, probe accuracy and task loss) before training and every `every`
    optimizer steps, into `self.rows`: the curve of loss-on-general against step. Works in `run_sft(callbacks=)`."""

    def __init__(self, tokenizer, every: int, blocks: torch.Tensor | None = None, probe: list[dict] | None = None,
                 task_rows: list[dict] | None = None):
        if every < 1:
            raise ValueError(f"ForgettingCurve: every must be at least 1 step, got {every}")
        self.tokenizer, self.every, self.probe, self.task_rows = tokenizer, every, probe, task_rows
        self.blocks = blocks if blocks is not None else general_blocks(tokenizer, general_eval_docs(), EVAL_BLOCKS)
        self.rows: list[dict] = []

    def measure(self, model, step: int) -> dict:
        """One point of the curve for `model` at `step`."""
        from .evaluate import response_loss

        row = {"step": step, "general_loss": blocks_loss(model, self.blocks)}
        if self.probe:
            row["probe_accuracy"] = general_probe(model, self.tokenizer, self.probe)
        if self.task_rows:
            was_training = model.training
            row["task_loss"] = response_loss(model, self.tokenizer, self.task_rows)
            model.train(was_training)
        self.rows.append(row)
        return row

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.measure(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.measure(model, state.global_step)


def early_stop_step(curve: list[dict], share: float = 0.9) -> int:
    """The step to stop at: the earliest point of the curve where the task loss has fallen by at least `share`
    of its largest fall. Forgetting grows with steps, so the earliest step that gets most of the task gain
    forgets least; `share` says how much task gain the learner trades for that. Needs `task_loss` rows."""
    start = curve[0]["task_loss"]
    best = min(row["task_loss"] for row in curve)
    return next(row["step"] for row in curve if start - row["task_loss"] >= share * (start - best))


# ---------------------------------------------------------------------------------------------------------
# Replay
# ---------------------------------------------------------------------------------------------------------

def clip_text(text: str, max_chars: int = REPLAY_MAX_CHARS) -> str:
    """`text` cut at the last word boundary within `max_chars`."""
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0]


def replay_row(doc: dict) -> dict:
    """A general document as a chat row: a fixed user turn for its source, the text as the assistant turn,
    so the SFT loss (assistant tokens only) falls on the general text."""
    prompt = REPLAY_PROMPTS.get(doc.get("source"), REPLAY_PROMPTS["wikipedia"])
    return {"messages": [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": clip_text(doc["text"])}],
            "task": "replay", "source_id": doc["id"]}


def replay_count(n_task: int, ratio: float) -> int:
    """How many general rows make them `ratio` of a mix with `n_task` task rows (nearest whole row)."""
    if not 0 <= ratio < 1:
        raise ValueError(f"replay ratio must be in [0, 1), got {ratio}")
    return round(ratio * n_task / (1 - ratio))


def with_replay(task_rows: list[dict], general_docs: list[dict], ratio: float, seed: int = 0, tokenizer=None,
                max_length: int | None = None) -> list[dict]:
    """Task rows plus general rows (`replay_row`) that make up `ratio` of the result, shuffled together.

    `ratio` is the share of the training mix, e.g. 0.25: one row in four is general text. Use the *train* split
    of data/general: the held-out split is what forgetting is measured on. With a tokenizer and `max_length`,
    documents whose row would be longer (after the chat template) are passed over for the next ones."""
    n = replay_count(len(task_rows), ratio)
    rng = random.Random(seed)
    general = []
    for doc in rng.sample(general_docs, len(general_docs)):
        if len(general) == n:
            break
        row = replay_row(doc)
        if tokenizer is None or max_length is None or _templated_length(tokenizer, row) <= max_length:
            general.append(row)
    if len(general) < n:
        raise ValueError(f"replay ratio {ratio} needs {n} general documents that fit, only {len(general)} do")
    mixed = list(task_rows) + general
    rng.shuffle(mixed)
    return mixed


def _templated_length(tokenizer, row: dict) -> int:
    from .tokencache import templated

    return len(templated(tokenizer, row["messages"], tokenize=True, return_dict=True)["input_ids"])


# ---------------------------------------------------------------------------------------------------------
# Elastic weight consolidation (Kirkpatrick et al. 2017)
# ---------------------------------------------------------------------------------------------------------

def squared_gradients(model, batches, loss_of) -> dict[str, torch.Tensor]:
    """Mean over `batches` of each trainable parameter's squared gradient of `loss_of(model, batch)`."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    was_training = model.training
    model.eval()  # no dropout: the Fisher of the model as it is
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_of(model, batch).backward()
        for n, p in params.items():
            if p.grad is not None:
                sums[n] += p.grad.detach() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {n: s / max(count, 1) for n, s in sums.items()}


def lm_loss(model, block: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss of a batch of token blocks."""
    block = block.to(next(model.parameters()).device)
    return model(input_ids=block, labels=block).loss


def fisher_diagonal(model, tokenizer, general_docs: list[dict], batches: int, batch_size: int = 8,
                    seq_len: int = SEQ_LEN) -> dict[str, torch.Tensor]:
    """Diagonal (empirical) Fisher of the general-text LM loss: mean squared gradient per parameter over
    `batches` mini-batches of fixed blocks. Gradients of batch means are ~batch_size times smaller in square
    than per-example ones; that constant scale is absorbed by EWC's lambda."""
    blocks = general_blocks(tokenizer, general_docs, batches * batch_size, seq_len)
    return squared_gradients(model, [blocks[i:i + batch_size] for i in range(0, len(blocks), batch_size)], lm_loss)


@dataclass
class EWC:
    """What the EWC penalty needs: the Fisher diagonal, the anchor weights theta* and the strength lambda."""

    fisher: dict[str, torch.Tensor]
    anchor: dict[str, torch.Tensor]
    lam: float

    @classmethod
    def from_model(cls, model, fisher: dict[str, torch.Tensor], lam: float) -> "EWC":
        """Anchor at the model's current weights (the base, before fine-tuning)."""
        anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in fisher}
        return cls(fisher, anchor, lam)


def ewc_penalty(model, ewc: EWC) -> torch.Tensor:
    """lambda/2 * sum_i F_i (theta_i - theta*_i)^2 over the parameters that have a Fisher value."""
    total = None
    for n, p in model.named_parameters():
        if n in ewc.fisher:
            term = (ewc.fisher[n] * (p - ewc.anchor[n]) ** 2).sum()
            total = term if total is None else total + term
    if total is None:
        raise ValueError("EWC: no parameter of the model has a Fisher value (were they named differently?)")
    return 0.5 * ewc.lam * total


class EWCTrainer(FtlabSFTTrainer):
    """ftlab's SFTTrainer with the EWC penalty added to the training loss (never to evaluation losses)."""

    def __init__(self, *args, ewc: EWC, **kwargs):
        super().__init__(*args, **kwargs)
        self.ewc = ewc
        self.last_penalty = 0.0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if not model.training:
            return out
        loss, outputs = out if return_outputs else (out, None)
        penalty = ewc_penalty(model, self.ewc)
        self.last_penalty = penalty.item()
        # Once per optimizer step: when the task loss is already normalised over the accumulated micro-batches,
        # Trainer does not divide by the accumulation steps, so the penalty must be shared out here.
        loss = loss + penalty / (self.current_gradient_accumulation_steps if self._loss_scaled_for_accumulation(
            num_items_in_batch) else 1)
        return (loss, outputs) if return_outputs else loss

    def _loss_scaled_for_accumulation(self, num_items_in_batch) -> bool:
        """Trainer.training_step's own test of whether it will divide the loss by the accumulation steps."""
        if self.loss_is_scaled_for_ga is not None:
            return self.loss_is_scaled_for_ga
        return bool(self.model_accepts_loss_kwargs and num_items_in_batch is not None) or \
            self.compute_loss_func is not None


def run_ewc_sft(model, tokenizer, train_rows: list[dict], settings, out_dir: Path, ewc: EWC,
                callbacks: list | None = None, name: str = "ewc"):
    """ftlab's SFT path (validated rows, `sft_config`, `to_dataset`, a run card) with `EWCTrainer`."""
    import datasets

    from .data import validate_rows
    from .device import pick_device
    from .runcard import make_card, write_card
    from .sft import SFTResult, _plain, sft_config, to_dataset

    out_dir = Path(out_dir)
    rows = validate_rows(train_rows, f"{name}: train rows", tokenizer, settings.max_length)
    device = pick_device()
    datasets.disable_progress_bars()
    trainer = EWCTrainer(model=model, args=sft_config(settings, out_dir, False, device), train_dataset=to_dataset(rows),
                         processing_class=tokenizer, callbacks=callbacks, ewc=ewc,
                         **EWCTrainer.options(settings))
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    history = trainer.state.log_history
    tokens = int(max((row.get("num_tokens", 0) for row in history), default=0))
    card = make_card("sft-ewc", settings, seed=settings.seed, tokens=tokens, wall_time_s=wall,
                     metrics={"ewc_lambda": ewc.lam, "final_penalty": trainer.last_penalty}, device=device,
                     extra={"train_rows": len(rows), "history": history})
    return SFTResult(_plain(trainer), history, card, write_card(card, "runcard", out_dir))


# ---------------------------------------------------------------------------------------------------------
# One arm of notebook 03's experiment
# ---------------------------------------------------------------------------------------------------------

@dataclass
class GeneralEval:
    """The fixed measuring kit: held-out blocks and probe items, prepared once and applied to every model."""

    blocks: torch.Tensor
    probe: list[dict]

    @classmethod
    def build(cls, tokenizer, fs: ForgettingSettings = ForgettingSettings()) -> "GeneralEval":
        return cls(general_blocks(tokenizer, general_eval_docs(), fs.eval_blocks),
                   probe_items(fs.probe_size, fs.probe_seed))

    def measure(self, model, tokenizer) -> dict:
        """General loss and probe accuracy of `model`."""
        return {"general_loss": blocks_loss(model, self.blocks),
                "probe_accuracy": general_probe(model, tokenizer, self.probe)}


def arm_overrides(profile, arm: str, fs: ForgettingSettings) -> dict:
    """The SFT settings an arm changes from the profile's: steps and learning rate (and the batch, when set)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {', '.join(ARMS)}")
    lr = fs.learning_rate or profile.sft.learning_rate
    steps = fs.steps
    if arm == "lora":
        lr = fs.lora_learning_rate or profile.peft_learning_rates.get("lora", lr)
    elif arm == "low_lr":
        lr = lr * fs.low_lr_factor
    elif arm == "short":
        steps = max(1, round(steps * fs.short_share))
    batch = {"batch_size": fs.batch_size} if fs.batch_size else {}
    return {"learning_rate": lr, "max_steps": steps, **batch}


def run_arm(profile, arm: str, seed: int, fs: ForgettingSettings = ForgettingSettings(),
            task_rows: list[dict] | None = None, test_rows: list[dict] | None = None,
            kit: GeneralEval | None = None, curve_every: int = 0) -> dict:
    """Fine-tune a fresh base on SQL with one arm's mitigation; return its general loss, probe accuracy, task
    loss (SQL response loss on `test_rows`), the forgetting curve (every `curve_every` steps, 0: none), and
    times: `train_s` (trainer.train), `total_s` (loading, Fisher, training, measuring) and `cpu_s` (the CPU time
    of all of it, which on a shared machine says more than the wall clock)."""
    from .domain import load_domain
    from .evaluate import response_loss
    from .models import load
    from .paths import new_run_dir
    from .sft import fine_tune_and_score

    start, cpu_start = time.perf_counter(), time.process_time()
    task_rows = task_rows if task_rows is not None else load_domain("train")[:fs.task_rows]
    test_rows = test_rows if test_rows is not None else load_domain("test_unseen_phrasings")[:fs.test_rows]
    overrides = arm_overrides(profile, arm, fs)
    model, tokenizer = load(profile.model) if arm in ("ewc", "replay") or curve_every else (None, None)
    rows = task_rows if arm != "replay" else with_replay(task_rows, load_general("train"), fs.replay_ratio, seed,
                                                         tokenizer, profile.sft.max_length)
    curve = (ForgettingCurve(tokenizer, curve_every, kit.blocks if kit else None, task_rows=test_rows)
             if curve_every else None)
    callbacks = [curve] if curve else None
    if arm == "ewc":
        torch.manual_seed(seed)
        fisher = fisher_diagonal(model, tokenizer, load_general("train"), fs.fisher_batches, fs.fisher_batch_size)
        settings = replace(profile.sft, seed=seed, **overrides)
        result = run_ewc_sft(model, tokenizer, rows, settings, new_run_dir(f"03-ewc-seed{seed}"),
                             EWC.from_model(model, fisher, fs.ewc_lambda), callbacks=callbacks)
        model, train_s = result.model, result.card["wall_time_s"]
        task_loss = response_loss(model, tokenizer, test_rows)
    else:
        out = fine_tune_and_score(profile, rows, None, test_rows, seed, name=f"03-{arm}",
                                  method="lora" if arm == "lora" else "full", peft_options=profile.peft,
                                  generate=False, callbacks=callbacks, **overrides)
        model, tokenizer = out["model"], out["tokenizer"]
        train_s, task_loss = out["wall_time_s"], out["response_loss"]
    kit = kit or GeneralEval.build(tokenizer, fs)
    return {"arm": arm, "seed": seed, **kit.measure(model, tokenizer), "task_loss": task_loss, **overrides,
            "curve": curve.rows if curve else None, "train_s": train_s, "total_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu_start}


def forgetting(base: dict, after: dict) -> dict:
    """How much worse `after` is than `base`: general-loss rise (nats/token) and probe-accuracy drop."""
    return {"loss_rise": after["general_loss"] - base["general_loss"],
            "probe_drop": base["probe_accuracy"] - after["probe_accuracy"],
            "perplexity_ratio": math.exp(after["general_loss"] - base["general_loss"])}


def experiment(profile, fs: ForgettingSettings, task_rows: list[dict], test_rows: list[dict], kit: GeneralEval):
    """Notebook 03's experiment (ftlab.seedstore): every arm, one `run_arm` per (arm, seed); plain full
    fine-tuning also records its forgetting curve. Live and stored twins must agree within 0.01 nats of general
    loss, 0.02 nats of SQL loss and 2 probe answers in 100."""
    from .seedstore import Experiment, settings_key

    def run(arm: str, seed: int) -> dict:
        return run_arm(profile, arm, seed, fs, task_rows, test_rows, kit, curve_every=2 if arm == "full" else 0)

    inputs = {"forgetting": settings_key(fs), "sft": settings_key(profile.sft), "peft": settings_key(profile.peft),
              "lora_lr": profile.peft_learning_rates.get("lora"), "task_rows": task_rows, "test_rows": test_rows}
    return Experiment("03-forgetting", profile, ARMS, run, inputs,
                      tolerance={"general_loss": 0.01, "task_loss": 0.02, "probe_accuracy": 0.02})


def experiment_data(fs: ForgettingSettings) -> tuple[list[dict], list[dict]]:
    """Notebook 03's SQL training rows and the held-out SQL questions its task loss is measured on."""
    from .domain import load_domain

    return load_domain("train")[:fs.task_rows], load_domain("test_unseen_phrasings")[:fs.test_rows]


def default_experiment(profile):
    """`experiment` as notebook 03 builds it, from the profile alone (bench/stored_seeds.py)."""
    from .models import load

    _, tokenizer = load(profile.model)
    return experiment(profile, profile.forgetting, *experiment_data(profile.forgetting),
                      GeneralEval.build(tokenizer, profile.forgetting))
