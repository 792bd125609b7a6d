"""Bad configuration and bad model folders are refused with one clear error, before any model loads or trains.

Malformed datasets (bad JSON line, missing `messages`, unknown role, empty content, wrong role order, non-UTF-8
bytes, over-length example, empty dataset, truncated .gz, missing file) are tested in
tests/core/test_chat_data_validation.py; this file covers settings, profiles, PEFT methods, model paths and run names,
and checks that run_sft refuses bad rows before it touches the model.
"""
from dataclasses import replace

import pytest

from ftlab.core import models, peft_methods, profiles
from ftlab.core.data import DatasetError
from ftlab.core.errors import ConfigError
from ftlab.core.paths import new_run_dir
from ftlab.core.settings import PeftOptions
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft

GOOD = {"messages": [{"role": "user", "content": "Count: a b"}, {"role": "assistant", "content": "2"}]}


@pytest.mark.parametrize("field, value, expected", [
    ("batch_size", 0, r"SFTSettings.batch_size must be a whole number >= 1 \(rows per step\); got 0"),
    ("batch_size", -4, r"SFTSettings.batch_size must be a whole number >= 1 \(rows per step\); got -4"),
    ("batch_size", "16", r"SFTSettings.batch_size must be a whole number >= 1 \(rows per step\); got '16'"),
    ("batch_size", 2.5, "SFTSettings.batch_size must be a whole number >= 1"),
    ("max_steps", 0, r"SFTSettings.max_steps must be a whole number >= 1 \(optimizer steps; or -1 to train for "
                     r"`epochs`\); got 0"),
    ("max_steps", -5, "SFTSettings.max_steps must be a whole number >= 1 .*got -5"),
    ("grad_accum", 0, "SFTSettings.grad_accum must be a whole number >= 1"),
    ("learning_rate", 0.0, "SFTSettings.learning_rate must be a finite number > 0 \\(the optimizer's step size\\)"),
    ("learning_rate", float("nan"), "SFTSettings.learning_rate must be a finite number > 0 .*got nan"),
    ("warmup_ratio", 1.5, r"SFTSettings.warmup_ratio must be a number in \[0.0, 1.0\)"),
    ("scheduler", "cosine-ish", "SFTSettings.scheduler must be one of linear, cosine, .*got 'cosine-ish'"),
    ("max_length", 0, "SFTSettings.max_length must be a whole number >= 2"),
    ("seed", -1, "SFTSettings.seed must be a whole number >= 0"),
    ("seed", 2 ** 40, "SFTSettings.seed must be below 2\\*\\*32"),
    ("logging_steps", 0, "SFTSettings.logging_steps must be a whole number >= 1"),
    ("eval_steps", 0, "SFTSettings.eval_steps must be a whole number >= 1"),
    ("save_steps", -3, "SFTSettings.save_steps must be a whole number >= 0 \\(steps between checkpoints; 0 for "
                       "none\\)"),
])
def test_bad_sft_settings_are_refused_where_they_are_written(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        SFTSettings(**{field: value})
    with pytest.raises(ConfigError, match=expected):  # a profile's settings changed with dataclasses.replace
        replace(profiles.active("tiny").sft, **{field: value})


def test_zero_epochs_are_refused_only_when_epochs_decide_the_length():
    with pytest.raises(ConfigError, match="SFTSettings.epochs must be a finite number > 0 .*got 0"):
        SFTSettings(epochs=0)
    assert SFTSettings(epochs=0, max_steps=10).max_steps == 10


def test_every_profiles_settings_are_valid():
    for profile in profiles.PROFILES.values():
        assert replace(profile.sft) == profile.sft and replace(profile.peft) == profile.peft


@pytest.mark.parametrize("field, value, expected", [
    ("lora_r", 0, "PeftOptions.lora_r must be a whole number >= 1 \\(the rank of LoRA's update matrices\\)"),
    ("virtual_tokens", -1, "PeftOptions.virtual_tokens must be a whole number >= 1"),
    ("adapter_size", 0, "PeftOptions.adapter_size must be a whole number >= 1"),
    ("lora_targets", (), "PeftOptions.lora_targets must be a non-empty tuple of module names"),
    ("lora_targets", "q_proj", "PeftOptions.lora_targets must be a non-empty tuple .*got 'q_proj'"),
])
def test_bad_peft_options_are_refused(field, value, expected):
    with pytest.raises(ConfigError, match=expected):
        PeftOptions(**{field: value})


def test_unknown_profile_names_the_variable_and_lists_the_profiles(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "h100")
    with pytest.raises(ConfigError) as err:
        profiles.active()
    assert str(err.value) == ("unknown profile 'h100' (the FTLAB_PROFILE environment variable or active(name)); "
                              "choose one of gpu, smol, tiny")
    assert isinstance(err.value, KeyError)  # callers that caught the old KeyError still do


def test_unknown_peft_method_is_refused_before_any_model_loads(monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the method was checked")

    monkeypatch.setattr(models, "load", no_loading)
    monkeypatch.setattr(models, "load_4bit", no_loading)
    with pytest.raises(ConfigError, match="unknown PEFT method 'lorra'; expected one of full, lora, dora, qlora, "
                                          "prefix, prompt, ia3, adapters"):
        peft_methods.build("tiny", "lorra")


def _model_folder(tmp_path, *files):
    folder = tmp_path / "my-model"
    folder.mkdir()
    for name in files:
        (folder / name).write_bytes(b"{}")
    return folder


@pytest.mark.parametrize("loader", [models.load, models.load_4bit])
def test_a_model_folder_with_no_weights_is_named_with_what_was_expected(tmp_path, loader):
    folder = _model_folder(tmp_path, "config.json", "tokenizer.json")
    with pytest.raises(models.ModelNotAvailable, match=r"my-model/model.safetensors is missing \(no weights in the "
                                                       r"folder\). Expected a folder written by `model.save_pretrained"):
        loader(str(folder))


def test_pickle_only_weights_are_refused_with_how_to_convert(tmp_path):
    folder = _model_folder(tmp_path, "config.json", "pytorch_model.bin")
    with pytest.raises(models.ModelNotAvailable, match=r"has weights only as pickle \(pytorch_model.bin\), which can "
                                                       r"run code when loaded; ftlab loads safetensors only"):
        models.load(str(folder))


def test_weights_without_config_are_refused(tmp_path):
    folder = _model_folder(tmp_path, "model.safetensors")
    with pytest.raises(models.ModelNotAvailable, match=r"my-model/config.json is missing"):
        models.load(str(folder))


@pytest.mark.parametrize("name", ["./no-such-model", "/no/such/model", "../models/gone", "a/b/c"])
def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(name):
    with pytest.raises(models.ModelNotAvailable, match=rf"{name}: no such folder. Expected a folder written by "
                                                       r"`save_pretrained` \(config.json \+ model.safetensors\), "
                                                       r"'tiny', 'smol', or a hub id 'org/name'"):
        models.load(name)


def test_missing_tiny_base_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "TINY_DIR", _model_folder(tmp_path, "config.json"))
    with pytest.raises(models.ModelNotAvailable, match=r"git checkout -- models/.*python -m ftlab pretrain-base"):
        models.load("tiny")


def test_run_sft_refuses_bad_rows_before_it_touches_the_model_or_tokenizer(tmp_path):
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]}
    with pytest.raises(DatasetError, match=r"sft: train rows: row 2: roles must alternate user, assistant"):
        run_sft(None, None, [GOOD, bad], SFTSettings(max_steps=1, progress=False), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["../escape", "/abs/run", "a/b", ".hidden", "", "x\\y"])
def test_run_names_that_could_leave_the_runs_folder_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match="must be a plain folder name .* so the run stays inside the runs folder"):
        new_run_dir(name)
    assert not any(tmp_path.parent.glob("escape*"))
