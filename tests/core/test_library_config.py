"""A learner's own TRL and peft objects drive ftlab's runs: what they write is what trains (ftlab.core.library_config,
train.fine_tune_and_score(args=, peft_config=), train_dpo.run_dpo(args=, peft_config=))."""
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from peft import LoraConfig
from trl import DPOConfig, SFTConfig

from ftlab.core import profiles
from ftlab.core.device import pick_device
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.library_config import DPO_ARGUMENTS, SFT_ARGUMENTS, arguments, field_names
from ftlab.core.models import load
from ftlab.core.peft_methods import method_of, options_of, peft_extras, trainable_parameters
from ftlab.core.settings import DPOSettings, SFTSettings
from ftlab.core.speed import sftcache
from ftlab.core.train import config_for_run, fine_tune_and_score, library_extras, settings_of, sft_config
from ftlab.core.train_dpo import dpo_config, dpo_settings_of, run_dpo
from ftlab.lessons.alignment import alignment_experiment
from ftlab.lessons.sft import sft_experiment


@pytest.fixture()
def short_profile():
    profile = profiles.active("tiny")
    return replace(profile, sft=replace(profile.sft, max_steps=3, batch_size=8, eval_steps=100, progress=False),
                   max_new_tokens=4)


def written_by_a_learner(s: SFTSettings, **more) -> SFTConfig:
    """An SFTConfig as notebook 01 writes it: TRL's names, the profile's values."""
    arguments = dict(output_dir="my-run", learning_rate=s.learning_rate, max_steps=s.max_steps,
                     per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
                     lr_scheduler_type=s.scheduler, warmup_steps=s.warmup_ratio,
                     assistant_only_loss=s.assistant_only_loss, eos_token="<|im_end|>", padding_free=s.padding_free,
                     max_length=None if s.padding_free else s.max_length,
                     activation_checkpointing=False, eval_strategy="steps", eval_steps=s.eval_steps,
                     per_device_eval_batch_size=32,
                     logging_steps=s.logging_steps, bf16=s.bf16, use_cpu=True, disable_tqdm=True)
    return SFTConfig(**{**arguments, **more})


def test_every_mapped_field_and_argument_exists():
    assert set(SFT_ARGUMENTS.arguments) <= field_names(SFTSettings)
    assert set(DPO_ARGUMENTS.arguments) <= field_names(DPOSettings)
    sft, dpo = SFTConfig(output_dir="x", use_cpu=True).to_dict(), DPOConfig(output_dir="x", use_cpu=True).to_dict()
    assert set(SFT_ARGUMENTS.arguments.values()) <= set(sft) and set(DPO_ARGUMENTS.arguments.values()) <= set(dpo)


def test_a_learners_config_with_the_profiles_values_is_the_profiles_run(short_profile, tmp_path):
    s = short_profile.sft
    mine = written_by_a_learner(s)
    assert settings_of(mine, replace(s, learning_rate=1.0, max_steps=7)) == s  # read from the config, not defaults
    assert library_extras(mine, s) == {}
    device = torch.device("cpu")
    ours = arguments(sft_config(s, tmp_path, True, device))
    assert arguments(config_for_run(mine, s, tmp_path, True, device)) == ours
    # ftlab's own config read back gives its settings (max_length is None for packed rows: the profile's stays)
    assert settings_of(sft_config(s, tmp_path, True, device), replace(s, learning_rate=1.0)) == s


def test_what_the_config_sets_beyond_the_settings_is_named_and_changes_the_cache_key(short_profile):
    s = short_profile.sft
    mine = written_by_a_learner(s, neftune_noise_alpha=5.0)
    assert library_extras(mine, s) == {"neftune_noise_alpha": 5.0}
    plain = sftcache.run_key("tiny", s, [{"a": 1}], None, library_extras(written_by_a_learner(s), s))
    assert plain == sftcache.run_key("tiny", s, [{"a": 1}])
    assert sftcache.run_key("tiny", s, [{"a": 1}], None, library_extras(mine, s)) != plain
    forgot = written_by_a_learner(s, eos_token=None)  # TRL would end each answer with <|endoftext|>, not <|im_end|>
    assert library_extras(forgot, settings_of(forgot, s)) == {"eos_token": None}
    bare = SFTConfig(output_dir="x", use_cpu=True)  # TRL's defaults are what the learner chose, not the profile's
    assert settings_of(bare, s).learning_rate == bare.learning_rate != s.learning_rate


def test_settings_of_refuses_another_object(short_profile):
    with pytest.raises(TypeError, match="expected trl.SFTConfig, got dict"):
        settings_of({"learning_rate": 1e-3}, short_profile.sft)


def test_the_learners_config_trains_exactly_like_the_profile_and_its_extras_train_differently(short_profile):
    train = load_instructions("train", GROUNDED_TASKS, limit_per_task=6)
    test = load_instructions("test", GROUNDED_TASKS, limit_per_task=2)
    ours = fine_tune_and_score(short_profile, train, None, test, seed=1, generate=False)
    mine = fine_tune_and_score(short_profile, train, None, test, seed=1, generate=False,
                               args=written_by_a_learner(short_profile.sft))
    losses = [[row["loss"] for row in run["history"] if "loss" in row] for run in (ours, mine)]
    assert losses[0] == losses[1] and mine["response_loss"] == ours["response_loss"]
    assert mine["settings"] == ours["settings"] and mine["card"]["library_arguments"] == {}
    noisy = fine_tune_and_score(short_profile, train, None, test, seed=1, generate=False,
                                args=written_by_a_learner(short_profile.sft, neftune_noise_alpha=50.0))
    assert noisy["response_loss"] != ours["response_loss"]  # NEFTune's embedding noise reached the trainer
    assert noisy["card"]["library_arguments"] == {"neftune_noise_alpha": 50.0}
    shorter = fine_tune_and_score(short_profile, train, None, test, seed=1, generate=False, max_steps=1,
                                  args=written_by_a_learner(short_profile.sft))  # an arm's override still applies
    assert max(row.get("step", 0) for row in shorter["history"]) == 1


def test_a_learners_lora_config_trains_as_written(short_profile):
    config = LoraConfig(r=4, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                        task_type="CAUSAL_LM")
    assert method_of(config) == "lora" and options_of(config).lora_r == 4
    assert method_of(replace(config, use_dora=True)) == "dora"
    train = load_instructions("train", GROUNDED_TASKS, limit_per_task=4)
    run = fine_tune_and_score(short_profile, train, None, train[:2], seed=0, generate=False, peft_config=config)
    model = run["model"]
    base, _ = load(short_profile.model)
    expected = sum(4 * (m.in_features + m.out_features) for n, m in base.named_modules()
                   if n.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert trainable_parameters(model)[0] == expected
    assert model.peft_config["default"].lora_alpha == 32 and model.peft_config["default"].lora_dropout == 0.1
    with pytest.raises(ValueError, match="from a peft config; got a"):
        method_of(type("X", (), {"peft_type": "vera"})())


def test_a_learners_dpo_config_trains_like_the_profiles(tmp_path):
    profile = profiles.active("tiny")
    s = replace(profile.dpo.dpo, max_steps=2, batch_size=2, logging_steps=1, progress=False)
    pairs = [{"prompt": "Say yes.", "chosen": "yes", "rejected": "no"},
             {"prompt": "Say no.", "chosen": "no", "rejected": "yes"}] * 2
    mine = DPOConfig(output_dir="mine", beta=s.beta, learning_rate=s.learning_rate, max_steps=s.max_steps,
                     per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
                     warmup_steps=s.warmup_ratio, lr_scheduler_type=s.scheduler, max_length=s.max_length,
                     logging_steps=s.logging_steps, activation_checkpointing=False, precompute_ref_log_probs=False,
                     bf16=False, use_cpu=True)
    assert dpo_settings_of(mine, replace(s, beta=9.0), LoraConfig(r=8)) == replace(s, method="lora")
    assert dpo_settings_of(mine, s, None).method == "full"
    device = pick_device()
    assert DPO_ARGUMENTS.extras(mine, dpo_config(s, tmp_path, device)) == {}
    runs = []
    for args, peft_config in ((None, None), (mine, LoraConfig(r=profile.peft.lora_r, lora_alpha=2 * profile.peft.lora_r,
                                                               lora_dropout=0.0, task_type="CAUSAL_LM",
                                                               target_modules=list(profile.peft.lora_targets)))):
        torch.manual_seed(0)
        model, tokenizer = load(profile.model, device=device)
        runs.append(run_dpo(model, tokenizer, pairs, s, tmp_path / str(len(runs)), profile.peft, args=args,
                            peft_config=peft_config))
    losses = [[row["loss"] for row in run.history if "loss" in row] for run in runs]
    assert losses[0] == losses[1] and runs[1].card["library_arguments"] == {}


def test_a_peft_config_beyond_ftlabs_options_is_named():
    ours = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    assert peft_extras(ours) == {} and peft_extras(None) == {}
    assert peft_extras(replace(ours, lora_alpha=32, lora_dropout=0.1)) == {"lora_alpha": 32, "lora_dropout": 0.1}


def test_the_experiment_fed_by_a_learners_config_is_the_stored_one_only_when_it_trains_the_same(short_profile):
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=2)
    mine, first = written_by_a_learner(short_profile.sft), ("assistant-only",)
    key = sft_experiment(short_profile, rows, rows, rows, arms=first).key
    assert sft_experiment(short_profile, rows, rows, rows, arms=first, args=mine).key == key
    for changed in ({"neftune_noise_alpha": 5.0}, {"learning_rate": 2e-5}):
        args = written_by_a_learner(short_profile.sft, **changed)
        assert sft_experiment(short_profile, rows, rows, rows, arms=first, args=args).key != key
    # its whole-sequence arm keeps the config's eos_token, which ftlab's own whole-sequence run does not set
    other = ("whole-sequence",)
    assert (sft_experiment(short_profile, rows, rows, rows, arms=other, args=mine).key
            != sft_experiment(short_profile, rows, rows, rows, arms=other).key)


def test_notebook_07s_experiment_fed_by_the_profiles_values_is_the_stored_one():
    profile = profiles.active("tiny")
    s, p = profile.dpo.dpo, profile.peft
    kit = SimpleNamespace(pairs=[{"prompt": "a"}], test_rows=[{"id": 1}])
    args = DPOConfig(output_dir="x", beta=s.beta, loss_type=[s.loss_type], learning_rate=s.learning_rate,
                     max_steps=s.max_steps, per_device_train_batch_size=s.batch_size,
                     gradient_accumulation_steps=s.grad_accum, lr_scheduler_type=s.scheduler,
                     warmup_steps=s.warmup_ratio, max_length=s.max_length, activation_checkpointing=False,
                     precompute_ref_log_probs=False, logging_steps=s.logging_steps, bf16=False, use_cpu=True)
    lora = LoraConfig(r=p.lora_r, lora_alpha=2 * p.lora_r, lora_dropout=0.0, target_modules=list(p.lora_targets),
                      task_type="CAUSAL_LM")
    tmp = None  # the SFT folder: not needed to build the key
    key = alignment_experiment(profile, [], [], kit, tmp).key
    assert alignment_experiment(profile, [], [], kit, tmp, args=args, peft_config=lora).key == key
    assert alignment_experiment(profile, [], [], kit, tmp, args=replace(args, learning_rate=1e-6),
                                peft_config=lora).key != key
    assert alignment_experiment(profile, [], [], kit, tmp, args=args,
                                peft_config=replace(lora, lora_dropout=0.1)).key != key
    assert alignment_experiment(profile, [], [], kit, tmp, args=args).key != key  # no peft config: full DPO
