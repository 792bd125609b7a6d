"""ftlab.core.memory's predictor against numbers worked by hand (in the comments) and published figures, so that a
wrong byte count shows up here and not only as a changed notebook number.

Most tests use one small Llama-shaped model, S:
  vocab V=100, hidden h=8, intermediate i=16, L=2 layers, 2 query heads and 1 key/value head of head_dim d=4.
  q dim 2*4=8, k/v dim 1*4=4. Weights per layer: q 8x8=64, k 8x4=32, v 32, o 64, gate 8x16=128, up 128,
  down 128: 576. Untied embedding + LM head 2*100*8=1600, RMSNorm weights (2L+1)*8=40.
  Parameters: 1600 + 40 + 2*576 = 2792.
"""
from dataclasses import replace

import pytest

from ftlab.core import memory
from ftlab.core.memory import ModelShape, WontFit, estimate, trainable_tensors
from ftlab.core.settings import TrainSetup
from ftlab.core.settings import PeftOptions

S = ModelShape(vocab=100, hidden=8, intermediate=16, layers=2, heads=2, kv_heads=1, head_dim=4, tied=False)
LORA = PeftOptions(lora_r=2, lora_targets=("q_proj", "v_proj"), virtual_tokens=3, adapter_size=2)
B2S8 = dict(batch_size=2, seq_len=8)  # T = 16 tokens


def test_the_small_shape_by_hand():
    assert S.linear_sizes() == [64, 32, 32, 64, 128, 128, 128]
    assert [S.linear_shape(n) for n in ("q_proj", "k_proj", "o_proj", "down_proj")] == [(8, 8), (8, 4), (8, 8),
                                                                                          (16, 8)]
    assert (S.layer_linear_params(), S.embedding_params(), S.norm_params(), S.params()) == (576, 1600, 40, 2792)
    biased = replace(S, qkv_bias=True)  # q, k, v biases: (2 + 2*1) * 4 = 16 per layer
    assert (biased.layer_linear_params(), biased.params()) == (592, 2824)
    tied = replace(S, tied=True)  # one 100x8 matrix: 800 + 40 + 1152
    assert tied.params() == 1992


def test_shape_from_a_config_dict_and_its_defaults():
    c = {"vocab_size": 100, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
         "num_attention_heads": 2}
    assert ModelShape.from_dict(c) == ModelShape(100, 8, 16, 2, 2, 2, 4, False, False)  # kv heads = heads, d = 8/2
    full = dict(c, num_key_value_heads=1, head_dim=4, tie_word_embeddings=True, model_type="qwen2")
    assert ModelShape.from_dict(full) == ModelShape(100, 8, 16, 2, 2, 1, 4, True, True)  # qwen2: q/k/v biases
    assert ModelShape.from_dict(dict(full, attention_bias=False)).qkv_bias is False
    assert ModelShape.from_dict(dict(c, num_key_value_heads=None, head_dim=None)).kv_heads == 2


def test_llama_2_7b_parameters_are_the_published_count():
    # Llama-2-7b-hf: 6,738,415,616 parameters; with LoRA r=8 on q and v, PEFT prints "trainable params: 4,194,304
    # || all params: 6,742,609,920" (32 layers x 2 targets x 8 x (4096 + 4096))
    shape = ModelShape.of("llama-2-7b")
    assert shape.params() == 6_738_415_616
    assert sum(trainable_tensors(shape, TrainSetup(method="lora"))) == 4_194_304
    assert estimate(shape, TrainSetup(method="lora")).total_params == 6_742_609_920


@pytest.mark.parametrize("method, tensors", [
    # full: every weight, the two embedding matrices, the 5 norms
    ("full", [64, 32, 32, 64, 128, 128, 128] * 2 + [800, 800] + [8] * 5),
    # LoRA r=2 on q (8 -> 8) and v (8 -> 4): A is r x in, B is out x r
    ("lora", [16, 16, 16, 8] * 2),
    ("qlora", [16, 16, 16, 8] * 2),
    ("dora", [16, 16, 8, 16, 8, 4] * 2),  # + a magnitude per output of each target
    ("ia3", [4, 4, 16] * 2),  # k and v outputs, down_proj's input
    ("prompt", [3 * 8]),  # 3 virtual token embeddings
    ("prefix", [3 * 2 * 2 * 4]),  # 3 tokens x 2 layers x (key + value) x kv dim 4
    ("adapters", [16, 2, 16, 8] * 4),  # down 2x8 + bias 2, up 8x2 + bias 8; two per layer
])
def test_trainable_tensors_by_hand(method, tensors):
    assert trainable_tensors(S, TrainSetup(method=method, peft=LORA)) == tensors


def test_full_fine_tuning_fp32_every_term_by_hand():
    """Full fine-tuning, fp32, AdamW, batch 2 x 8 tokens (T = 16), SDPA, on a CPU.

    weights 4 B x 2792 = 11,168; AdamW two fp32 moments 8 B x 2792 + a 4 B step per tensor (21 tensors) = 22,420.
    Saved activations per token of a layer: two RMSNorms (fp32 input + 1/rms, and the normalised input for their
    own weight's gradient) 2 x (4x8 + 4 + 4x8) = 136; the attention and MLP inputs 2 x 4x8 = 64; SDPA's q, k, v,
    output and a log-sum-exp per head 4 x (2x8 + 2x4) + 4x2 = 104; the MLP's 4 fp32 intermediates 4x4x16 = 256:
    560. The head: final norm 68, the LM head input 32, ids 8, labels 8 = 116. RoPE cos and sin 2 x 8 x 4 x 4 B =
    256. Activations 16 x (2 x 560 + 116) + 256 = 20,032; logits buffers 16 x 12 x 100 = 19,200.
    Peak at the start of backward: 11,168 + 22,420 + 20,032 + 19,200 = 72,820."""
    got = estimate(S, TrainSetup(method="full", **B2S8))
    assert got.peak_phase == "start of backward"
    assert got.breakdown == {"weights": 11168, "quant_constants": 0, "optimizer_states": 22420, "gradients": 0,
                             "activations": 20032, "logits_buffers": 19200, "optimizer_temporaries": 0}
    assert got.total == 72820 and got.trainable_params == got.total_params == 2792


def test_one_token_peaks_at_the_optimizer_step():
    """Batch 1 x 1 token: activations 1 x 1236 + RoPE 32 are small, so the peak is the optimizer step: resident
    11,168 + 22,420, gradients 4 B x 2792 = 11,168, and torch's CPU AdamW's two temporaries of the largest tensor
    (the 800-element embedding) 2 x 4 x 800 = 6,400: 51,156. On CUDA the foreach path makes one temporary of
    every parameter instead: 4 x 2792 = 11,168 (55,924)."""
    got = estimate(S, TrainSetup(method="full", batch_size=1, seq_len=1))
    assert got.peak_phase == "optimizer step"
    assert got.breakdown == {"weights": 11168, "quant_constants": 0, "optimizer_states": 22420, "gradients": 11168,
                             "activations": 0, "logits_buffers": 0, "optimizer_temporaries": 6400}
    cuda = estimate(S, TrainSetup(method="full", batch_size=1, seq_len=1, device="cuda"))
    assert cuda.breakdown["optimizer_temporaries"] == 11168 and cuda.total == 55924


def test_backward_through_the_last_layer_phase_by_hand():
    """With gradient checkpointing only each layer's input is kept (4 B x 8 per token per layer): activations
    16 x (2 x 32 + 116) + 256 = 3,136, logits 19,200: start of backward 55,924. Backward through the last layer
    recomputes it (16 x 560 = 8,960) and adds the MLP gradients (16 x 4 x 4 x 16 = 4,096): 16,192 of activations,
    with the LM head's gradient 4 x 800 = 3,200 and half of the layers' (11,168 - 3,200) / 2 = 3,984: 7,184.
    Total 33,588 + 16,192 + 7,184 = 56,964, above the start of backward."""
    got = estimate(S, TrainSetup(method="full", gradient_checkpointing=True, **B2S8))
    assert got.peak_phase == "backward through the last layer"
    assert (got.breakdown["activations"], got.breakdown["gradients"], got.total) == (16192, 7184, 56964)


def test_tied_embeddings_peak_at_the_end_of_backward():
    """S with a tied 1000 x 8 embedding, on CUDA, one token: 8,000 + 40 + 1,152 = 9,192 parameters in 20 tensors.
    Resident: weights 4 x 9192 = 36,768, AdamW 8 x 9192 + 4 x 20 = 73,616. End of backward: all gradients
    36,768 + the embedding's own gradient and the sum autograd builds 2 x 4 x 8000 = 64,000: 211,152. The
    optimizer step (gradients + foreach temporaries 2 x 36,768: 183,920) stays below it."""
    got = estimate(replace(S, vocab=1000, tied=True), TrainSetup(method="full", batch_size=1, seq_len=1,
                                                                device="cuda"))
    assert got.peak_phase == "end of backward"
    assert (got.breakdown["gradients"], got.breakdown["optimizer_temporaries"], got.total) == (100768, 0, 211152)


def test_lora_every_term_by_hand():
    """LoRA r=2 on q and v, fp32, batch 2 x 8. Weights 4 x 2792 + the adapters' 4 x 112 = 11,616; AdamW on 8
    adapter tensors 8 x 112 + 4 x 8 = 928. Per token: the first layer keeps only the second norm's fp32 input
    and 1/rms 36 (its input needs no gradient), the attention input once for both adapters 32, each adapter's
    r=2 fp32 output 2 x 2 x 4 = 16, SDPA 104, and the MLP's three activations 3 x 4 x 16 = 192: 380. Later
    layers also keep the first norm's input: 416. Head: final norm 36, ids and labels 8 (+ the fp32 log-softmax,
    counted in the logits buffers). Activations 16 x (380 + 416 + 44) + 256 = 13,696; logits 19,200."""
    got = estimate(S, TrainSetup(method="lora", peft=LORA, **B2S8))
    assert got.peak_phase == "start of backward"
    assert got.breakdown == {"weights": 11616, "quant_constants": 0, "optimizer_states": 928, "gradients": 0,
                             "activations": 13696, "logits_buffers": 19200, "optimizer_temporaries": 0}
    assert (got.trainable_params, got.total_params) == (112, 2904)


def test_qlora_weights_are_four_bits_with_their_block_constants():
    """QLoRA, same adapters. The 1,152 projection weights in NF4: half a byte each, 576 B. Embeddings and norms
    upcast to fp32 4 x 1640 = 6,560; adapters 4 x 112 = 448: weights 7,584. Constants per projection (double
    quantization): an 8-bit scale per 64-weight block (1 or 2 blocks here), a 4 B scale per 256 blocks, the 256-
    entry fp32 table of the second quantization 1,024, the 16-entry NF4 table 64, and a 4 B offset: per layer
    (1+1+1+1+2+2+2) + 7 x (4 + 1024 + 64 + 4) = 7,682, for 2 layers 15,364. Without double quantization: a fp32
    scale per block and the NF4 table: 2 x (4 x 10 + 7 x 64) = 976."""
    got = estimate(S, TrainSetup(method="qlora", peft=LORA, **B2S8))
    assert (got.breakdown["weights"], got.breakdown["quant_constants"]) == (7584, 15364)
    assert got.breakdown["activations"] == 13696  # as LoRA in fp32: bitsandbytes computes in the input's dtype
    single = estimate(S, TrainSetup(method="qlora", peft=LORA, double_quant=False, **B2S8))
    assert single.breakdown["quant_constants"] == 976
    fsdp = estimate(S, TrainSetup(method="qlora", peft=LORA, shards=2, **B2S8))  # embeddings stay bf16: 2 x 1640
    assert fsdp.breakdown["weights"] == 2152  # (576 + 3,280 + 448) / 2 GPUs


def test_llama_2_7b_qlora_weights_and_constants_by_hand():
    """Llama-2-7b, 32 layers of q, k, v, o (4096 x 4096 = 16,777,216) and gate, up, down (4096 x 11008 =
    45,088,768): 6,476,005,376 projection weights, 3,238,002,688 B in NF4. fp32 embeddings, LM head and 65 norms
    4 x (2 x 131,072,000 + 65 x 4096) = 1,049,640,960; LoRA r=8 on q, v 4 x 4,194,304 = 16,777,216: 4,304,420,864.
    Constants: a 4096^2 weight has 262,144 blocks + 4 x 1,024 + 1,092 = 267,332 B, a 4096 x 11008 one 704,512 +
    4 x 2,752 + 1,092 = 716,612 B: 32 x (4 x 267,332 + 3 x 716,612) = 103,013,248."""
    got = estimate("llama-2-7b", TrainSetup(method="qlora"))
    assert (got.breakdown["weights"], got.breakdown["quant_constants"]) == (4_304_420_864, 103_013_248)


def test_8bit_adamw_by_hand():
    """bitsandbytes' AdamW8bit: a tensor of 4,096 values or more keeps its two moments in 1 byte each, an fp32
    absmax per 256 values for each, and two 256-entry fp32 quantization maps (2 x 256 x 4 = 2,048 B); smaller
    tensors keep 32-bit states (8 B per value, no step counter).

    Shape B: vocab 512, hidden 16, intermediate 32, 1 layer, 2 heads of 8, tied. Projections 4 x 256 + 3 x 512
    = 2,560 values, all small: 8 x 2560 = 20,480. The tied embedding 512 x 16 = 8,192 values: 2 x 8192 +
    8 x 8192/256 + 2048 = 18,688. Three norms of 16: 8 x 48 = 384. Total 39,552."""
    shape_b = ModelShape(vocab=512, hidden=16, intermediate=32, layers=1, heads=2, kv_heads=2, head_dim=8, tied=True)
    got = estimate(shape_b, TrainSetup(method="full", optimizer="adamw8bit"))
    assert got.breakdown["optimizer_states"] == 39552 and got.breakdown["optimizer_temporaries"] == 0
    boundary = replace(shape_b, vocab=256)  # embedding 256 x 16 = 4,096: just 8-bit (2 x 4096 + 8 x 16 + 2048)
    assert estimate(boundary, TrainSetup(method="full", optimizer="adamw8bit")).breakdown["optimizer_states"] == \
        20480 + 10368 + 384
    below = replace(shape_b, vocab=255)  # 4,080 values: 32-bit states, 8 x 4080
    assert estimate(below, TrainSetup(method="full", optimizer="adamw8bit")).breakdown["optimizer_states"] == \
        20480 + 32640 + 384


def test_llama_2_7b_8bit_adamw_states_by_hand():
    """Every Llama-2-7b tensor has >= 4,096 values (the norms exactly 4,096): 2 x 6,738,415,616 =
    13,476,831,232 B of moments; 26,321,936 blocks of 256 (32 x (4 x 65,536 + 3 x 176,128) + 2 x 512,000 +
    65 x 16) x 8 B = 210,575,488; 291 tensors x 2,048 = 595,968. Total 13,688,002,688 (12.75 GiB)."""
    got = estimate("llama-2-7b", TrainSetup(method="full", optimizer="adamw8bit"))
    assert got.breakdown["optimizer_states"] == 13_688_002_688


@pytest.mark.parametrize("optimizer, precision, states, temporaries", [
    ("adamw", "fp32", 22420, 6400),
    ("adamw", "bf16", 11252, 3200),  # moments in bf16: 4 x 2792 + 84; temporaries 2 x 2 x 800
    ("adamw", "mixed", 22420, 6400),  # fp32 weights under autocast: fp32 moments
    ("sgd", "fp32", 0, 0),
    ("adamw8bit", "fp32", 8 * 2792, 0),  # every tensor of S is under 4,096 values
])
def test_optimizer_states_and_temporaries_of_full_fine_tuning(optimizer, precision, states, temporaries):
    setup = TrainSetup(method="full", optimizer=optimizer, precision=precision, batch_size=1, seq_len=1)
    phases = memory._phases(S, setup)
    assert phases["optimizer step"]["optimizer_states"] == states
    assert phases["optimizer step"]["optimizer_temporaries"] == temporaries
    assert phases["optimizer step"]["gradients"] == {"bf16": 2}.get(precision, 4) * 2792


def test_precisions_by_hand():
    """bf16: 2 B per weight and gradient (5,584); adapters stay fp32 (LoRA weights 5,584 + 448 = 6,032).
    Mixed, full fine-tuning, batch 2 x 8: per layer 2 fp32 norms 136, each linear's bf16 input copy
    (3 + 2) x 2 x 8 = 80, SDPA in bf16 2 x 24 + 8 = 56, MLP 4 x 2 x 16 = 128: 400. Head 68 + 16 + 16 = 100.
    Per step: RoPE 256 and the bf16 copies of every weight the gradient passes through
    2 x (2 x 576 + 800) = 3,904. Activations 16 x 900 + 256 + 3,904 = 18,560."""
    bf16 = estimate(S, TrainSetup(method="full", precision="bf16", batch_size=1, seq_len=1))
    assert bf16.breakdown["weights"] == 5584
    assert estimate(S, TrainSetup(method="lora", precision="bf16", peft=LORA)).breakdown["weights"] == 6032
    mixed = estimate(S, TrainSetup(method="full", precision="mixed", **B2S8))
    assert mixed.breakdown["weights"] == 11168 and mixed.breakdown["activations"] == 18560


@pytest.mark.parametrize("method, attention, activations, logits", [
    # eager attention, full: q and repeated k, v 4 x 24 = 96, the fp32 softmax 4 x 2 heads x 8 keys = 64, the
    # o_proj input 32: 192 per layer instead of 104. 16 x (2 x (136 + 64 + 192 + 256) + 116) + 256
    ("full", "eager", 22848, 19200),
    # prefix, 3 virtual tokens: 11 keys for 8 positions; k, v repeated for the mask: 4 x (16 + 2 x 8 x 11/8) + 8
    # + the mask 4 x 11 = 204; layers 0 + 36 + 204 + 192 = 432 and 468; 16 x (432 + 468 + 44) + 256
    ("prefix", "sdpa", 15360, 19200),
    # prompt, 3 virtual tokens: 2 x 11 = 22 positions; every layer's input needs a gradient: 36 + 36 + 104 + 192
    # = 368; 22 x (2 x 368 + 44) + RoPE 2 x 11 x 4 x 4; logits 22 x 12 x 100
    ("prompt", "sdpa", 17512, 26400),
    # IA3: k and v outputs 2 x 4 x 4 and the MLP input cast to fp32 4 x 16 = 96 more per layer: 428 and 464
    ("ia3", "sdpa", 15232, 19200),
])
def test_activations_of_other_methods_by_hand(method, attention, activations, logits):
    got = estimate(S, TrainSetup(method=method, attention=attention, peft=LORA, **B2S8))
    assert (got.breakdown["activations"], got.breakdown["logits_buffers"]) == (activations, logits)


def test_fsdp_splits_resident_terms_and_gathers_two_layers_and_the_root():
    """shards=2, full fp32, batch 2 x 8: weights 11,168 / 2, AdamW 22,420 / 2, activations and logits per GPU
    as before. Gathered: the root (embeddings and final norm) 4 x (1600 + 8) = 6,432 and two layers
    4 x (576 + 16) each = 4,736. Start of backward: 5,584 + 11,210 + 20,032 + 19,200 + 11,168 = 67,194."""
    got = estimate(S, TrainSetup(method="full", shards=2, **B2S8))
    assert got.breakdown == {"weights": 5584, "quant_constants": 0, "optimizer_states": 11210, "gradients": 0,
                             "activations": 20032, "logits_buffers": 19200, "optimizer_temporaries": 0,
                             "gathered_params": 11168}
    odd = estimate(S, TrainSetup(method="full", shards=3, **B2S8))  # rounded up: 11,168 / 3 -> 3,723
    assert odd.breakdown["weights"] == 3723
    mixed = estimate(S, TrainSetup(method="full", precision="mixed", shards=2, **B2S8))  # gathered in bf16
    assert mixed.breakdown["gathered_params"] == 11168 // 2
    assert mixed.breakdown["activations"] == 18560 - 3904  # FSDP holds the bf16 copies in gathered_params


def test_fsdp_gathers_nothing_for_the_optimizer_step():
    """S with 8 layers (6,344 parameters, 75 tensors), one token on 2 CUDA GPUs. Per GPU: weights 4 x 6344 / 2 =
    12,688, AdamW (8 x 6344 + 4 x 75) / 2 = 25,526, gradients 12,688, foreach temporaries 12,688: the optimizer
    step's 63,590 is the peak, with nothing gathered (the forward and backward phases add 6,432 + 2 x 2,368)."""
    got = estimate(replace(S, layers=8), TrainSetup(method="full", batch_size=1, seq_len=1, device="cuda", shards=2))
    assert got.peak_phase == "optimizer step" and got.total == 63590 and got.breakdown["gathered_params"] == 0


def test_fsdp_qlora_gathers_four_bit_layers_and_a_bf16_root():
    """QLoRA under FSDP computes in bf16 whatever the precision asked: root 2 x (1600 + 8) = 3,216, each of the
    two gathered layers 576 / 2 (NF4) + 2 x 2 x 8 (norms) = 320."""
    got = estimate(S, TrainSetup(method="qlora", peft=LORA, shards=2, **B2S8))
    assert got.breakdown["gathered_params"] == 3856


def test_methods_the_predictor_does_not_model_are_refused():
    for method in ("dora", "adapters"):
        with pytest.raises(ValueError, match=f"does not model {method}; use lora"):
            estimate(S, TrainSetup(method=method))


@pytest.mark.parametrize("bad, match", [
    (dict(shards=0), "shards must be a positive integer, got 0"),
    (dict(optimizer="adam"), "unknown optimizer 'adam'; expected one of adamw, adamw8bit, sgd"),
    (dict(attention="flash"), "unknown attention 'flash'; expected one of sdpa, eager"),
    (dict(precision="fp16"), "unknown precision 'fp16'; expected one of fp32, bf16, mixed"),
    (dict(batch_size=-2), "batch_size must be a positive integer, got -2"),
])
def test_setups_the_predictor_refuses(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainSetup(**bad)


def test_alternatives_each_step_then_combined():
    names = [name for name, _ in memory.alternatives(S, TrainSetup(method="full", batch_size=4))]
    assert names == ["gradient checkpointing", "batch 1 with gradient accumulation (same effective batch)",
                     "8-bit AdamW (bitsandbytes)", "LoRA instead of full fine-tuning", "QLoRA (4-bit base weights)",
                     "bf16 weights", "gradient checkpointing + batch 1",
                     "gradient checkpointing + batch 1 + 8-bit AdamW",
                     "gradient checkpointing + batch 1 + 8-bit AdamW + QLoRA",
                     "gradient checkpointing + batch 1 + 8-bit AdamW + QLoRA + bf16 weights"]
    last = memory.alternatives(S, TrainSetup(method="full", batch_size=4))[-1][1]
    assert (last.gradient_checkpointing, last.batch_size, last.optimizer, last.method, last.precision) == \
        (True, 1, "adamw8bit", "qlora", "bf16")
    two = [n for n, _ in memory.alternatives(S, TrainSetup(method="lora", batch_size=2, gradient_checkpointing=True,
                                                           optimizer="sgd"))]
    assert two == ["batch 1 with gradient accumulation (same effective batch)", "QLoRA (4-bit base weights)",
                   "bf16 weights", "batch 1 + QLoRA", "batch 1 + QLoRA + bf16 weights"]
    qlora = [n for n, _ in memory.alternatives(S, TrainSetup(method="qlora", optimizer="sgd",
                                                             gradient_checkpointing=True))]
    assert qlora == []  # nothing left to try
    prefix = [n for n, _ in memory.alternatives(S, TrainSetup(method="prefix", precision="bf16"))]
    assert prefix == ["8-bit AdamW (bitsandbytes)"]


def test_largest_batch_and_preflight_at_the_exact_budget(monkeypatch):
    setup = TrainSetup(method="full", seq_len=8)
    # total(b) = 33,588 resident + 1,236 x 8 b + 256 + 12 x 100 x 8 b = 33,844 + 19,488 b (start of backward)
    assert memory.largest_batch(S, setup, 33844 + 19488 * 3) == 3
    assert memory.largest_batch(S, setup, 33844 + 19488 * 3 - 1) == 2
    assert memory.largest_batch(S, setup, 1000) == 0
    assert memory.largest_batch(S, setup, 10**12, limit=5) == 5
    assert memory.largest_batch(S, replace(setup, seq_len=1), 10**12) == 4096  # the default limit
    three = replace(setup, batch_size=3)
    assert memory.preflight(S, three, budget_bytes=92308).total == 92308
    asked = []
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": asked.append(device) or 92307)  # 1 B short
    with pytest.raises(WontFit) as err:
        memory.preflight(S, three)
    assert asked == ["cpu"]
    # with checkpointing: 33,588 + 24 x 180 + 256 + 28,800 = 66,964 B (0.1 MiB) at the start of backward
    assert "but 0.1 MiB is available on cpu" in str(err.value)
    assert "\n  - gradient checkpointing: 0.1 MiB  (fits)\n" in str(err.value)
    with pytest.warns(ResourceWarning, match="allow_oom_risk") as warned:
        assert memory.preflight(S, three, allow=True).total == 92308
    assert warned[0].filename != memory.__file__  # blamed on the caller, not on ftlab/core/memory.py
    memory.preflight(S, replace(three, device="cuda"), allow=True)
    assert asked[-1] == "cuda"


def test_preflight_message_in_full():
    """Batch 3 needs 92,308 B; with a budget of 53,332 B only batch 1 (33,844 + 19,488 = 53,332, exactly the
    budget) fits; checkpointing (66,964) does not."""
    with pytest.raises(WontFit) as err:
        memory.preflight(S, TrainSetup(method="full", seq_len=8, batch_size=3), budget_bytes=53332)
    message = str(err.value)
    assert message.startswith("this run is predicted to need 0.1 MiB at its peak (start of backward: weights 0.0 "
                              "MiB, optimizer states 0.0 MiB, activations 0.0 MiB, logits buffers 0.0 MiB), but "
                              "0.1 MiB is available on cpu. Options:\n")
    assert "\n  - gradient checkpointing: 0.1 MiB\n" in message
    assert "\n  - batch 1 with gradient accumulation (same effective batch): 0.1 MiB  (fits)\n" in message
    assert message.endswith("\nPass allow_oom_risk=True (SFTSettings) to try anyway.")


@pytest.mark.parametrize("n, text", [
    (2**30, "1.00 GiB"), (2**30 - 1, "1024.0 MiB"), (3 * 2**29, "1.50 GiB"), (1.5 * 2**20, "1.5 MiB"), (0, "0.0 MiB"),
])
def test_gib(n, text):
    assert memory.gib(n) == text
