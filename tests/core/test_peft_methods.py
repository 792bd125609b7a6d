"""ftlab.core.peft_methods: every method builds on the tiny base, trains only what it should, and LoRA merges exactly."""
import pytest
import torch

from ftlab.core.memory import ModelShape, trainable_tensors
from ftlab.core.settings import TrainSetup
from ftlab.core.settings import PeftOptions
from ftlab.core.peft_methods import build, trainable_parameters


def _batch(tok, n=4):
    texts = ["The capital of France is Paris.", "dog: a domesticated animal", "A quiet river runs south.",
             "Paris is a city in France."][:n]
    return tok(texts, return_tensors="pt", padding=True)


def _step(model, batch):
    """One AdamW step on `batch`; returns the loss and which parameters changed."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    return loss.item(), changed


def _base_logits(model, batch):
    """Outputs of the underlying base model with the adapter switched off (full FT: the model itself)."""
    if not hasattr(model, "disable_adapter"):
        return model(**batch).logits.detach()
    with model.disable_adapter():
        return model(**batch).logits.detach()


@pytest.mark.parametrize("method", ["full", "lora", "qlora", "prefix", "prompt", "ia3", "dora", "adapters"])
def test_each_method_trains_exactly_its_own_parameters(method):
    torch.manual_seed(0)
    model, tok = build("tiny", method, PeftOptions(lora_r=4))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    # bitsandbytes repacks 4-bit weights for its CPU kernel on first use: judge those by the base model's outputs
    packed = {n for n, p in model.named_parameters() if p.__class__.__name__ == "Params4bit"}
    batch = _batch(tok)
    # The base's outputs before training, from an identical copy: a forward of the model itself with nothing
    # requiring gradients would switch bitsandbytes' CPU 4-bit layers to a path without autograd (test below).
    base_before = _base_logits(build("tiny", method, PeftOptions(lora_r=4))[0], batch)
    loss, changed = _step(model, batch)
    assert torch.isfinite(torch.tensor(loss))
    assert changed - packed and changed - packed <= trainable  # only trainable parameters move
    if method not in ("full", "adapters"):  # (adapters cannot be switched off; the frozen weights are checked above)
        assert torch.allclose(base_before, _base_logits(model, batch), atol=1e-5)  # the frozen base is intact
    if method != "dora":  # the memory predictor does not model DoRA
        predicted = sum(trainable_tensors(ModelShape.of("tiny"), TrainSetup(method=method,
                                                                             peft=PeftOptions(lora_r=4))))
        assert trainable_parameters(model)[0] == predicted


def test_lora_merge_and_reload_give_the_same_outputs(tmp_path):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model, tok = build("tiny", "lora")
    batch = _batch(tok)
    for _ in range(3):  # move lora_B away from its zero init, so the adapter really changes the outputs
        _step(model, batch)
    model.eval()
    with torch.no_grad():
        unmerged = model(**batch).logits
        with model.disable_adapter():
            base = model(**batch).logits
        merged_model = model.merge_and_unload()
        merged = merged_model(**batch).logits
    merged_model.save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", local_files_only=True).eval()
    with torch.no_grad():
        again = reloaded(**batch).logits
    assert (unmerged - base).abs().max() > 1e-3  # the adapter matters...
    assert torch.allclose(unmerged, merged, atol=1e-4)  # ...and merging it into the weights changes nothing
    assert torch.allclose(merged, again, atol=1e-5)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown PEFT method 'houlsby'"):
        build("tiny", "houlsby")


def test_bitsandbytes_cpu_no_grad_forward_stops_qlora_gradients():
    """bitsandbytes 0.50.2 on a CPU with AVX-512 BF16: once a 4-bit layer has run a forward with nothing requiring
    gradients (an evaluation under torch.no_grad, or the adapter switched off), it repacks its weight for a fused
    inference kernel (Linear4bit.forward), later training forwards take that kernel without autograd, and the
    LoRA weights silently get no gradient. On other CPUs (AVX2 here, 2026-11-30) gradients keep flowing. ftlab
    therefore never evaluates a 4-bit model on CPU in the middle of training (run_sft). When the first branch
    fails, bitsandbytes has fixed it and that guard can go."""
    from bitsandbytes.functional import has_avx512bf16

    torch.manual_seed(0)
    model, tok = build("tiny", "qlora")
    batch = _batch(tok)
    model(**batch, labels=batch["input_ids"]).loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        model(**batch)
    model(**batch, labels=batch["input_ids"]).loss.backward()
    lost = [p.grad is None for p in model.parameters() if p.requires_grad]
    if has_avx512bf16():
        assert all(lost)
    else:
        assert not any(lost)


def test_run_sft_trains_qlora_on_cpu_without_mid_training_evaluation(tmp_path):
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    torch.manual_seed(0)
    model, tok = build("tiny", "qlora")
    rows = [{"messages": [{"role": "user", "content": f"Say {w}."}, {"role": "assistant", "content": w}]}
            for w in ("hi", "yes", "no", "ok")]
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    with pytest.warns(RuntimeWarning, match="does not evaluate while it trains"):
        result = run_sft(model, tok, rows, SFTSettings(max_steps=3, batch_size=4, eval_steps=1, progress=False,
                                                       learning_rate=1e-2), tmp_path, val_rows=rows)
    moved = [n for n, p in result.model.named_parameters() if n in lora and not torch.equal(lora[n], p.detach())]
    assert len(moved) == len(lora)  # every adapter trained, all three steps had gradients
    assert not any("eval_loss" in row for row in result.history)
