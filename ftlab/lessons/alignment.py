"""Preference alignment with DPO through TRL's DPOTrainer, and how to measure it (taught in notebook 07).

DPO (Rafailov et al. 2023) trains a policy pi on pairs (x, chosen y_w, rejected y_l) against a frozen reference
pi_ref (here: the SFT model it starts from) with the loss -log sigmoid(beta * [(log pi(y_w|x) - log pi_ref(y_w|x))
- (log pi(y_l|x) - log pi_ref(y_l|x))]). beta * (log pi - log pi_ref) is the *implied reward* of a response; the
reward margin is the chosen reward minus the rejected one. With LoRA (the default here) TRL needs no copy of the
model for the reference: it disables the adapter.

Training goes through `ftlab.core.train_dpo.run_dpo` (`DPOSettings` -> `DPOConfig`, the memory preflight, tqdm
progress and a run card per run). This module holds notebook 07's experiment: the SFT starting point, trained once
and cached (`sft_start`); and the measurements, taken with our own code rather than the trainer's logs: summed log-probabilities of each pair's
responses (`pair_logprobs`), preference accuracy and reward margin (`preference_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch
from trl import DPOConfig

from ftlab.core.course_data import course_data
from ftlab.core.device import pick_device
from ftlab.core.evaluate import completion_logprobs, task_scores
from ftlab.core.general_ability import GeneralEval
from ftlab.core.instructions import load_instructions
from ftlab.core.models import load
from ftlab.core.paths import new_run_dir
from ftlab.core.peft_methods import method_of, options_of, peft_extras
from ftlab.core.preferences import load_pairs, to_conversational
from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment, extras_key, settings_key
from ftlab.core.settings import DPOSettings
from ftlab.core.speed import sftcache
from ftlab.core.speed.tokencache import templated
from ftlab.core.train import run_sft
from ftlab.core.train_dpo import dpo_settings_of, library_extras, run_dpo


SFT_ARM = "sft"  # notebook 07's starting point, measured as an arm of the experiment (no training)


def sft_start(profile: Profile, train_rows: list[dict], seed: int = 0, val_rows: list[dict] | None = None,
              name: str = "07-sft-start") -> Path:
    """The folder of an SFT model trained on `train_rows` with the profile's SFT settings, trained once
    (`ftlab.core.speed.sftcache`; notebook 01's first run is this same run, so after notebook 01 it is only loaded). Load
    it with `ftlab.core.models.load(str(folder))`, a fresh copy each time."""
    settings = replace(profile.sft, seed=seed)
    folder = sftcache.folder_for(profile.model, settings, train_rows, val_rows)
    if sftcache.complete(folder):
        return folder / "model"
    torch.manual_seed(seed)
    model, tokenizer = load(profile.model, device=pick_device())
    result = run_sft(model, tokenizer, train_rows, settings, folder, val_rows=val_rows, profile=profile.name,
                     name=name)
    sftcache.store(folder, result.model, tokenizer, result.history, result.card, result.card_path)
    return folder / "model"


@dataclass
class PairLogprobs:
    """Summed log-probabilities of each pair's chosen and rejected response given its prompt."""

    chosen: torch.Tensor
    rejected: torch.Tensor


def encode_pair(tokenizer, pair: dict) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids, chosen ids, rejected ids) through the chat template, split where TRL splits them: the
    prompt with the assistant header, the response with its end-of-turn token."""
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


@dataclass
class AlignmentEval:
    """Held-out pairs with the reference's log-probabilities, test rows for exact match, and the general kit
    (held-out general loss, gloss probe) that measures the alignment tax. Prepared once, applied to every model."""

    tokenizer: object
    pairs: list[dict]
    reference: PairLogprobs
    test_rows: list[dict]
    general: object  # ftlab.core.general_ability.GeneralEval
    max_new_tokens: int = 24

    @classmethod
    def build(cls, reference_model, tokenizer, pairs: list[dict], test_rows: list[dict], general,
              max_new_tokens: int = 24) -> "AlignmentEval":
        return cls(tokenizer, pairs, pair_logprobs(reference_model, tokenizer, pairs), test_rows, general,
                   max_new_tokens)

    def measure(self, model, beta: float) -> dict:
        """Preference metrics per pair kind (against the reference), exact match on the test rows, general loss
        and probe accuracy."""
        policy = pair_logprobs(model, self.tokenizer, self.pairs)
        scored = task_scores(model, self.tokenizer, self.test_rows, self.max_new_tokens)
        return {"pairs": metrics_by_kind(self.pairs, policy, self.reference, beta),
                "exact_match": scored["scores"]["overall"]["accuracy"], "answers": scored["answers"],
                **self.general.measure(model, self.tokenizer)}


def dpo_arm(profile: Profile, sft_dir: Path, pairs: list[dict], beta: float, seed: int, kit: AlignmentEval,
            name: str = "07-dpo", args: DPOConfig | None = None, peft_config=None) -> dict:
    """One DPO run of notebook 07: a fresh copy of the SFT model, the profile's DPO recipe (or the learner's
    DPOConfig `args` and peft config) at this beta and seed (LoRA with the profile's PEFT options unless a
    peft config is given), then `kit`'s measurements."""
    model, _ = load(str(sft_dir), device=pick_device())
    settings = replace(dpo_settings(profile, args, peft_config), beta=beta, seed=seed)
    result = run_dpo(model, kit.tokenizer, pairs, settings, new_run_dir(f"{name}-beta{beta:g}-seed{seed}"),
                     profile.peft, profile=profile.name, name=name, args=args, peft_config=peft_config)
    return {"beta": beta, "seed": seed, "history": result.history, "card": result.card,
            "card_path": result.card_path, "train_s": result.card["wall_time_s"],
            "tokens_per_s": result.card["tokens_per_s"], **kit.measure(result.model, beta)}


def dpo_settings(profile: Profile, args: DPOConfig | None, peft_config) -> DPOSettings:
    """The profile's DPO settings, or what the learner's DPOConfig and peft config set, in ftlab's names."""
    if args is None and peft_config is None:
        return profile.dpo.dpo
    settings = profile.dpo.dpo if args is None else dpo_settings_of(args, profile.dpo.dpo, peft_config)
    return settings if peft_config is None else replace(settings, method=method_of(peft_config))


def alignment_experiment(profile: Profile, sft_rows: list[dict], train_pairs: list[dict], kit: AlignmentEval,
                         sft_dir: Path, args: DPOConfig | None = None, peft_config=None) -> Experiment:
    """Notebook 07's experiment (ftlab.core.seedstore): the SFT starting point measured by the same kit (arm
    "sft", no training: the 'before' of every claim, so a stored reference carries its own), then one `dpo_arm`
    per (beta, seed), the arm named by its beta ("0.1"), with held-out preference accuracy also at the top level.
    Live and stored twins must agree within one held-out pair in a hundred, one test answer in a hundred and 0.01
    nats of general loss. `args` and `peft_config`: the learner's DPOConfig and LoraConfig, which every run trains
    with (beta and seed set per run); ones that set what the profile sets give the profile's experiment, stored
    seeds included."""
    return _experiment(profile, sft_rows, train_pairs, kit.pairs, kit.test_rows, lambda: (kit, sft_dir), args,
                       peft_config)


def _experiment(profile: Profile, sft_rows: list[dict], train_pairs: list[dict], heldout_pairs: list[dict],
                test_rows: list[dict], prepared: Callable[[], tuple[AlignmentEval, Path]],
                args: DPOConfig | None = None, peft_config=None) -> Experiment:
    """`alignment_experiment` from its rows alone: `prepared` gives the measuring kit and the SFT model's folder
    when the first run needs them, so reading a stored reference's key trains and loads nothing."""
    def run(arm: str, seed: int) -> dict:
        kit, sft_dir = prepared()
        if arm == SFT_ARM:
            model, _ = load(str(sft_dir), device=pick_device())
            result = {"beta": None, "seed": seed, **kit.measure(model, al.betas[0])}
        else:
            result = dpo_arm(profile, sft_dir, train_pairs, float(arm), seed, kit, args=args, peft_config=peft_config)
        return {**result, "preference_accuracy": result["pairs"]["all"]["accuracy"]}

    al = profile.dpo
    settings = dpo_settings(profile, args, peft_config)
    peft = profile.peft if peft_config is None else options_of(peft_config)
    if set(peft.lora_targets) == set(profile.peft.lora_targets):  # a LoraConfig keeps its targets as a set
        peft = replace(peft, lora_targets=profile.peft.lora_targets)
    extras = {**(library_extras(args, settings, pick_device()) if args is not None else {}),
              **{f"peft.{k}": v for k, v in peft_extras(peft_config).items()}}
    inputs = {"dpo": settings_key(settings), **extras_key(extras), "sft": settings_key(profile.sft),
              "peft": settings_key(peft),
              "forgetting": settings_key(profile.forgetting), "max_new_tokens": profile.max_new_tokens,
              "sft_rows": [r["id"] for r in sft_rows], "train_pairs": train_pairs, "heldout_pairs": heldout_pairs,
              "test_rows": test_rows}
    return Experiment("07-dpo", profile, (SFT_ARM, *(f"{beta:g}" for beta in al.betas)), run, inputs,
                      tolerance={"preference_accuracy": 0.01, "exact_match": 0.01, "general_loss": 0.01})


def notebook_data(profile: Profile) -> dict:
    """Notebook 07's rows, read from files (no model): notebook 01's SFT rows and validation rows, the training
    and held-out preference pairs, and the test rows for exact match."""
    al = profile.dpo
    sft_rows, val_rows, _ = course_data(profile)  # notebook 01's rows: its first run is this same run
    return {"sft_rows": sft_rows, "val_rows": val_rows,
            "train_pairs": load_pairs("train", profile.sft_tasks, limit=al.train_pairs),
            "heldout_pairs": load_pairs("test", profile.sft_tasks, limit=al.heldout_pairs),
            "test_rows": load_instructions("test", profile.sft_tasks, limit_per_task=al.test_per_task)}


def notebook_setup(profile: Profile) -> dict:
    """What notebook 07 prepares before DPO: its rows (`notebook_data`), the SFT starting point (trained once,
    cached), the measuring kit, and the SFT model and tokenizer."""
    data = notebook_data(profile)
    sft_dir = sft_start(profile, data["sft_rows"], seed=profile.seeds[0], val_rows=data["val_rows"])
    sft_model, tokenizer = load(str(sft_dir), device=pick_device())
    general = GeneralEval.build(tokenizer, profile.forgetting)
    kit = AlignmentEval.build(sft_model, tokenizer, data["heldout_pairs"], data["test_rows"], general,
                              profile.max_new_tokens)
    return {**data, "sft_dir": sft_dir, "sft_model": sft_model, "tokenizer": tokenizer, "general": general,
            "kit": kit}


def experiment(profile: Profile) -> Experiment:
    """`alignment_experiment` as notebook 07 builds it (bench/stored_seeds.py), from `notebook_data` alone: the
    SFT start and the kit are prepared when the first run needs them (`notebook_setup`, once)."""
    data = notebook_data(profile)

    @cache
    def prepared() -> tuple[AlignmentEval, Path]:
        setup = notebook_setup(profile)
        return setup["kit"], setup["sft_dir"]

    return _experiment(profile, data["sft_rows"], data["train_pairs"], data["heldout_pairs"], data["test_rows"],
                       prepared)
