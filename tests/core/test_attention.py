"""Row-by-row attention for padding-free batches (ftlab.core.speed.attention) computes what the block-diagonal mask does."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ftlab.core.speed.attention import NAME, row_bounds, within_rows
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.models import load


def test_row_bounds_follow_the_position_restarts():
    ids = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]])
    assert row_bounds(ids, 9) == [(0, 3), (3, 5), (5, 9)]
    assert row_bounds(torch.arange(6)[None], 6) is None  # one row: nothing to split
    assert row_bounds(torch.stack([torch.arange(4), torch.arange(4)]), 4) is None  # a padded batch of two
    assert row_bounds(None, 4) is None
    assert row_bounds(torch.tensor([[5, 6, 0, 1]]), 4) == [(0, 2), (2, 4)]  # a row cut at the front still counts


def packed(tokenizer, rows):
    """Rows templated and put end to end, as TRL's padding-free collator does: ids, position ids, row lengths."""
    encs = [tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"] for r in rows]
    ids = torch.tensor([[t for e in encs for t in e]])
    positions = torch.tensor([[p for e in encs for p in range(len(e))]])
    return ids, positions, [len(e) for e in encs]


def forward(model, ids, positions, rows_only: bool):
    with within_rows(model, enabled=rows_only):
        return model(input_ids=ids, position_ids=positions, use_cache=False).logits  # as in training


@pytest.fixture(scope="module")
def tiny():
    return load("tiny")


def test_packed_rows_get_the_logits_each_row_gets_alone(tiny):
    model, tok = tiny
    model.eval()
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=2)
    ids, positions, lengths = packed(tok, rows)
    with torch.no_grad():
        by_rows = forward(model, ids, positions, rows_only=True)
        masked = forward(model, ids, positions, rows_only=False)  # transformers' block-diagonal SDPA
        alone = torch.cat([model(input_ids=ids[:, s:s + n]).logits
                           for s, n in zip([sum(lengths[:i]) for i in range(len(lengths))], lengths)], dim=1)
    assert len(lengths) == len(rows) > 2 and by_rows.shape == masked.shape
    assert (by_rows - masked).abs().max() < 1e-4
    assert (by_rows - alone).abs().max() < 1e-4
    # and without the split, rows would see each other: the same tokens with positions 0..n-1 differ widely
    with torch.no_grad():
        leaked = model(input_ids=ids, position_ids=torch.arange(ids.shape[1])[None]).logits
    assert (leaked - by_rows).abs().max() > 1.0


def test_gradients_match_and_grouped_query_attention_works():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                         attn_implementation="sdpa")
    model = LlamaForCausalLM(config)
    ids = torch.randint(0, 64, (1, 20))
    positions = torch.tensor([[*range(7), *range(5), *range(8)]])
    grads = []
    for rows_only in (True, False):
        model.zero_grad()
        with within_rows(model, enabled=rows_only):
            model(input_ids=ids, position_ids=positions, labels=ids, use_cache=False).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert (grads[0] - grads[1]).abs().max() < 1e-5
    assert grads[0].abs().max() > 1e-3  # the comparison is about real gradients


def test_within_rows_restores_the_models_attention_even_on_error(tiny):
    model, _ = tiny
    with pytest.raises(RuntimeError):
        with within_rows(model):
            assert model.config._attn_implementation == NAME
            raise RuntimeError("training failed")
    assert model.config._attn_implementation == "sdpa"
    eager = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, attn_implementation="eager"))
    with within_rows(eager):  # only SDPA models switch: eager attention is asked for on purpose
        assert eager.config._attn_implementation == "eager"


def test_sft_trains_the_same_with_row_attention(tmp_path):
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=12)
    losses = {}
    for rows_only in (True, False):
        torch.manual_seed(0)
        model, tok = load("tiny")
        settings = SFTSettings(learning_rate=1e-3, max_steps=4, batch_size=8, logging_steps=1, padding_free=True,
                               fused_lm_head=False, row_attention=rows_only, progress=False)
        result = run_sft(model, tok, rows, settings, tmp_path / str(rows_only))
        losses[rows_only] = [h["loss"] for h in result.history if "loss" in h]
        assert model.config._attn_implementation == "sdpa"  # what the trained model is saved and used with
    assert len(losses[True]) == 4 and losses[True][-1] < losses[True][0]
    assert max(abs(a - b) for a, b in zip(losses[True], losses[False])) < 1e-4
