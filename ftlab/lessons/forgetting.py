"""Catastrophic forgetting and five mitigations (taught in notebook 03).

Fine-tuning on a narrow task (the source text's "SQL only" example: ftlab.build.sql_domain's text-to-SQL) lowers the
task loss and, unless something stops it, damages what the base model knew. This module measures that damage
and implements each mitigation the source text rates:

- general ability, measured two ways: next-token loss on the held-out general corpus (`general_loss`), and a
  probe with checkable answers (`probe_items`, `general_probe`): pick a held-out WordNet word's gloss among
  `PROBE_CHOICES` glosses of the same part of speech, by pointwise mutual information (below);
- the forgetting curve: `ForgettingCurve`, a TrainerCallback that records both (and the task loss) every k steps;
- mitigations: LoRA (ftlab.core.peft_methods), replay (`with_replay`), EWC (`fisher_diagonal`, `EWCTrainer`,
  `run_ewc_sft`), a lower learning rate and shorter training (settings; `early_stop_step` reads the curve);
- `run_arm`: one arm (full fine-tuning or one mitigation) of one seed, measured the same way for every arm.

Held-out text is only ever measured; replay and the Fisher use the *train* split of data/general.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch
from transformers import TrainerCallback

from ftlab.core.corpus import load_general
from ftlab.core.data import validate_rows
from ftlab.core.device import pick_device
from ftlab.core.evaluate import response_loss
from ftlab.core.general_ability import (
    SEQ_LEN,
    GeneralEval,
    blocks_loss,
    general_blocks,
    general_eval_docs,
    general_probe,
)
from ftlab.core.instructions import load_instructions
from ftlab.core.lr_sweeps import learning_rates
from ftlab.core.models import load
from ftlab.core.paths import new_run_dir
from ftlab.core.profiles import Profile
from ftlab.core.runcard import make_card, write_card
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.settings import EVAL_BLOCKS, ForgettingSettings
from ftlab.core.speed.tokencache import templated
from ftlab.core.sql import load_domain
from ftlab.core.stats import mean_std
from ftlab.core.train import FtlabSFTTrainer, SFTResult, fine_tune_and_score, sft_config, to_dataset, trained_model

ARMS = ("full", "lora", "replay", "ewc", "low_lr", "short")  # plain full fine-tuning, then the five mitigations
# The experiment's other arms: the untrained base every rise is measured from, and instruction SFT at the same
# budget (the alignment tax: does fine-tuning on instructions rather than SQL forget too?)
BASE_ARM, TAX_ARM = "base", "instructions"
EXPERIMENT_ARMS = (BASE_ARM, *ARMS, TAX_ARM)


STARS = {"lora": 4, "replay": 4, "ewc": 3, "low_lr": 2, "short": 2}  # the source text's ratings of the mitigations


# Replay rows: a fixed user turn per source, the general text as the assistant turn (where SFT puts the loss).
REPLAY_PROMPTS = {"wikipedia": "Write an encyclopedia entry.", "wordnet": "Define the word."}


REPLAY_MAX_CHARS = 600  # general texts are cut (at a word) to about 180 tiny-tokenizer tokens, inside max_length


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

    return len(templated(tokenizer, row["messages"], tokenize=True, return_dict=True)["input_ids"])


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
    return SFTResult(trained_model(trainer), history, card, write_card(card, "runcard", out_dir))


def arm_overrides(profile: Profile, arm: str, fs: ForgettingSettings) -> dict:
    """The SFT settings an arm changes from the profile's: steps and learning rate (and the batch, when set).
    Full fine-tuning and LoRA train at their best rates in the profile's sweep (ftlab.core.lr_sweeps) unless
    the forgetting settings name one."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {', '.join(ARMS)}")
    rates = learning_rates(profile)
    lr = fs.learning_rate or rates.get("full", profile.sft.learning_rate)
    steps = fs.steps
    if arm == "lora":
        lr = fs.lora_learning_rate or rates["lora"]
    elif arm == "low_lr":
        lr = lr * fs.low_lr_factor
    elif arm == "short":
        steps = max(1, round(steps * fs.short_share))
    batch = {"batch_size": fs.batch_size} if fs.batch_size else {}
    return {"learning_rate": lr, "max_steps": steps, **batch}


def run_arm(profile: Profile, arm: str, seed: int, fs: ForgettingSettings = ForgettingSettings(),
            task_rows: list[dict] | None = None, test_rows: list[dict] | None = None,
            kit: GeneralEval | None = None, curve_every: int = 0) -> dict:
    """Fine-tune a fresh base on SQL with one arm's mitigation; return its general loss, probe accuracy, task
    loss (SQL response loss on `test_rows`), the forgetting curve (every `curve_every` steps, 0: none), and
    times: `train_s` (trainer.train), `total_s` (loading, Fisher, training, measuring) and `cpu_s` (the CPU time
    of all of it, which on a shared machine says more than the wall clock)."""
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


def base_arm(profile: Profile, test_rows: list[dict], kit: GeneralEval) -> dict:
    """The untrained base, measured as every arm is: general loss, probe accuracy, SQL response loss."""
    model, tokenizer = load(profile.model, device=pick_device())
    return {**kit.measure(model, tokenizer), "task_loss": response_loss(model, tokenizer, test_rows)}


def instruction_rows(profile: Profile, fs: ForgettingSettings) -> list[dict]:
    """The alignment-tax arm's training rows: the profile's instruction tasks, as many rows as the SQL arms get."""
    return load_instructions("train", profile.sft_tasks, limit_per_task=fs.task_rows // len(profile.sft_tasks))


def tax_arm(profile: Profile, seed: int, fs: ForgettingSettings, test_rows: list[dict], kit: GeneralEval) -> dict:
    """Instruction SFT with full fine-tuning's budget and rate (`arm_overrides`), measured as the SQL arms are."""
    rows = instruction_rows(profile, fs)
    out = fine_tune_and_score(profile, rows, None, test_rows, seed, name="03-instructions", generate=False,
                              **arm_overrides(profile, "full", fs))
    return {**kit.measure(out["model"], out["tokenizer"]), "task_loss": out["response_loss"],
            "train_s": out["wall_time_s"]}


def forgetting(base: dict, after: dict) -> dict:
    """How much worse `after` is than `base`: general-loss rise (nats/token) and probe-accuracy drop."""
    return {"loss_rise": after["general_loss"] - base["general_loss"],
            "probe_drop": base["probe_accuracy"] - after["probe_accuracy"],
            "perplexity_ratio": math.exp(after["general_loss"] - base["general_loss"])}


def arm_statistics(runs: dict[str, list[dict]], base: dict) -> dict[str, dict[str, tuple[float, float]]]:
    """{arm: {"task gain", "general-loss rise", "probe drop": (mean, sd over seeds)}} from each arm's runs and the
    base's measurement (task gain: the fall of SQL response loss)."""
    return {arm: {"task gain": mean_std([base["task_loss"] - r["task_loss"] for r in rs]),
                  "general-loss rise": mean_std([forgetting(base, r)["loss_rise"] for r in rs]),
                  "probe drop": mean_std([forgetting(base, r)["probe_drop"] for r in rs])}
            for arm, rs in runs.items()}


def mitigation_score(stats: dict[str, dict[str, tuple[float, float]]], arm: str) -> tuple[float, float, float]:
    """(share of full fine-tuning's forgetting the arm avoided, share of its task gain the arm kept, their
    product): one number per mitigation to set beside the source text's stars."""
    avoided = 1 - stats[arm]["general-loss rise"][0] / stats["full"]["general-loss rise"][0]
    kept = stats[arm]["task gain"][0] / stats["full"]["task gain"][0]
    return avoided, kept, avoided * kept


def mitigation_experiment(profile: Profile, fs: ForgettingSettings, task_rows: list[dict], test_rows: list[dict],
                          kit: GeneralEval | None, arms: tuple[str, ...] = EXPERIMENT_ARMS):
    """Notebook 03's experiment (ftlab.core.seedstore): the base measured (`base_arm`), one `run_arm` per SQL
    (arm, seed), plain full fine-tuning with its forgetting curve, and instruction SFT (`tax_arm`). Live and stored
    twins must agree within 0.01 nats of general loss, 0.02 nats of SQL loss and 2 probe answers in 100."""
    def run(arm: str, seed: int) -> dict:
        measuring = kit or measuring_kit(profile.model, fs)
        if arm == BASE_ARM:
            return base_arm(profile, test_rows, measuring)
        if arm == TAX_ARM:
            return tax_arm(profile, seed, fs, test_rows, measuring)
        return run_arm(profile, arm, seed, fs, task_rows, test_rows, measuring,
                       curve_every=fs.curve_every if arm == "full" else 0)

    inputs = {"forgetting": settings_key(fs), "sft": settings_key(profile.sft), "peft": settings_key(profile.peft),
              "arms": {arm: arm_overrides(profile, arm, fs) for arm in ARMS}, "task_rows": task_rows,
              "test_rows": test_rows}
    return Experiment("03-forgetting", profile, arms, run, inputs,
                      tolerance={"general_loss": 0.01, "task_loss": 0.02, "probe_accuracy": 0.02})


def experiment_data(fs: ForgettingSettings) -> tuple[list[dict], list[dict]]:
    """Notebook 03's SQL training rows and the held-out SQL questions its task loss is measured on."""
    return load_domain("train")[:fs.task_rows], load_domain("test_unseen_phrasings")[:fs.test_rows]


@cache
def measuring_kit(model_name: str, fs: ForgettingSettings) -> GeneralEval:
    """The general-ability kit for a model's tokenizer, built once per process (it tokenizes the held-out text)."""
    _, tokenizer = load(model_name)
    return GeneralEval.build(tokenizer, fs)


def experiment(profile: Profile) -> Experiment:
    """`mitigation_experiment` as notebook 03 builds it, from the profile alone (bench/stored_seeds.py); its kit
    is built when the first run needs it, so reading the stored reference's key loads no model."""
    return mitigation_experiment(profile, profile.forgetting, *experiment_data(profile.forgetting), kit=None)
