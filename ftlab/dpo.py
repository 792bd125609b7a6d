"""Preference alignment with DPO through TRL's DPOTrainer, and how to measure it (taught in notebook 07).

DPO (Rafailov et al. 2023) trains a policy pi on pairs (x, chosen y_w, rejected y_l) against a frozen reference
pi_ref (here: the SFT model it starts from) with the loss -log sigmoid(beta * [(log pi(y_w|x) - log pi_ref(y_w|x))
- (log pi(y_l|x) - log pi_ref(y_l|x))]). beta * (log pi - log pi_ref) is the *implied reward* of a response; the
reward margin is the chosen reward minus the rejected one. With LoRA (the default here) TRL needs no copy of the
model for the reference: it disables the adapter.

This module is a thin layer like ftlab.sft: `DPOSettings` -> `DPOConfig`, the memory preflight, tqdm progress
and a run card per run (`run_dpo`); the SFT starting point, trained once and cached (`sft_start`); and the
measurements, taken with our own code rather than the trainer's logs: summed log-probabilities of each pair's
responses (`pair_logprobs`), preference accuracy and reward margin (`preference_metrics`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import sftcache
from .device import pick_device
from .evaluate import completion_logprobs
from .peft_methods import PeftOptions
from .runcard import make_card, reset_peak_memory, write_card


@dataclass(frozen=True)
class DPOSettings:
    """Hyper-parameters of one DPO run (LoRA on top of an SFT model unless `method="full"`)."""

    beta: float = 0.1  # the strength of the pull towards the reference (higher: stay closer)
    learning_rate: float = 5e-6  # TRL's default is 1e-6, for billion-parameter models
    max_steps: int = 100
    batch_size: int = 8  # pairs per step (each step runs 2 x batch_size sequences)
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    max_length: int = 256
    method: str = "lora"  # or "full" (then TRL keeps a frozen copy of the model as the reference)
    loss_type: str = "sigmoid"  # the DPO paper's loss; TRL has ipo, hinge, robust, ...
    bf16: bool = False
    allow_oom_risk: bool = False
    seed: int = 0
    logging_steps: int = 5
    progress: bool = True


@dataclass(frozen=True)
class AlignmentSettings:
    """Notebook 07's experiment: pair counts, the betas compared, test rows for exact match, one DPO recipe."""

    dpo: DPOSettings = field(default_factory=DPOSettings)
    betas: tuple[float, ...] = (0.1, 0.5)
    train_pairs: int = 800  # the first N training pairs, balanced over tasks and pair kinds
    heldout_pairs: int = 256  # held-out pairs (test split) scored before and after
    test_per_task: int = 50  # test rows per task for exact match (greedy generation is the slow part)


@dataclass
class DPOResult:
    model: torch.nn.Module  # LoRA merged into the weights: a plain model, evaluated like any other
    history: list[dict]  # TRL log rows: loss, rewards/margins, rewards/accuracies, logps/chosen, ...
    card: dict
    card_path: Path


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------

def dpo_config(s: DPOSettings, out_dir: Path, device: torch.device):
    """TRL's DPOConfig for these settings. TRL turns activation checkpointing on by default; we do not (it only
    trades speed for memory, and the preflight says when memory is short)."""
    from trl import DPOConfig

    return DPOConfig(
        output_dir=str(out_dir), beta=s.beta, loss_type=[s.loss_type], learning_rate=s.learning_rate,
        max_steps=s.max_steps, per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
        warmup_steps=s.warmup_ratio, lr_scheduler_type=s.scheduler, max_length=s.max_length, bf16=s.bf16,
        activation_checkpointing=False, use_cpu=device.type == "cpu", seed=s.seed, data_seed=s.seed,
        logging_steps=s.logging_steps, save_strategy="no", report_to="none", disable_tqdm=not s.progress,
        dataloader_num_workers=0, precompute_ref_log_probs=False,
    )


def check_memory(model, s: DPOSettings, peft: PeftOptions, device: torch.device):
    """ftlab.memory's preflight for a DPO step: the policy trains on chosen and rejected together (2 x batch
    sequences of up to max_length); the reference pass runs without gradients, so it adds no saved activations
    (with LoRA it is the same weights with the adapter off; with full fine-tuning a frozen copy of the weights,
    added here)."""
    from .memory import ModelShape, TrainSetup, preflight

    shape = ModelShape.from_dict(model.config.to_dict())
    setup = TrainSetup(method=s.method, precision="mixed" if s.bf16 else "fp32", batch_size=2 * s.batch_size,
                       seq_len=s.max_length, peft=peft, device=device.type)
    budget = None
    if s.method == "full":
        from .memory import available_bytes

        budget = available_bytes(device.type) - 4 * model.num_parameters()  # the reference copy, fp32
    return preflight(shape, setup, budget_bytes=budget, allow=s.allow_oom_risk)


def to_dataset(pairs: list[dict]):
    """Pairs as a `datasets.Dataset` in TRL's conversational preference format."""
    from datasets import Dataset

    from .preferences import to_conversational

    return Dataset.from_list([to_conversational(p) for p in pairs])


def run_dpo(model, tokenizer, pairs: list[dict], settings: DPOSettings, out_dir: Path,
            peft: PeftOptions = PeftOptions(), profile: str | None = None, name: str = "dpo",
            callbacks: list | None = None) -> DPOResult:
    """DPO-train `model` on preference pairs with TRL; returns the trained model (LoRA merged), the log history
    and a run card. The reference is the model as passed in (adapter disabled, or a frozen copy for "full")."""
    import datasets
    from trl import DPOTrainer

    from .peft_methods import peft_config
    from .sft import _plain

    if not pairs:
        raise ValueError(f"{name}: no preference pairs to train on")
    out_dir = Path(out_dir)
    device = pick_device()
    predicted = check_memory(model, settings, peft, device)
    reset_peak_memory(device)
    datasets.disable_progress_bars()  # TRL's tokenizing passes would each draw a bar; the trainer's is enough
    trainer = DPOTrainer(model=model, args=dpo_config(settings, out_dir, device), train_dataset=to_dataset(pairs),
                         processing_class=tokenizer, callbacks=callbacks,
                         peft_config=peft_config(settings.method, peft) if settings.method != "full" else None)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    history = trainer.state.log_history
    tokens = int(max((row.get("num_tokens", 0) for row in history), default=0))
    trained = _plain(trainer)
    if settings.method != "full":
        trained = trained.merge_and_unload()
    logged = [row for row in history if "rewards/margins" in row]  # the last logged training batch + the summary
    metrics = {k: v for row in logged[-1:] + history[-1:] for k, v in row.items() if isinstance(v, (int, float))}
    card = make_card("dpo", settings, seed=settings.seed, tokens=tokens, wall_time_s=wall, metrics=metrics,
                     device=device, profile=profile,
                     extra={"train_pairs": len(pairs), "settings": asdict(settings), "peft": asdict(peft),
                            "history": history, "predicted_peak_bytes": predicted.total})
    return DPOResult(trained, history, card, write_card(card, "runcard", out_dir))


# ---------------------------------------------------------------------------------------------------------
# The SFT starting point (notebook 01's recipe), trained once and cached
# ---------------------------------------------------------------------------------------------------------

def sft_start(profile, train_rows: list[dict], seed: int = 0, val_rows: list[dict] | None = None,
              name: str = "07-sft-start") -> Path:
    """The folder of an SFT model trained on `train_rows` with the profile's SFT settings, trained once
    (`ftlab.sftcache`; notebook 01's first run is this same run, so after notebook 01 it is only loaded). Load
    it with `ftlab.models.load(str(folder))`, a fresh copy each time."""
    from .models import load
    from .sft import run_sft

    settings = replace(profile.sft, seed=seed)
    folder = sftcache.folder_for(profile.model, settings, train_rows)
    if sftcache.complete(folder):
        return folder / "model"
    torch.manual_seed(seed)
    model, tokenizer = load(profile.model, device=pick_device())
    result = run_sft(model, tokenizer, train_rows, settings, folder, val_rows=val_rows, profile=profile.name,
                     name=name)
    sftcache.store(folder, result.model, tokenizer, result.history, result.card, result.card_path)
    return folder / "model"


# ---------------------------------------------------------------------------------------------------------
# Measuring preferences
# ---------------------------------------------------------------------------------------------------------

@dataclass
class PairLogprobs:
    """Summed log-probabilities of each pair's chosen and rejected response given its prompt."""

    chosen: torch.Tensor
    rejected: torch.Tensor


def encode_pair(tokenizer, pair: dict) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids, chosen ids, rejected ids) through the chat template, split where TRL splits them: the
    prompt with the assistant header, the response with its end-of-turn token."""
    from .preferences import to_conversational
    from .tokencache import templated

    conv = to_conversational(pair)
    prompt = templated(tokenizer, conv["prompt"], add_generation_prompt=True, tokenize=True,
                       return_dict=True)["input_ids"]
    out = [prompt]
    for side in ("chosen", "rejected"):
        full = templated(tokenizer, conv["prompt"] + conv[side], tokenize=True, return_dict=True)["input_ids"]
        if full[:len(prompt)] != prompt:
            raise ValueError(f"pair {pair.get('id')}: the templated prompt is not a prefix of prompt + {side}")
        out.append(full[len(prompt):])
    return out[0], out[1], out[2]


def pair_logprobs(model, tokenizer, pairs: list[dict], batch_size: int = 64) -> PairLogprobs:
    """log pi(chosen | prompt) and log pi(rejected | prompt) of every pair, summed over the response tokens
    (end-of-turn included), exactly the quantities DPO's loss compares."""
    encoded = [encode_pair(tokenizer, p) for p in pairs]
    chosen = completion_logprobs(model, [(p, c) for p, c, _ in encoded], tokenizer.pad_token_id, batch_size)
    rejected = completion_logprobs(model, [(p, r) for p, _, r in encoded], tokenizer.pad_token_id, batch_size)
    return PairLogprobs(chosen, rejected)


def preference_metrics(policy: PairLogprobs, reference: PairLogprobs, beta: float,
                       mask: torch.Tensor | None = None) -> dict:
    """How a policy ranks the pairs, alone and against the reference.

    - accuracy: share of pairs where the policy gives the chosen response the higher log-probability (its own
      preference; for the reference itself this is the 'before' number);
    - logp_margin: mean log pi(chosen) - log pi(rejected), nats;
    - reward_margin: mean beta * [(log pi - log pi_ref)(chosen) - (log pi - log pi_ref)(rejected)], DPO's implied
      reward margin (0 when policy == reference); reward_accuracy: share of pairs where it is > 0;
    - chosen_shift / rejected_shift: mean log pi - log pi_ref of each side (DPO can push both down)."""
    if mask is not None:
        policy = PairLogprobs(policy.chosen[mask], policy.rejected[mask])
        reference = PairLogprobs(reference.chosen[mask], reference.rejected[mask])
    chosen_shift = policy.chosen - reference.chosen
    rejected_shift = policy.rejected - reference.rejected
    margin = beta * (chosen_shift - rejected_shift)
    return {"accuracy": (policy.chosen > policy.rejected).float().mean().item(),
            "logp_margin": (policy.chosen - policy.rejected).mean().item(),
            "reward_margin": margin.mean().item(), "reward_accuracy": (margin > 0).float().mean().item(),
            "chosen_shift": chosen_shift.mean().item(), "rejected_shift": rejected_shift.mean().item(),
            "n": len(margin)}


def metrics_by_kind(pairs: list[dict], policy: PairLogprobs, reference: PairLogprobs, beta: float) -> dict:
    """`preference_metrics` for each pair kind separately (and 'all')."""
    out = {"all": preference_metrics(policy, reference, beta)}
    for kind in sorted({p["kind"] for p in pairs}):
        mask = torch.tensor([p["kind"] == kind for p in pairs])
        out[kind] = preference_metrics(policy, reference, beta, mask)
    return out


# ---------------------------------------------------------------------------------------------------------
# Notebook 07's measurements: one kit, applied to the SFT model and to every DPO run
# ---------------------------------------------------------------------------------------------------------

@dataclass
class AlignmentEval:
    """Held-out pairs with the reference's log-probabilities, test rows for exact match, and the general kit
    (held-out general loss, gloss probe) that measures the alignment tax. Prepared once, applied to every model."""

    tokenizer: object
    pairs: list[dict]
    reference: PairLogprobs
    test_rows: list[dict]
    general: object  # ftlab.forgetting.GeneralEval
    max_new_tokens: int = 24

    @classmethod
    def build(cls, reference_model, tokenizer, pairs: list[dict], test_rows: list[dict], general,
              max_new_tokens: int = 24) -> "AlignmentEval":
        return cls(tokenizer, pairs, pair_logprobs(reference_model, tokenizer, pairs), test_rows, general,
                   max_new_tokens)

    def measure(self, model, beta: float) -> dict:
        """Preference metrics per pair kind (against the reference), exact match on the test rows, general loss
        and probe accuracy."""
        from .evaluate import task_scores

        policy = pair_logprobs(model, self.tokenizer, self.pairs)
        scored = task_scores(model, self.tokenizer, self.test_rows, self.max_new_tokens)
        return {"pairs": metrics_by_kind(self.pairs, policy, self.reference, beta),
                "exact_match": scored["scores"]["overall"]["accuracy"], "answers": scored["answers"],
                **self.general.measure(model, self.tokenizer)}


def dpo_arm(profile, sft_dir: Path, pairs: list[dict], beta: float, seed: int, kit: AlignmentEval,
            name: str = "07-dpo") -> dict:
    """One DPO run of notebook 07: a fresh copy of the SFT model, the profile's DPO recipe at this beta and
    seed (LoRA with the profile's PEFT options), then `kit`'s measurements."""
    from .models import load
    from .paths import new_run_dir

    model, _ = load(str(sft_dir), device=pick_device())
    settings = replace(profile.dpo.dpo, beta=beta, seed=seed)
    result = run_dpo(model, kit.tokenizer, pairs, settings, new_run_dir(f"{name}-beta{beta:g}-seed{seed}"),
                     profile.peft, profile=profile.name, name=name)
    return {"beta": beta, "seed": seed, "history": result.history, "card": result.card,
            "card_path": result.card_path, "train_s": result.card["wall_time_s"],
            "tokens_per_s": result.card["tokens_per_s"], **kit.measure(result.model, beta)}


def alignment_experiment(profile, sft_rows: list[dict], train_pairs: list[dict], kit: AlignmentEval,
                         sft_dir: Path):
    """Notebook 07's experiment (ftlab.seedstore): one `dpo_arm` per (beta, seed), the arm named by its beta
    ("0.1"), with held-out preference accuracy also at the top level. Live and stored twins must agree within
    one held-out pair in a hundred, one test answer in a hundred and 0.01 nats of general loss."""
    from .seedstore import Experiment, settings_key

    def run(arm: str, seed: int) -> dict:
        result = dpo_arm(profile, sft_dir, train_pairs, float(arm), seed, kit)
        return {**result, "preference_accuracy": result["pairs"]["all"]["accuracy"]}

    al = profile.dpo
    inputs = {"dpo": settings_key(al.dpo), "sft": settings_key(profile.sft), "peft": settings_key(profile.peft),
              "forgetting": settings_key(profile.forgetting), "max_new_tokens": profile.max_new_tokens,
              "sft_rows": [r["id"] for r in sft_rows], "train_pairs": train_pairs, "heldout_pairs": kit.pairs,
              "test_rows": kit.test_rows}
    return Experiment("07-dpo", profile, tuple(f"{beta:g}" for beta in al.betas), run, inputs,
                      tolerance={"preference_accuracy": 0.01, "exact_match": 0.01, "general_loss": 0.01})


def notebook_setup(profile) -> dict:
    """What notebook 07 prepares before DPO: the pairs, the SFT starting point (trained once, cached), the
    measuring kit, and the SFT model and tokenizer."""
    from .forgetting import GeneralEval
    from .instructions import load_instructions
    from .models import load
    from .preferences import load_pairs

    al = profile.dpo
    sft_rows = load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task)
    sft_dir = sft_start(profile, sft_rows, seed=profile.seeds[0])
    sft_model, tokenizer = load(str(sft_dir), device=pick_device())
    heldout = load_pairs("test", profile.sft_tasks, limit=al.heldout_pairs)
    test_rows = load_instructions("test", profile.sft_tasks, limit_per_task=al.test_per_task)
    general = GeneralEval.build(tokenizer, profile.forgetting)
    return {"sft_rows": sft_rows, "sft_dir": sft_dir, "sft_model": sft_model, "tokenizer": tokenizer,
            "train_pairs": load_pairs("train", profile.sft_tasks, limit=al.train_pairs), "heldout_pairs": heldout,
            "test_rows": test_rows, "general": general,
            "kit": AlignmentEval.build(sft_model, tokenizer, heldout, test_rows, general, profile.max_new_tokens)}


def default_alignment_experiment(profile):
    """`alignment_experiment` as notebook 07 builds it (bench/stored_seeds.py)."""
    setup = notebook_setup(profile)
    return alignment_experiment(profile, setup["sft_rows"], setup["train_pairs"], setup["kit"], setup["sft_dir"])
