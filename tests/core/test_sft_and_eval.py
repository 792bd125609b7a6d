import pytest
from transformers import LlamaConfig, LlamaForCausalLM

from ftlab.core.stats import mean_std
from ftlab.core.evaluate import normalize, response_loss, token_f1
from ftlab.core.instructions import load_instructions
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft


def test_normalize_and_token_f1():
    assert normalize("  Paris. ") == "paris"
    assert token_f1("the big dog", "a big dog") == pytest.approx(2 / 3)
    assert token_f1("", "x") == 0.0
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))


@pytest.fixture(scope="module")
def title_rows():
    return load_instructions("train", ("title",), limit_per_task=64)


def test_sft_lowers_response_loss_and_writes_a_run_card(tmp_path, small_tokenizer, title_rows):
    cfg = LlamaConfig(vocab_size=len(small_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
                      pad_token_id=small_tokenizer.pad_token_id, eos_token_id=small_tokenizer.eos_token_id)
    model = LlamaForCausalLM(cfg)
    test = title_rows[-16:]
    before = response_loss(model, small_tokenizer, test)
    result = run_sft(model, small_tokenizer, title_rows[:-16], SFTSettings(learning_rate=3e-3, max_steps=30,
                     batch_size=8, progress=False, logging_steps=10), tmp_path / "sft", val_rows=test)
    after = response_loss(result.model, small_tokenizer, test)
    assert after < before - 0.5  # from ~ln(vocab) towards the answers' token statistics
    assert result.card["tokens"] > 0 and result.card["kind"] == "sft"
    assert any("eval_loss" in row for row in result.history)
    assert result.card_path.exists()


@pytest.mark.parametrize("padding_free", [False, True])
def test_model_loss_trains_like_trls_fused_head(tmp_path, small_tokenizer, title_rows, padding_free):
    """`fused_lm_head=False` (the model's own loss) must give TRL's loss curve, token count and weights."""
    import torch

    runs = {}
    for fused in (True, False):
        torch.manual_seed(0)
        cfg = LlamaConfig(vocab_size=len(small_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
                          pad_token_id=small_tokenizer.pad_token_id, eos_token_id=small_tokenizer.eos_token_id)
        settings = SFTSettings(learning_rate=3e-3, max_steps=6, batch_size=8, progress=False, logging_steps=1,
                               padding_free=padding_free, fused_lm_head=fused)
        runs[fused] = run_sft(LlamaForCausalLM(cfg), small_tokenizer, title_rows, settings, tmp_path / str(fused))
    losses = {f: [row["loss"] for row in r.history if "loss" in row] for f, r in runs.items()}
    assert len(losses[True]) == 6
    assert losses[False] == pytest.approx(losses[True], abs=2e-3)
    assert runs[False].card["tokens"] == runs[True].card["tokens"] > 0
    accuracy = [row["mean_token_accuracy"] for row in runs[False].history if "mean_token_accuracy" in row]
    assert len(accuracy) == 6 and all(0 <= a <= 1 for a in accuracy)
    for a, b in zip(runs[True].model.parameters(), runs[False].model.parameters()):
        assert torch.allclose(a, b, atol=1e-3)
