"""ftlab.lessons.alignment: the metrics on hand-computed cases, log-probabilities against the model's own loss, a 3-step DPO
run on the tiny model that moves the measured reward margin the right way and writes a run card, the cached SFT
starting point, and the TRL arguments ftlab passes."""
import inspect
import json
from dataclasses import replace

import pytest
import torch

from ftlab.core import models, profiles
from ftlab.core.settings import DPOSettings
from ftlab.lessons.alignment import (PairLogprobs, encode_pair, metrics_by_kind, pair_logprobs, preference_metrics, sft_start)
from ftlab.core.evaluate import completion_logprobs
from ftlab.core.train_dpo import dpo_config, run_dpo
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.settings import PeftOptions
from ftlab.core.preferences import load_pairs
from ftlab.core.runcard import read_card


@pytest.fixture(scope="module")
def tiny():
    return models.load("tiny")


@pytest.fixture(scope="module")
def few_pairs():
    return load_pairs("val", GROUNDED_TASKS, limit=16)


def test_preference_metrics_on_a_hand_computed_case():
    policy = PairLogprobs(torch.tensor([-1.0, -5.0]), torch.tensor([-3.0, -4.0]))
    reference = PairLogprobs(torch.tensor([-2.0, -5.0]), torch.tensor([-2.0, -5.0]))
    m = preference_metrics(policy, reference, beta=0.5)
    # pair 1: policy prefers chosen (-1 > -3); reward margin 0.5 * ((-1+2) - (-3+2)) = 1.0
    # pair 2: policy prefers rejected (-5 < -4); reward margin 0.5 * (0 - 1) = -0.5
    assert m["accuracy"] == 0.5 and m["reward_accuracy"] == 0.5
    assert m["reward_margin"] == pytest.approx(0.25) and m["logp_margin"] == pytest.approx(0.5)
    assert m["chosen_shift"] == pytest.approx(0.5) and m["rejected_shift"] == pytest.approx(0.0)
    same = preference_metrics(reference, reference, beta=0.5)
    assert same["reward_margin"] == 0 and same["reward_accuracy"] == 0


def test_metrics_by_kind_splits_the_pairs():
    pairs = [{"kind": "a"}, {"kind": "b"}, {"kind": "a"}]
    policy = PairLogprobs(torch.tensor([0.0, -9.0, 0.0]), torch.tensor([-1.0, 0.0, -1.0]))
    out = metrics_by_kind(pairs, policy, policy, beta=0.1)
    assert out["a"]["accuracy"] == 1.0 and out["b"]["accuracy"] == 0.0 and out["all"]["n"] == 3


def test_pair_encoding_splits_where_the_chat_template_does(tiny, few_pairs):
    _, tok = tiny
    prompt, chosen, rejected = encode_pair(tok, few_pairs[0])
    full = tok.apply_chat_template([{"role": "user", "content": few_pairs[0]["prompt"]},
                                    {"role": "assistant", "content": few_pairs[0]["chosen"]}], tokenize=True,
                                   return_dict=True)["input_ids"]
    assert prompt + chosen == full
    assert tok.decode(chosen).startswith(few_pairs[0]["chosen"]) and "<|im_end|>" in tok.decode(chosen)
    assert chosen != rejected


def test_completion_logprobs_agree_with_the_models_own_loss(tiny):
    model, tok = tiny
    prompt, completion = tok("The capital of")["input_ids"], tok(" France is Paris", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + completion])
    labels = ids.clone()
    labels[0, :len(prompt)] = -100
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss.item()
    # batched with a longer, padded neighbour: padding must not change the answer
    got = completion_logprobs(model, [(prompt, completion), (prompt + completion, completion)], tok.pad_token_id)
    assert got[0].item() == pytest.approx(-loss * len(completion), rel=1e-4)


def test_a_short_dpo_run_widens_the_measured_reward_margin_and_writes_a_card(tiny, few_pairs, tmp_path):
    _, tok = tiny
    model, _ = models.load("tiny")
    before = pair_logprobs(model, tok, few_pairs)
    settings = DPOSettings(beta=0.1, learning_rate=5e-3, max_steps=3, batch_size=4, warmup_ratio=0.0,
                           logging_steps=1, progress=False)
    result = run_dpo(model, tok, few_pairs[:12], settings, tmp_path / "dpo", PeftOptions(lora_targets=("q_proj", "v_proj")))
    after = pair_logprobs(result.model, tok, few_pairs[:12])
    m = preference_metrics(after, PairLogprobs(before.chosen[:12], before.rejected[:12]), settings.beta)
    assert m["reward_margin"] > 0.05 and m["reward_accuracy"] > 0.5, m  # measured, not what TRL logged
    assert not hasattr(result.model, "peft_config")  # LoRA merged: a plain model
    card = read_card(result.card_path)
    assert card["kind"] == "dpo" and card["tokens"] > 0 and card["settings"]["beta"] == 0.1
    assert card["train_pairs"] == 12 and card["predicted_peak_bytes"] > 0
    assert any("rewards/margins" in row for row in card["history"])


def test_sft_start_trains_once_then_reuses_the_saved_model(monkeypatch):
    profile = profiles.active("tiny")
    profile = replace(profile, sft=replace(profile.sft, max_steps=2, batch_size=4, eval_steps=100, progress=False))
    rows = load_instructions("train", ("title",), limit_per_task=8)
    folder = sft_start(profile, rows, seed=0)
    assert (folder / "config.json").exists() and (folder / "tokenizer.json").exists()
    assert json.loads((folder.parent / "runcard.json").read_text())["kind"] == "sft"

    import ftlab.lessons.alignment

    def no_training(*args, **kwargs):
        raise AssertionError("the cached SFT model should have been reused")

    monkeypatch.setattr(ftlab.lessons.alignment, "run_sft", no_training)
    assert sft_start(profile, rows, seed=0) == folder
    with pytest.raises(AssertionError, match="cached"):
        sft_start(profile, rows[:4], seed=0)  # other rows: another model
    model, tok = models.load(str(folder))
    assert model.num_parameters() > 1e6 and tok.chat_template


def test_trl_dpo_config_arguments_ftlab_passes_still_exist():
    from trl import DPOConfig, DPOTrainer

    used = {"beta", "loss_type", "max_length", "precompute_ref_log_probs", "activation_checkpointing", "use_cpu",
            "bf16", "warmup_steps", "lr_scheduler_type", "save_strategy", "report_to", "data_seed", "disable_tqdm",
            "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "logging_steps"}
    assert used <= set(inspect.signature(DPOConfig.__init__).parameters)
    assert {"model", "ref_model", "args", "train_dataset", "processing_class", "peft_config",
            "callbacks"} <= set(inspect.signature(DPOTrainer.__init__).parameters)
    cfg = dpo_config(DPOSettings(beta=0.5, max_steps=3), "/tmp/ftlab-api-check", torch.device("cpu"))
    assert cfg.beta == 0.5 and not cfg.gradient_checkpointing and cfg.loss_type == ["sigmoid"]


def test_profiles_size_notebook_07():
    for name in ("tiny", "smol", "gpu"):
        a = profiles.active(name).dpo
        assert len(a.betas) >= 2 and a.train_pairs >= a.dpo.max_steps and a.heldout_pairs > 0
