import torch

from ftlab.core.peft_methods import build, trainable_parameters
from ftlab.core.throughput import run_mfu, training_flops_per_token


def test_flops_per_token_is_6n_for_full_and_less_with_frozen_weights():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20, bias=False), torch.nn.Linear(20, 5, bias=False))
    assert training_flops_per_token(model) == 6 * 300  # 2N forward + 4N backward
    model[0].weight.requires_grad_(False)
    assert training_flops_per_token(model) == 4 * 300 + 2 * 100  # no weight gradient for the frozen 200


def test_qlora_counts_the_4bit_weights_at_their_logical_size():
    full, _ = build("tiny", "full")
    qlora, _ = build("tiny", "qlora")
    trainable, _ = trainable_parameters(qlora)
    n_full = sum(p.numel() for p in full.parameters())
    # every base weight counted once (unpacked), plus the LoRA factors
    assert training_flops_per_token(qlora) == 4 * (n_full + trainable) + 2 * trainable


def test_mfu_is_model_flops_over_the_peak_of_the_precision_it_ran_in(monkeypatch):
    """No clock: the peaks are given, so the arithmetic is checked on any machine, however busy. A 1024x1024
    linear layer costs 6 x 1,048,576 = 6,291,456 FLOPs a token; at 1,000 tokens/s that is 6.291456 GFLOP/s,
    MFU 0.0629 against a 100 GFLOP/s fp32 peak and 0.0157 against a 400 GFLOP/s bf16 one."""
    from ftlab.core import throughput

    peaks = {False: 100e9, True: 400e9}
    monkeypatch.setattr(throughput, "precision_peak_flops", lambda bf16, device="cpu": peaks[bf16])
    model = torch.nn.Linear(1024, 1024, bias=False)
    fp32 = run_mfu(model, 1000.0, bf16=False, device="cpu")
    assert fp32 == {"mfu": 0.06291456, "peak_flops": 100e9, "peak_dtype": "fp32", "model_flops_per_s": 6.291456e9,
                    "flops_per_token": 6291456.0, "fp32_peak_flops": 100e9, "mfu_vs_fp32_peak": 0.06291456}
    bf16 = run_mfu(model, 1000.0, bf16=True, device="cpu")
    assert (bf16["mfu"], bf16["peak_dtype"], bf16["mfu_vs_fp32_peak"]) == (0.01572864, "bf16", 0.06291456)


def test_the_measured_matmul_peak_is_a_positive_rate():
    """Only that the timed loop measures something: its speed depends on the machine and its load."""
    from ftlab.core.throughput import matmul_peak_flops

    assert matmul_peak_flops(torch.float32, n=64, seconds=0.05) > 0
