"""ftlab.core.speed.tokencache: each conversation is templated once per process, and TRL prepares a training set once."""
import pytest

from ftlab.core.speed import tokencache
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.models import load
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft


@pytest.fixture()
def fresh_caches(monkeypatch):
    monkeypatch.setattr(tokencache, "_templated", tokencache.OrderedDict())
    monkeypatch.setattr(tokencache, "_prepared", tokencache.OrderedDict())


def test_templated_matches_the_tokenizer_and_renders_once(fresh_caches, monkeypatch):
    _, tok = load("tiny")
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=3)
    calls = []
    real = type(tok).apply_chat_template
    monkeypatch.setattr(type(tok), "apply_chat_template", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    first = [tokencache.templated(tok, r["messages"], tokenize=True, return_dict=True)["input_ids"] for r in rows]
    again = [tokencache.templated(load("tiny")[1], r["messages"], tokenize=True, return_dict=True)["input_ids"]
             for r in rows]  # a freshly loaded copy of the same tokenizer shares the cache
    assert first == again == [real(tok, r["messages"], tokenize=True, return_dict=True)["input_ids"] for r in rows]
    assert len(calls) == len(rows)  # rendered once each, though two tokenizer objects asked
    text = tokencache.templated(tok, rows[0]["messages"][:-1], tokenize=False, add_generation_prompt=True)
    assert isinstance(text, str) and text.endswith("assistant\n")  # other arguments are other entries


def test_a_second_run_on_the_same_rows_reuses_trls_prepared_dataset(tmp_path, fresh_caches):
    rows = load_instructions("train", GROUNDED_TASKS, limit_per_task=8)
    settings = SFTSettings(learning_rate=1e-3, max_steps=2, batch_size=8, padding_free=True, fused_lm_head=False,
                           progress=False)
    results = []
    for run in range(2):
        model, tok = load("tiny")
        results.append(run_sft(model, tok, rows, settings, tmp_path / str(run)))
    assert len(tokencache._prepared) == 1
    losses = [[h["loss"] for h in r.history if "loss" in h] for r in results]
    assert losses[0] == losses[1] and results[0].card["tokens"] == results[1].card["tokens"] > 0
    model, tok = load("tiny")
    run_sft(model, tok, rows[:16], settings, tmp_path / "other rows")
    assert len(tokencache._prepared) == 2  # other rows are prepared anew
