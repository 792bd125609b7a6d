import torch

from ftlab.peft_methods import build, trainable_parameters
from ftlab.throughput import run_mfu, training_flops_per_token


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


def test_mfu_is_model_flops_over_the_measured_peak():
    model = torch.nn.Linear(1024, 1024, bias=False)
    x = torch.randn(512, 1024)
    start = __import__("time").perf_counter()
    for _ in range(5):
        model(x).sum().backward()
    tokens_per_s = 5 * 512 / (__import__("time").perf_counter() - start)
    got = run_mfu(model, tokens_per_s, bf16=False, device="cpu")
    assert got["mfu"] == got["model_flops_per_s"] / got["peak_flops"]
    # a plain 1024² matmul layer runs near the 1024² matmul peak: neither absurdly low nor above it
    assert 0.05 < got["mfu"] < 1.5
