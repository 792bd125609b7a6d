"""ftlab.core.speed.sftcache: a full fine-tune trained once is loaded by the next identical run, with identical results."""
from dataclasses import replace

import pytest

import ftlab.core.train
from ftlab.core import profiles
from ftlab.core.speed import sftcache
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.train import fine_tune_and_score


@pytest.fixture()
def short_profile():
    profile = profiles.active("tiny")
    return replace(profile, sft=replace(profile.sft, max_steps=3, batch_size=8, eval_steps=100, progress=False),
                   max_new_tokens=4)


def test_an_identical_run_is_loaded_not_trained_and_scores_the_same(short_profile, monkeypatch):
    train = load_instructions("train", GROUNDED_TASKS, limit_per_task=6)
    val = load_instructions("val", GROUNDED_TASKS, limit_per_task=2)
    test = load_instructions("test", GROUNDED_TASKS, limit_per_task=3)
    first = fine_tune_and_score(short_profile, train, val, test, seed=0, reuse=True)  # validation rows too
    folder = sftcache.folder_for(short_profile.model, first["settings"], train, val)
    assert sftcache.complete(folder) and (folder / "model" / "config.json").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(ftlab.core.train, "run_sft", no_training)
    again = fine_tune_and_score(short_profile, train, val, test, seed=0, name="05-full", reuse=True)
    assert again["response_loss"] == first["response_loss"] and again["answers"] == first["answers"]
    assert again["card"]["reused_from"] == str(folder) and again["card_path"] != first["card_path"]
    assert again["wall_time_s"] == first["wall_time_s"]  # the measured cost of the run that trained it
    with pytest.raises(AssertionError, match="trained again"):  # another seed is another run
        fine_tune_and_score(short_profile, train, None, test, seed=1, reuse=True)
    with pytest.raises(AssertionError, match="trained again"):  # unvalidated: its history would differ
        fine_tune_and_score(short_profile, train, None, test, seed=0, reuse=True)


def test_the_key_follows_base_settings_rows_and_code(short_profile, monkeypatch):
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=2)
    key = sftcache.run_key("tiny", short_profile.sft, rows)
    assert sftcache.run_key("tiny", short_profile.sft, list(rows)) == key
    assert sftcache.run_key("smol", short_profile.sft, rows) != key
    assert sftcache.run_key("tiny", replace(short_profile.sft, learning_rate=2e-5), rows) != key
    assert sftcache.run_key("tiny", short_profile.sft, rows[:-1]) != key
    assert sftcache.run_key("tiny", short_profile.sft, rows, val_rows=rows[:1]) != key  # its history's eval losses
    monkeypatch.setattr(sftcache, "code_fingerprint", lambda: "edited ftlab")
    assert sftcache.run_key("tiny", short_profile.sft, rows) != key


def test_reuse_is_refused_where_the_model_is_not_a_plain_full_fine_tune(short_profile):
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=2)
    with pytest.raises(ValueError, match="full fine-tunes"):
        fine_tune_and_score(short_profile, rows, None, rows, seed=0, method="lora", reuse=True)
