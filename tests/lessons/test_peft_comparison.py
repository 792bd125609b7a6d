"""ftlab.lessons.peft_comparison and ftlab.core.bottleneck: what notebook 05 measures, checked on the tiny base."""
import pytest
import torch

from ftlab.core.models import load
from ftlab.lessons.peft_comparison import max_logit_difference, merged_copy, relative, saved_bytes
from ftlab.core.settings import PeftOptions
from ftlab.core.peft_methods import build, trainable_parameters


def _rows(n=3):
    return [{"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}]}
            for t in ("Name the capital of France.", "dog: a domesticated animal", "Count the words here.")[:n]]


def _nudge(model):
    """Move every trainable tensor off its initial value, so an adapter really changes the outputs."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)


def test_bottleneck_adapters_start_as_the_identity_and_then_change_the_model():
    base, tok = load("tiny")
    adapted, _ = build("tiny", "adapters", PeftOptions(adapter_size=8))
    batch = tok(["The capital of France is Paris."], return_tensors="pt")
    with torch.no_grad():
        same = (base(**batch).logits - adapted(**batch).logits).abs().max()
        _nudge(adapted)
        moved = (base(**batch).logits - adapted(**batch).logits).abs().max()
    assert same < 1e-5  # the up-projection starts at zero
    assert moved > 1e-2
    trainable, _ = trainable_parameters(adapted)
    layers, hidden = base.config.num_hidden_layers, base.config.hidden_size
    assert trainable == layers * 2 * (2 * 8 * hidden + 8 + hidden)


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_merging_gives_the_same_logits(method):
    model, tok = build("tiny", method)
    _nudge(model)
    model.eval()
    merged = merged_copy(model, method)
    rows = _rows()
    with model.disable_adapter(), torch.no_grad():
        enc = tok([r["messages"][0]["content"] for r in rows], return_tensors="pt", padding=True)
        base_logits = model(**enc).logits
    assert (model(**enc).logits - base_logits).abs().max() > 1e-3  # the adapter matters
    assert max_logit_difference(model, merged, tok, rows) < 1e-4  # and folds into the weights exactly


def test_methods_that_cannot_merge_say_so():
    for method in ("full", "adapters", "prefix", "prompt"):
        assert merged_copy(object(), method) is None


@pytest.mark.parametrize("method", ["lora", "adapters", "full"])
def test_saved_size_is_what_the_method_trained(method, tmp_path):
    model, _ = build("tiny", method)
    size = saved_bytes(model, method, tmp_path)
    trainable, _ = trainable_parameters(model)
    assert trainable * 4 <= size < trainable * 4 + 64 * 1024  # fp32 tensors plus a small safetensors header


def test_run_sft_refuses_packing_rows_for_prompt_tuning(tmp_path):
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    model, tok = build("tiny", "prompt")
    rows = _rows()
    with pytest.raises(ValueError, match="padding-free"):
        run_sft(model, tok, rows, SFTSettings(max_steps=1, padding_free=True), tmp_path)


def test_relative_quality_propagates_the_spread():
    ratio, err = relative((0.3, 0.03), (0.4, 0.04))
    assert ratio == pytest.approx(0.75)
    assert err == pytest.approx(0.75 * (0.1 ** 2 + 0.1 ** 2) ** 0.5)


def test_a_model_trained_with_bf16_comes_back_without_the_autocast_wrapper(tmp_path):
    """accelerate wraps forward in autocast for bf16 training; run_sft must hand back the plain model, or
    its outputs differ from a merged or reloaded copy of the same weights."""
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    model, tok = build("tiny", "lora")
    result = run_sft(model, tok, _rows() * 6, SFTSettings(max_steps=2, batch_size=4, bf16=True, learning_rate=1e-2,
                                                         progress=False), tmp_path)
    trained = result.model.eval()
    merged = merged_copy(trained, "lora")
    assert "_original_forward" not in trained.__dict__
    assert max_logit_difference(trained, merged, tok, _rows()) < 1e-4


def test_a_merged_copy_of_a_trained_model_no_longer_depends_on_the_original(tmp_path):
    """TRL leaves a forward bound to the trained object; run_sft removes it, so a merged copy is independent."""
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    model, tok = build("tiny", "lora")
    trained = run_sft(model, tok, _rows() * 6, SFTSettings(max_steps=2, batch_size=4, learning_rate=1e-2,
                                                           progress=False), tmp_path).model.eval()
    _nudge(trained)
    merged = merged_copy(trained, "lora")
    rows = _rows()
    enc = tok([r["messages"][0]["content"] for r in rows], return_tensors="pt", padding=True)
    with torch.no_grad():
        before = merged(**enc).logits
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.zero_()  # switch the original's adapter off
        assert (trained(**enc).logits - before).abs().max() > 1e-3
        assert torch.equal(merged(**enc).logits, before)



def test_two_sweeps_of_other_methods_fill_one_file_and_resume_from_it(tmp_path, monkeypatch):
    """bench/peft_lr_sweep.py --methods: one process per core, each adding its points to the same file; a
    rerun trains nothing already there, and every winner is an interior minimum of its (widened) grid."""
    import json
    import math

    import ftlab.lessons.peft_comparison as pc
    from ftlab.core.profiles import active

    trained = []
    best = {"full": 1e-3, "lora": 3e-3}

    def point(profile, method, lr, train, val, seed=0):
        trained.append((method, lr))
        return abs(math.log(lr / best[method]))  # lowest at the method's best rate

    monkeypatch.setattr(pc, "sweep_point", point)
    out = tmp_path / "peft_lr_sweep_tiny.json"
    tiny = active("tiny")
    pc.lr_sweep(tiny, {"full": (3e-4, 1e-3, 3e-3)}, [], [1], out=out)
    pc.lr_sweep(tiny, {"lora": (3e-4, 1e-3)}, [], [1], out=out)  # widens up to 3e-3, then 1e-2
    saved = json.loads(out.read_text())
    assert set(saved["losses"]) == {"full", "lora"} and saved["best"] == {"full": 1e-3, "lora": 3e-3}
    assert sorted(float(k) for k in saved["losses"]["lora"]) == [3e-4, 1e-3, 3e-3, 1e-2]
    trained.clear()
    again = pc.lr_sweep(tiny, {"full": (3e-4, 1e-3, 3e-3), "lora": (3e-4, 1e-3)}, [], [1], out=out)
    assert trained == [] and again["best"] == saved["best"]
