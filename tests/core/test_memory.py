"""ftlab.core.memory: the predictor against real models and real measurements, and the preflight that uses it."""
from dataclasses import replace

import pytest
import torch

from ftlab.core import memory, memprobe
from ftlab.core.memory import ModelShape, WontFit, estimate, trainable_tensors
from ftlab.core.settings import TrainSetup
from ftlab.core.settings import PeftOptions
from ftlab.core.peft_methods import wrap


def _meta_model(name):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(memory.model_config(name))


@pytest.mark.parametrize("name", memory.config_names())
def test_parameter_count_matches_the_instantiated_model(name):
    counted = sum(p.numel() for p in _meta_model(name).parameters())
    assert ModelShape.of(name).params() == counted


@pytest.mark.parametrize("method", ["lora", "ia3", "prompt", "prefix"])
def test_trainable_parameters_match_peft(method):
    options = PeftOptions(lora_r=4, lora_targets=("q_proj", "k_proj", "down_proj"), virtual_tokens=7)
    for name in ("tiny", "smollm2-135m"):  # smollm2 has grouped-query attention (9 heads, 3 kv heads)
        peft_model = wrap(_meta_model(name), method, options)
        counted = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        assert sum(trainable_tensors(ModelShape.of(name), TrainSetup(method=method, peft=options))) == counted


@pytest.mark.parametrize("setup", [
    TrainSetup(method="full", batch_size=2, seq_len=64),
    TrainSetup(method="lora", batch_size=2, seq_len=64, gradient_checkpointing=True),
], ids=["full", "lora-ckpt"])
def test_prediction_agrees_with_a_measured_training_step(setup):
    measured = memprobe.measure("tiny", setup)
    predicted = estimate("tiny", setup)
    assert measured["trainable_params"] == predicted.trainable_params
    assert abs(predicted.total - measured["peak_bytes"]) / measured["peak_bytes"] < 0.05


def test_probes_two_at_a_time_measure_what_one_at_a_time_does():
    setups = [TrainSetup(method="full", batch_size=2, seq_len=64), TrainSetup(method="ia3", batch_size=4, seq_len=32)]
    alone = [memprobe.measure("tiny", s)["peak_bytes"] for s in setups]
    together = [r["peak_bytes"] for r in memprobe.measure_all("tiny", setups, workers=2)]
    assert together == alone and alone[0] != alone[1]  # same peaks, in the order asked


def test_a_probe_forked_from_the_warm_server_measures_what_a_cold_process_does():
    import json
    import subprocess
    import sys
    from dataclasses import asdict

    setup = TrainSetup(method="lora", batch_size=2, seq_len=64)
    cold = subprocess.run([sys.executable, "-m", "ftlab.core.memprobe", json.dumps({"model": "tiny", "setup": asdict(setup)})],
                          capture_output=True, text=True, check=True)
    cold_peak = json.loads(cold.stdout.strip().splitlines()[-1])["peak_bytes"]
    warm = [memprobe.measure("tiny", setup)["peak_bytes"] for _ in range(2)]  # the second reuses the server
    assert warm == [cold_peak, cold_peak] and cold_peak > 0


def test_a_failing_or_overrunning_probe_is_an_error_naming_its_setup(tmp_path):
    import os
    import threading

    bad = TrainSetup(method="full", batch_size=2, seq_len=64, optimizer="adamw")
    object.__setattr__(bad, "optimizer", "no-such-optimizer")  # past TrainSetup's own check, to fail in the probe
    with pytest.raises(RuntimeError, match="no-such-optimizer(.|\\n)*unknown optimizer"):
        memprobe.measure("tiny", bad)
    # A probe that can never finish, however fast the machine: its model config is a named pipe nobody writes to,
    # so reading it blocks until the time limit kills the probe.
    never = tmp_path / "config.json"
    os.mkfifo(never)
    box = {}

    def overrun():
        try:
            memprobe.measure(str(never), TrainSetup(method="full", batch_size=2, seq_len=64), timeout_s=1)
        except RuntimeError as err:
            box["error"] = str(err)

    worker = threading.Thread(target=overrun, daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # the limit did not stop it: end the read so the server serves the next tests
        with open(never, "w"):
            pass
        worker.join(timeout=120)
    assert "killed after 1 s" in box.get("error", ""), box
    ok = TrainSetup(method="full", batch_size=2, seq_len=64)
    assert memprobe.measure("tiny", ok)["peak_bytes"] > 0  # the server still serves


def test_an_interrupted_request_never_answers_the_next_one(monkeypatch):
    from ftlab.core import memprobe

    setup = TrainSetup(method="full", batch_size=2, seq_len=64)
    expected = memprobe.measure("tiny", setup)["peak_bytes"]
    server = memprobe._warm_server()

    class Interrupted:
        def readline(self):
            raise KeyboardInterrupt  # what stopping a notebook cell does while the probe runs

    monkeypatch.setattr(server, "stdout", Interrupted())
    with pytest.raises(KeyboardInterrupt):
        memprobe.measure("tiny", TrainSetup(method="ia3", batch_size=4, seq_len=32))
    assert server.wait(timeout=30) != 0  # that server is gone, its late reply with it
    assert memprobe.measure("tiny", setup)["peak_bytes"] == expected  # a fresh server answers the new request


def test_live_tensor_bytes_and_profiled_rise_see_real_allocations():
    from ftlab.core.memprobe import live_tensor_bytes, profiled_rise

    before = live_tensor_bytes()
    kept = torch.ones(1024, 1024)  # 4 MiB
    assert abs(live_tensor_bytes() - before - kept.nbytes) < 64 * 1024
    rise = profiled_rise(lambda: (torch.ones(2048, 1024) * 2).sum())  # two 8 MiB temporaries, one after another
    assert 2 * 8 * 2**20 <= rise < 2 * 8 * 2**20 + 64 * 1024


def test_memory_grows_with_batch_and_shrinks_with_each_saving():
    base = TrainSetup(method="full", batch_size=8, seq_len=256)
    total = estimate("smollm2-135m", base).total
    assert estimate("smollm2-135m", replace(base, batch_size=16)).total > total
    for _, cheaper in memory.alternatives("smollm2-135m", base):
        assert estimate("smollm2-135m", cheaper).total < total


def test_largest_batch_is_the_boundary():
    setup = TrainSetup(method="lora", seq_len=512)
    budget = 2 * 2**30
    b = memory.largest_batch("smollm2-135m", setup, budget)
    assert b > 0
    assert estimate("smollm2-135m", replace(setup, batch_size=b)).total <= budget
    assert estimate("smollm2-135m", replace(setup, batch_size=b + 1)).total > budget


def test_preflight_refuses_with_the_estimate_and_options_that_fit():
    setup = TrainSetup(method="full", batch_size=16, seq_len=512)
    need = estimate("smollm2-135m", setup).total
    lora_need = estimate("smollm2-135m", replace(setup, method="lora")).total
    with pytest.raises(WontFit) as err:
        memory.preflight("smollm2-135m", setup, budget_bytes=(need + lora_need) // 2)
    message = str(err.value)
    assert memory.gib(need) in message and "LoRA instead of full fine-tuning" in message and "(fits)" in message
    with pytest.warns(ResourceWarning):
        memory.preflight("smollm2-135m", setup, budget_bytes=need // 2, allow=True)
    assert memory.preflight("smollm2-135m", setup, budget_bytes=need).total == need


def test_sft_refuses_before_training_when_the_run_cannot_fit(monkeypatch, tmp_path):
    from ftlab.core.models import load
    from ftlab.core.settings import SFTSettings
    from ftlab.core.train import run_sft

    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 20 * 2**20)
    model, tok = load("tiny")
    rows = [{"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "hi"}]}] * 4
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(WontFit, match="20.0 MiB is available"):
        run_sft(model, tok, rows, SFTSettings(max_steps=1, batch_size=4, progress=False), tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad, match", [
    (dict(method="houlsby"), "unknown PEFT method"), (dict(batch_size=0), "batch_size must be a positive"),
    (dict(seq_len=-1), "seq_len must be a positive"), (dict(precision="fp8"), "unknown precision"),
    (dict(method="prefix", gradient_checkpointing=True), "prefix tuning does not work"),
])
def test_bad_setups_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainSetup(**bad)


def test_unknown_model_config_names_the_choices():
    with pytest.raises(FileNotFoundError, match="llama-2-7b"):
        ModelShape.of("no-such-model")


def test_memory_calculator_follows_its_controls():
    from ftlab.course.widgets import MemoryCalculator

    calc = MemoryCalculator(model="llama-2-7b", method="full", gpu_gb=24)
    full = calc.total
    assert not calc.fits and calc.largest_batch == 0 and "does NOT fit" in calc.summary.value
    calc.method.value = "qlora"
    assert calc.total < full / 2 and calc.fits and calc.largest_batch >= calc.batch.value
    assert calc.total == estimate("llama-2-7b", calc.setup()).total
    smaller = calc.total
    calc.batch.value *= 2
    assert calc.total > smaller
    calc.gpu.value = 8
    assert calc.largest_batch < calc.batch.value and f"{calc.largest_batch}</b>" in calc.summary.value


@pytest.mark.parametrize("method", ["full", "lora", "prompt", "ia3"])
def test_setup_of_a_live_model_names_its_method(method):
    options = PeftOptions(lora_r=4, lora_targets=("k_proj", "q_proj"), virtual_tokens=5)
    model = wrap(_meta_model("tiny"), method, options)
    setup = memory.setup_of(model, batch_size=3, seq_len=77, bf16=True, gradient_checkpointing=False, device="cpu")
    assert (setup.method, setup.batch_size, setup.seq_len, setup.precision) == (method, 3, 77, "mixed")
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert estimate("tiny", setup).trainable_params == counted
