"""Notebook 01: does SFT turn a next-token predictor into an instruction follower? The experiment (assistant-only
loss vs whole-sequence loss, over seeds) and what the notebook shows of a templated conversation."""

from __future__ import annotations

from dataclasses import replace

from trl import SFTConfig

from ftlab.core import models
from ftlab.core.course_data import course_data
from ftlab.core.device import pick_device
from ftlab.core.evaluate import response_loss, task_scores
from ftlab.core.instructions import rephrase
from ftlab.core.profiles import Profile
from ftlab.core.seedstore import Experiment, extras_key, settings_key
from ftlab.core.train import fine_tune_and_score, library_extras, settings_of


def show_loss_tokens(tokenizer, messages: list[dict]) -> str:
    """The templated conversation with the tokens that carry the SFT loss wrapped in ⟦ ⟧."""
    enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    out, inside = [], False
    for tok_id, m in zip(enc["input_ids"], enc["assistant_masks"]):
        if m and not inside:
            out.append("⟦")
        if not m and inside:
            out.append("⟧")
        inside = bool(m)
        out.append(tokenizer.decode([tok_id]))
    return "".join(out) + ("⟧" if inside else "")


# Notebook 01's experiment. The trained arms differ from the profile's settings only by these overrides: which
# tokens carry the loss, and the learning rate of a typical SFT recipe (claim 01-sft-recipe-lr) in place of the
# profile's tuned one. The base arm trains nothing: it scores the untrained model, the "before" of every claim.
RECIPE_LR = 2e-5
SFT_ARMS = {"assistant-only": {}, "whole-sequence": {"assistant_only_loss": False},
            "recipe-lr": {"learning_rate": RECIPE_LR}}
BASE_ARM = "base"
ARMS = (*SFT_ARMS, BASE_ARM)


def base_scores(profile: Profile, test: list[dict], reworded: list[dict]) -> dict:
    """The untrained base model's row, in the trained arms' form: exact match and scores in the training wording
    and reworded, response loss, and the model's parameter count. Greedy answers depend on no seed, so every seed
    of this arm must store the same numbers."""
    model, tokenizer = models.load(profile.model, device=pick_device())
    seen = task_scores(model, tokenizer, test, profile.max_new_tokens)
    unseen = task_scores(model, tokenizer, reworded, profile.max_new_tokens)
    return {"scores": seen["scores"], "answers": seen["answers"], "accuracy": seen["scores"]["overall"]["accuracy"],
            "reworded_scores": unseen["scores"], "reworded_answers": unseen["answers"],
            "accuracy_reworded": unseen["scores"]["overall"]["accuracy"],
            "response_loss": response_loss(model, tokenizer, test), "parameters": model.num_parameters()}


def sft_experiment(profile: Profile, train: list[dict], val: list[dict], test: list[dict],
                   arms: tuple[str, ...] = ARMS, args: SFTConfig | None = None):
    """Notebook 01's experiment (ftlab.core.seedstore): `fine_tune_and_score` per trained (arm, seed) and
    `base_scores` for the base arm, each model also asked the test instructions in a wording training never used
    (`instructions.rephrase`). Live and stored twins
    must agree within one test answer in a hundred and 0.02 nats of response loss. `args`: the learner's own
    SFTConfig, which every run trains with (the arm and seed changed); one that sets what the profile sets is the
    profile's experiment, stored seeds included."""
    reworded = [rephrase(r) for r in test]

    def run(arm: str, seed: int) -> dict:
        if arm == BASE_ARM:
            return base_scores(profile, test, reworded)
        name = "01-sft" if arm == "assistant-only" else f"01-sft-{arm}"
        result = fine_tune_and_score(profile, train, val, test, seed, name=name, reuse=arm == "assistant-only",
                                     args=args, **SFT_ARMS[arm])  # notebooks 05 and 07 start from the same run
        unseen = task_scores(result["model"], result["tokenizer"], reworded, profile.max_new_tokens)
        return {**result, "accuracy": result["scores"]["overall"]["accuracy"], "reworded_scores": unseen["scores"],
                "reworded_answers": unseen["answers"], "accuracy_reworded": unseen["scores"]["overall"]["accuracy"]}

    settings = profile.sft if args is None else settings_of(args, profile.sft)
    # What the learner's config sets beyond ftlab's settings, per arm asked for: the whole-sequence arm of a config
    # written for assistant-only loss keeps its eos_token, where ftlab's own whole-sequence config has none.
    extras = {arm: library_extras(args, replace(settings, **SFT_ARMS[arm])) for arm in arms if arm in SFT_ARMS}
    inputs = {"sft": settings_key(settings), **extras_key({arm: e for arm, e in extras.items() if e}),
              "max_new_tokens": profile.max_new_tokens, "train": train, "val": val,
              "test": test, "reworded": reworded}
    return Experiment("01-sft", profile, arms, run, inputs,
                      tolerance={"accuracy": 0.01, "accuracy_reworded": 0.01, "response_loss": 0.02})


def experiment(profile: Profile) -> Experiment:
    """Every arm of `sft_experiment` on `course_data` (bench/stored_seeds.py)."""
    return sft_experiment(profile, *course_data(profile))
