import math

import pytest
import torch

from ftlab.core.settings import PretrainConfig, TinyLlamaShape
from ftlab.lessons.pretraining import lr_at, pretrain, unigram_perplexity


def small_cfg(**overrides) -> PretrainConfig:
    shape = TinyLlamaShape(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, max_position_embeddings=64)
    base = dict(shape=shape, steps=30, batch_size=8, seq_len=64, lr=3e-3, warmup_steps=3, eval_every=10,
                eval_blocks=8, checkpoint_every=10, bf16=False, threads=1)
    return PretrainConfig(**{**base, **overrides})


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = PretrainConfig(steps=1000, warmup_steps=100, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx(0.55e-3)
    assert lr_at(1000, cfg) == pytest.approx(1e-4)


def test_unigram_perplexity_matches_a_hand_computed_value():
    # counts+1 = [3, 2, 1] of 6: p(token 0) = 1/2, so held-out [0, 0] has perplexity 2
    assert unigram_perplexity(torch.tensor([0, 0, 1]), torch.tensor([0, 0]), 3) == pytest.approx(2.0)


def test_pretraining_lowers_heldout_loss_below_uniform_and_unigram(tmp_path, small_docs, small_tokenizer):
    res = pretrain(small_cfg(steps=200, eval_every=50), tmp_path / "run", tokenizer=small_tokenizer,
                   train_docs=small_docs[:-40], heldout_docs=small_docs[-40:], progress=False)
    first, last = res.history[0]["heldout_loss"], res.history[-1]["heldout_loss"]
    assert last < first - 0.3 and last < math.log(512) - 0.8
    assert res.card["heldout_perplexity"] < res.card["unigram_heldout_perplexity"] < 512
    assert res.run_card_path.exists()


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, small_docs, small_tokenizer):
    kw = dict(tokenizer=small_tokenizer, train_docs=small_docs[:-40], heldout_docs=small_docs[-40:], progress=False)
    straight = pretrain(small_cfg(), tmp_path / "a", **kw)
    pretrain(small_cfg(), tmp_path / "b", until_step=10, **kw)
    resumed = pretrain(small_cfg(), tmp_path / "b", **kw)
    assert [r["step"] for r in resumed.history] == [10, 20, 30]
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert math.isclose(straight.card["heldout_loss"], resumed.card["heldout_loss"], rel_tol=1e-6)
