"""ftlab.lessons.forgetting: the probe, replay mixing, the Fisher and EWC penalty on hand-computed cases, EWC's pull
towards the base weights, and the forgetting-curve callback inside run_sft."""
import inspect
import math
from dataclasses import replace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer

from ftlab.core.corpus import load_general
from ftlab.core.data import validate_rows
from ftlab.lessons.forgetting import (EWC, REPLAY_PROMPTS, EWCTrainer, ForgettingCurve, arm_overrides, early_stop_step, ewc_penalty, fisher_diagonal, lm_loss, replay_count, run_ewc_sft, squared_gradients, with_replay)
from ftlab.core.settings import ForgettingSettings
from ftlab.core.general_ability import blocks_loss, chance_level, general_blocks, general_probe, gloss_of, probe_items
from ftlab.core.instructions import load_instructions
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft


@pytest.fixture(scope="module")
def wordnet_heldout():
    return load_general("heldout", source="wordnet")


@pytest.fixture(scope="module")
def title_rows():
    return load_instructions("train", ("title",), limit_per_task=48)


def _tiny_llama(tokenizer, seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(cfg)


def _line(w, b):
    """A 2-parameter model y = w*x + b."""
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(w)
        model.bias.fill_(b)
    return model


def _squared_error(model, batch):
    x, t = batch
    return ((model(torch.tensor([[x]])) - t) ** 2).sum()


# ---- the probe ----

def test_probe_items_are_deterministic_and_well_formed(wordnet_heldout):
    items = probe_items(30, seed=3, docs=wordnet_heldout)
    assert items == probe_items(30, seed=3, docs=wordnet_heldout)
    assert [it["id"] for it in items] != [it["id"] for it in probe_items(30, seed=4, docs=wordnet_heldout)]
    by_id = {d["id"]: d for d in wordnet_heldout}
    gloss_pos = {gloss_of(d): d["id"].split(":")[1][0] for d in wordnet_heldout}
    for it in items:
        doc = by_id[it["id"]]
        assert len(it["choices"]) == 4 and len(set(it["choices"])) == 4
        assert it["choices"][it["answer"]] == gloss_of(doc) and it["word"] == doc["title"]
        assert it["word"].lower() not in gloss_of(doc).lower()
        assert {gloss_pos[c] for c in it["choices"]} == {doc["id"].split(":")[1][0]}  # same part of speech
        assert all('; "' not in c and c for c in it["choices"])  # definitions only, no example sentences
    assert len({it["answer"] for it in items}) > 1  # the true gloss is not always in the same place
    assert chance_level(items) == pytest.approx(1 / 4)


def test_tiny_base_passes_the_probe_well_above_chance():
    from ftlab.core.models import load

    model, tok = load("tiny")
    items = probe_items(60, seed=11)
    accuracy = general_probe(model, tok, items)
    assert accuracy > chance_level(items) + 0.2


def test_probe_scores_are_exact_log_likelihoods(small_tokenizer):
    from ftlab.core.general_ability import continuation_logprobs

    model = _tiny_llama(small_tokenizer).eval()
    prompt, cont = "dog:", " a domesticated animal"
    batched = continuation_logprobs(model, small_tokenizer, [(prompt, cont), ("x:", " a much longer text here")])
    ids = small_tokenizer(prompt)["input_ids"] + small_tokenizer(cont, add_special_tokens=False)["input_ids"]
    n_prompt = len(small_tokenizer(prompt)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], -1)
    by_hand = sum(logp[t - 1, ids[t]].item() for t in range(n_prompt, len(ids)))
    assert batched[0] == pytest.approx(by_hand, abs=1e-4)  # padding in the batch changes nothing


# ---- replay ----

def test_replay_ratio_is_exact_and_rows_are_valid_chat(title_rows, small_tokenizer):
    docs = load_general("train", limit=200, source="wikipedia") + load_general("train", limit=200, source="wordnet")
    task = title_rows[:45]
    mixed = with_replay(task, docs, 0.25, seed=1)
    general = [r for r in mixed if r.get("task") == "replay"]
    assert len(general) / len(mixed) == 0.25 and len(mixed) == 60
    assert sorted(map(id, (r for r in mixed if r.get("task") != "replay"))) == sorted(map(id, task))
    assert mixed == with_replay(task, docs, 0.25, seed=1) and mixed != with_replay(task, docs, 0.25, seed=2)
    validate_rows(mixed)
    texts = {d["id"]: d for d in docs}
    for row in general:
        doc = texts[row["source_id"]]
        user, assistant = row["messages"]
        assert user["content"] == REPLAY_PROMPTS[doc["source"]]
        assert doc["text"].startswith(assistant["content"]) and assistant["content"]
    assert sorted(map(id, with_replay(task, docs, 0.0))) == sorted(map(id, task))  # ratio 0: the task rows only
    fitting = with_replay(task, docs, 0.25, seed=1, tokenizer=small_tokenizer, max_length=96)
    fitted = [r for r in fitting if r.get("task") == "replay"]
    assert len(fitted) == len(general)  # the share stays exact: long documents are passed over, not cut short
    assert max(len(small_tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
               for r in fitted) <= 96
    assert {r["source_id"] for r in fitted} != {r["source_id"] for r in general}  # some were too long
    for n_task, ratio in [(190, 0.05), (3511, 0.25), (100, 0.5)]:
        n = replay_count(n_task, ratio)
        assert abs(n / (n + n_task) - ratio) <= 0.5 / (n + n_task)  # within half a row of the asked share
    with pytest.raises(ValueError):
        replay_count(10, 1.0)


# ---- EWC: hand-computed cases ----

def test_fisher_diagonal_of_a_two_parameter_model_by_hand():
    # y = 0.5x + 0.5, squared error. Batch (x=1, t=0): residual 1, grads (w, b) = (2r x, 2r) = (2, 2).
    # Batch (x=2, t=1): residual 0.5, grads = (2, 1). Mean squares: w (4 + 4)/2 = 4, b (4 + 1)/2 = 2.5.
    fisher = squared_gradients(_line(0.5, 0.5), [(1.0, 0.0), (2.0, 1.0)], _squared_error)
    assert fisher["weight"].item() == pytest.approx(4.0)
    assert fisher["bias"].item() == pytest.approx(2.5)


def test_fisher_diagonal_of_an_lm_matches_autograd(small_tokenizer, small_docs):
    model = _tiny_llama(small_tokenizer)
    fisher = fisher_diagonal(model, small_tokenizer, small_docs, batches=2, batch_size=2, seq_len=32)
    blocks = general_blocks(small_tokenizer, small_docs, 4, 32)
    params = [p for p in model.parameters()]
    grads = [torch.autograd.grad(lm_loss(model, blocks[i:i + 2]), params) for i in (0, 2)]
    names = [n for n, _ in model.named_parameters()]
    for k, name in enumerate(names):
        assert torch.allclose(fisher[name], (grads[0][k] ** 2 + grads[1][k] ** 2) / 2, rtol=1e-4, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())  # leaves no gradients behind


def test_ewc_penalty_and_its_gradient_by_hand():
    # lambda/2 * (F_w (w - w*)^2 + F_b (b - b*)^2) = 4/2 * (2 * (3-1)^2 + 0.5 * (1+1)^2) = 2 * (8 + 2) = 20;
    # gradient lambda F (theta - theta*): w 4*2*2 = 16, b 4*0.5*2 = 4.
    model = _line(3.0, 1.0)
    ewc = EWC({"weight": torch.tensor([[2.0]]), "bias": torch.tensor([0.5])},
              {"weight": torch.tensor([[1.0]]), "bias": torch.tensor([-1.0])}, lam=4.0)
    penalty = ewc_penalty(model, ewc)
    penalty.backward()
    assert penalty.item() == pytest.approx(20.0)
    assert model.weight.grad.item() == pytest.approx(16.0) and model.bias.grad.item() == pytest.approx(4.0)
    assert ewc_penalty(model, EWC.from_model(model, ewc.fisher, 4.0)).item() == 0.0  # zero at the anchor


def test_ewc_trainer_adds_the_penalty_to_the_training_loss_only(tmp_path, small_tokenizer, small_docs, title_rows):
    from trl import SFTTrainer

    from ftlab.core.train import sft_config, to_dataset

    model = _tiny_llama(small_tokenizer)
    fisher = fisher_diagonal(model, small_tokenizer, small_docs, batches=1, batch_size=2, seq_len=32)
    ewc = EWC.from_model(model, fisher, lam=1e3)
    with torch.no_grad():  # move away from the anchor so the penalty is not zero
        for p in model.parameters():
            p.add_(0.05)
    args = sft_config(SFTSettings(batch_size=4, max_steps=1, progress=False), tmp_path, False, torch.device("cpu"))
    trainer = EWCTrainer(model=model, args=args, train_dataset=to_dataset(title_rows[:8]),
                         processing_class=small_tokenizer, ewc=ewc)
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    model.train()
    with_penalty = trainer.compute_loss(model, dict(inputs)).item()
    plain = SFTTrainer.compute_loss(trainer, model, dict(inputs)).item()
    expected = ewc_penalty(model, ewc).item()
    assert expected > 0.01
    assert with_penalty - plain == pytest.approx(expected, rel=1e-4)
    model.eval()
    assert trainer.compute_loss(model, dict(inputs)).item() == pytest.approx(plain, rel=1e-5)
    assert list(inspect.signature(EWCTrainer.compute_loss).parameters) == \
        list(inspect.signature(Trainer.compute_loss).parameters)


def test_ewc_keeps_the_weights_near_the_anchor(tmp_path, small_tokenizer, small_docs, title_rows):
    settings = SFTSettings(learning_rate=3e-3, max_steps=8, batch_size=8, progress=False, logging_steps=4)
    distances = {}
    for lam in (0.0, 1e6):
        model = _tiny_llama(small_tokenizer)
        fisher = fisher_diagonal(model, small_tokenizer, small_docs, batches=2, batch_size=4, seq_len=64)
        ewc = EWC.from_model(model, fisher, lam)
        result = run_ewc_sft(model, small_tokenizer, title_rows, settings, tmp_path / f"ewc{lam}", ewc)
        distances[lam] = ewc_penalty(result.model, replace(ewc, lam=2.0)).item()  # sum F (theta - theta*)^2
        assert result.card["metrics"]["ewc_lambda"] == lam
    assert distances[0.0] > 0
    assert distances[1e6] < 0.5 * distances[0.0]


# ---- the forgetting curve ----

def test_forgetting_curve_records_at_the_right_steps(tmp_path, small_tokenizer, small_docs, title_rows):
    model = _tiny_llama(small_tokenizer)
    blocks = general_blocks(small_tokenizer, small_docs, 4, 64)
    before = blocks_loss(model, blocks)
    curve = ForgettingCurve(small_tokenizer, every=2, blocks=blocks, task_rows=title_rows[:8])
    result = run_sft(model, small_tokenizer, title_rows, SFTSettings(learning_rate=3e-3, max_steps=5, batch_size=8,
                     progress=False, logging_steps=5), tmp_path / "sft", callbacks=[curve])
    assert [r["step"] for r in curve.rows] == [0, 2, 4, 5]
    assert curve.rows[0]["general_loss"] == pytest.approx(before)
    assert curve.rows[-1]["general_loss"] == pytest.approx(blocks_loss(result.model, blocks))
    assert curve.rows[-1]["task_loss"] < curve.rows[0]["task_loss"]
    assert all(math.isfinite(r["general_loss"]) for r in curve.rows)
    with pytest.raises(ValueError):
        ForgettingCurve(small_tokenizer, every=0, blocks=blocks)


def test_early_stop_step_takes_the_earliest_step_with_most_of_the_task_gain():
    curve = [{"step": s, "task_loss": t, "general_loss": g}
             for s, t, g in [(0, 4.0, 3.5), (10, 1.5, 3.8), (20, 0.5, 4.1), (30, 0.25, 4.3), (40, 0.2, 4.4)]]
    gain = curve[0]["task_loss"] - min(r["task_loss"] for r in curve)
    step = early_stop_step(curve, share=0.9)
    chosen = next(r for r in curve if r["step"] == step)
    assert curve[0]["task_loss"] - chosen["task_loss"] >= 0.9 * gain
    assert all(curve[0]["task_loss"] - r["task_loss"] < 0.9 * gain for r in curve if r["step"] < step)
    assert early_stop_step(curve, share=1.0) == max(curve, key=lambda r: -r["task_loss"])["step"]


def test_arm_overrides_change_one_thing_each():
    from ftlab.core.profiles import active

    profile, fs = active("tiny"), ForgettingSettings(steps=40)
    full = arm_overrides(profile, "full", fs)
    assert full == {"learning_rate": profile.peft_learning_rates["full"], "max_steps": 40}
    low = arm_overrides(profile, "low_lr", fs)["learning_rate"]
    assert low == pytest.approx(full["learning_rate"] * fs.low_lr_factor)
    assert arm_overrides(profile, "short", fs)["max_steps"] == round(40 * fs.short_share)
    assert arm_overrides(profile, "lora", fs)["learning_rate"] == profile.peft_learning_rates["lora"]
    assert arm_overrides(profile, "replay", fs) == arm_overrides(profile, "ewc", fs) == full
    with pytest.raises(ValueError):
        arm_overrides(profile, "dropout", fs)
    assert arm_overrides(profile, "full", ForgettingSettings(learning_rate=5e-4))["learning_rate"] == 5e-4


def test_a_profile_without_typed_rates_trains_full_and_lora_at_its_sweeps_winners():
    from ftlab.core.lr_sweeps import load_sweep
    from ftlab.core.profiles import active

    profile, fs = active("smol"), ForgettingSettings()
    assert not profile.peft_learning_rates
    best = load_sweep("smol")["best"]
    assert arm_overrides(profile, "full", fs)["learning_rate"] == best["full"] != profile.sft.learning_rate
    assert arm_overrides(profile, "lora", fs)["learning_rate"] == best["lora"]
