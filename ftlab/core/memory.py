"""Memory budgeting: predict the peak memory of a fine-tuning step from a model config alone.

`estimate(model, setup)` adds up, term by term, the tensors a training step keeps alive at its peak: weights
(and 4-bit quantization constants), gradients, optimizer states, saved activations and the logits/loss buffers.
`ftlab.core.memprobe.measure(model, setup)` runs the same step for real in a fresh process (the measurement lives
there, beside the probe it drives, so the predictor imports no process machinery). Notebook 04 puts the two side by side; `bench/memory_cpu.py` checks them on many configurations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ftlab.core.paths import MODELS_DIR
from ftlab.core.peft_methods import method_of, options_of
from ftlab.core.settings import LINEARS, PeftOptions, TrainSetup

CONFIG_DIR = Path(__file__).parent / "model_configs"


def config_names() -> list[str]:
    """Models whose config ships with ftlab (no download): the tiny base, SmolLM2 and some 0.5–8B models."""
    return ["tiny"] + sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def config_dict(name_or_path: str) -> dict:
    """A model's config.json as a dict: "tiny", a name from `config_names()`, or a path to a config.json."""
    if name_or_path == "tiny":
        path = MODELS_DIR / "tiny-base" / "config.json"
    elif (CONFIG_DIR / f"{name_or_path}.json").exists():
        path = CONFIG_DIR / f"{name_or_path}.json"
    else:
        path = Path(name_or_path)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise FileNotFoundError(f"no model config {name_or_path!r}: give a path to a config.json or one of "
                                    f"{', '.join(config_names())}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def model_config(name_or_path: str):
    """A transformers config object for `config_dict(name_or_path)`."""
    from transformers import AutoConfig

    values = config_dict(name_or_path)
    return AutoConfig.for_model(values.pop("model_type"), **values)






IA3_TARGETS = ("k_proj", "v_proj", "down_proj")  # peft's default for Llama; down_proj scales its input


NF4_BLOCK = 64  # weights per 4-bit block (bitsandbytes' QLoRA default)


NF4_BLOCK2 = 256  # block constants per second-level block (double quantization)


ADAM8_BLOCK = 256  # bitsandbytes' 8-bit optimizer block size on CPU and GPU


ADAM8_MIN_SIZE = 4096  # smaller tensors keep 32-bit states in bitsandbytes


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Llama-style decoder that decide its memory."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool
    qkv_bias: bool = False

    @classmethod
    def of(cls, name_or_path: str) -> "ModelShape":
        return cls.from_dict(config_dict(name_or_path))

    @classmethod
    def from_dict(cls, c: dict) -> "ModelShape":
        """From a config.json's values (a dict, or a transformers config's `to_dict()`)."""
        heads = c["num_attention_heads"]
        return cls(vocab=c["vocab_size"], hidden=c["hidden_size"], intermediate=c["intermediate_size"],
                   layers=c["num_hidden_layers"], heads=heads, kv_heads=c.get("num_key_value_heads") or heads,
                   head_dim=c.get("head_dim") or c["hidden_size"] // heads,
                   tied=c.get("tie_word_embeddings", False),
                   qkv_bias=c.get("attention_bias", c.get("model_type") == "qwen2"))

    def linear_shape(self, name: str) -> tuple[int, int]:
        """(in_features, out_features) of one projection in a decoder layer."""
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, self.intermediate
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}[name]

    def linear_sizes(self) -> list[int]:
        """Weight elements of each projection of one decoder layer, in LINEARS order."""
        return [a * b for a, b in map(self.linear_shape, LINEARS)]

    def layer_linear_params(self) -> int:
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.qkv_bias else 0
        return sum(self.linear_sizes()) + bias

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    def norm_params(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    def params(self) -> int:
        return self.embedding_params() + self.norm_params() + self.layers * self.layer_linear_params()


def trainable_tensors(shape: ModelShape, setup: TrainSetup) -> list[int]:
    """Element counts of the trainable tensors `setup.method` creates (what gradients and optimizer states
    are kept for)."""
    m, o, L = setup.method, setup.peft, shape.layers
    if m == "full":
        return shape.linear_sizes() * L + [shape.vocab * shape.hidden] * (1 if shape.tied else 2) + [shape.hidden] * (2 * L + 1)
    if m in ("lora", "qlora", "dora"):
        out = []
        for name in o.lora_targets:
            fan_in, fan_out = shape.linear_shape(name)
            out += [o.lora_r * fan_in, o.lora_r * fan_out] + ([fan_out] if m == "dora" else [])
        return out * L
    if m == "ia3":
        return [shape.linear_shape(n)[0 if n == "down_proj" else 1] for n in IA3_TARGETS] * L
    if m == "prompt":
        return [o.virtual_tokens * shape.hidden]
    if m == "adapters":  # ftlab.core.bottleneck: a down and an up projection with biases, twice per layer
        h, k = shape.hidden, o.adapter_size
        return [k * h, k, h * k, h] * 2 * L
    return [o.virtual_tokens * L * 2 * shape.kv_heads * shape.head_dim]  # prefix: a key and a value per layer


@dataclass(frozen=True)
class Estimate:
    """Predicted peak bytes of one training step, split into what holds them at that moment."""

    breakdown: dict[str, int]  # weights, quant_constants, optimizer_states, gradients, activations, ...
    peak_phase: str  # when the peak happens: "start of backward", "optimizer step", ...
    trainable_params: int
    total_params: int

    @property
    def total(self) -> int:
        return sum(self.breakdown.values())

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / self.total_params


def _bytes(setup: TrainSetup) -> tuple[int, int, int]:
    """(weight, stream, linear-output) bytes per element. QLoRA's prepare step upcasts the unquantized weights
    to fp32 and bitsandbytes casts each 4-bit layer's output back to the (fp32) input dtype."""
    if setup.method == "qlora":
        return 4, 4, 4
    return {"fp32": (4, 4, 4), "bf16": (2, 2, 2), "mixed": (4, 4, 2)}[setup.precision]


def _positions(setup: TrainSetup) -> int:
    """Sequence positions the layers see: prompt tuning prepends its virtual tokens."""
    return setup.seq_len + (setup.peft.virtual_tokens if setup.method == "prompt" else 0)


def _keys(setup: TrainSetup) -> int:
    """Keys each query attends over: prefix tuning adds its virtual keys and values in every layer."""
    return _positions(setup) + (setup.peft.virtual_tokens if setup.method == "prefix" else 0)


def _norm_saved(needs_input_grad: bool, weight_trainable: bool, stream: int, h: int) -> int:
    """RMSNorm keeps its fp32 input and 1/rms when gradients flow through it, the normalised input when its
    own weight trains."""
    return (4 * h + 4 if needs_input_grad else 0) + (stream * h if weight_trainable else 0)


def _attention_saved(shape: ModelShape, setup: TrainSetup, out_b: int) -> int:
    """Per-token bytes attention keeps for backward. SDPA: q, k, v, its output and a log-sum-exp per head
    (k and v stay un-repeated for grouped-query attention unless a mask is needed, as with prefix tuning).
    Eager: q, repeated k and v, the fp32 softmax (and its cast copy in 16-bit)."""
    qd, kvd, H = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.heads
    keys_ratio = _keys(setup) / _positions(setup)
    if setup.attention == "sdpa":
        kv = kvd if setup.method != "prefix" else qd
        mask = out_b * _keys(setup) if setup.method == "prefix" else 0
        return out_b * (2 * qd + 2 * kv * keys_ratio) + 4 * H + mask
    probs = (4 + (out_b if out_b != 4 else 0)) * H * _keys(setup)
    o_input = out_b * qd if setup.method == "full" or "o_proj" in _lora_targets(setup) else 0
    return int(out_b * (qd + 2 * qd * keys_ratio)) + probs + o_input


def _lora_targets(setup: TrainSetup) -> tuple[str, ...]:
    return setup.peft.lora_targets if setup.method in ("lora", "qlora") else ()


def _layer_saved(shape: ModelShape, setup: TrainSetup, first: bool) -> int:
    """Per-token bytes one decoder layer keeps for backward (no checkpointing). Autograd keeps only what some
    gradient needs, so frozen weights save less, and the first layer of a frozen model saves less again (its
    input needs no gradient)."""
    _, sb, lb = _bytes(setup)
    h, i, m = shape.hidden, shape.intermediate, setup.method
    mixed = setup.precision == "mixed" and m != "qlora"
    if m == "full":
        linear_inputs = (3 + 2) * 2 * h if mixed else 2 * sb * h  # autocast casts the input once per linear
        norms = 2 * _norm_saved(True, True, sb, h)
        return norms + linear_inputs + _attention_saved(shape, setup, lb) + 4 * lb * i
    grad_in = not first or m == "prompt"  # does this layer's input need a gradient?
    targets = _lora_targets(setup)
    qkv = [t for t in targets if t in ("q_proj", "k_proj", "v_proj")]
    mlp_in = [t for t in targets if t in ("gate_proj", "up_proj")]
    r = setup.peft.lora_r
    saved = _norm_saved(grad_in, False, sb, h) + _norm_saved(True, False, sb, h)
    # LoRA's input: under autocast each adapter casts its own bf16 copy; in pure bf16 peft casts an fp32 copy
    # per adapter (its weights are fp32); in fp32 the layer's input itself is kept once.
    copy = 2 if mixed else 4 if sb == 2 else 0
    ab = 2 if mixed else 4  # adapter activations: bf16 under autocast, else fp32 like the adapter weights
    saved += (len(qkv) * copy * h if copy else sb * h * bool(qkv)) + len(qkv) * r * ab
    saved += (len(mlp_in) * copy * h if copy else sb * h * bool(mlp_in)) + len(mlp_in) * r * ab
    if "o_proj" in targets:
        saved += r * ab + copy * shape.heads * shape.head_dim
    if "down_proj" in targets:
        saved += r * ab + (copy or lb) * i
    if m == "ia3":  # k and v outputs, and the MLP input that peft casts to fp32 before scaling
        saved += 2 * lb * shape.kv_heads * shape.head_dim + 4 * i
    return saved + _attention_saved(shape, setup, lb) + 3 * lb * i


def _head_saved(shape: ModelShape, setup: TrainSetup) -> int:
    """Per-token bytes the final norm, LM head and loss keep: HF computes the loss in fp32, so log-softmax
    keeps V fp32 values per token, plus the shifted labels."""
    _, sb, _ = _bytes(setup)
    h = shape.hidden
    mixed = setup.precision == "mixed" and setup.method != "qlora"
    if setup.method == "full":
        norm = _norm_saved(True, True, sb, h) + (2 * h if mixed else sb * h) + 8  # + lm_head input, token ids
    else:
        norm = _norm_saved(True, False, sb, h)
    return norm + 4 * shape.vocab + 8


def _per_step_saved(shape: ModelShape, setup: TrainSetup) -> int:
    """Saved tensors that do not grow with the batch: RoPE's cos/sin tables and, under autocast, the bf16
    copies of every weight a gradient passes through."""
    rope = 2 * _positions(setup) * shape.head_dim * (2 if setup.precision == "bf16" else 4)
    casts = 0
    if setup.precision == "mixed" and setup.method != "qlora" and setup.shards == 1:  # FSDP: in gathered_params
        first_qkv = sum(a * b for a, b in map(shape.linear_shape, ("q_proj", "k_proj", "v_proj")))
        frozen_first = setup.method not in ("full", "prompt")
        casts = 2 * (shape.layers * shape.layer_linear_params() - (first_qkv if frozen_first else 0)
                     + shape.vocab * shape.hidden + sum(trainable_tensors(shape, setup))
                     * (setup.method in ("lora", "dora")))
    return rope + casts


def _quant_constants(n: int, double_quant: bool) -> int:
    """bitsandbytes NF4 bookkeeping for one weight of n elements: a scale per 64-weight block (itself
    quantized to 8 bits, with an fp32 scale per 256 blocks, under double quantization) and lookup tables."""
    blocks = -(-n // NF4_BLOCK)
    if double_quant:
        return blocks + 4 * -(-blocks // NF4_BLOCK2) + 4 * 256 + 4 * 16 + 4
    return 4 * blocks + 4 * 16


def _weights(shape: ModelShape, setup: TrainSetup) -> tuple[int, int]:
    """(weight bytes, 4-bit quantization constant bytes). QLoRA keeps decoder projections in NF4 (half a byte
    per weight) and everything else, upcast by peft's prepare step, in fp32; under FSDP (shards > 1) the rest
    stays in bf16, the quant storage dtype (ftlab.core.peft_methods.build(fsdp=True) skips that step)."""
    w, _, _ = _bytes(setup)
    added = sum(trainable_tensors(shape, setup)) if setup.method != "full" else 0
    if setup.method != "qlora":
        return w * shape.params() + 4 * added, 0
    sizes = shape.linear_sizes() * shape.layers
    quantized = sum(sizes) // 2
    unquantized = (2 if setup.shards > 1 else 4) * (shape.embedding_params() + shape.norm_params()) + 4 * added
    return quantized + unquantized, sum(_quant_constants(n, setup.double_quant) for n in sizes)


def _param_bytes(setup: TrainSetup) -> int:
    """Bytes per trainable parameter: full fine-tuning trains the weights in their dtype; peft keeps the
    weights it adds in fp32 whatever the base dtype (its `autocast_adapter_dtype` default)."""
    return _bytes(setup)[0] if setup.method == "full" else 4


def _optimizer_states(tensors: list[int], setup: TrainSetup) -> int:
    """AdamW keeps two moments per parameter in its dtype (+ a step counter per tensor); bitsandbytes' 8-bit
    AdamW keeps them in 8 bits with an fp32 scale per 256 values (tensors under 4,096 values stay 32-bit);
    plain SGD keeps nothing."""
    pb = _param_bytes(setup)
    if setup.optimizer == "sgd":
        return 0
    if setup.optimizer == "adamw":
        return sum(2 * pb * n + 4 for n in tensors)
    return sum(2 * n + 8 * -(-n // ADAM8_BLOCK) + 2 * 256 * 4 if n >= ADAM8_MIN_SIZE else 8 * n
               for n in tensors)


def _optimizer_temporaries(tensors: list[int], setup: TrainSetup) -> int:
    """Scratch space during `optimizer.step()`. torch's AdamW on CPU updates one tensor at a time and builds
    sqrt(v) then its bias-corrected copy (two temporaries of the largest tensor); on CUDA its foreach path
    builds sqrt(v) for all parameters at once."""
    if setup.optimizer != "adamw" or not tensors:
        return 0
    pb = _param_bytes(setup)
    return pb * sum(tensors) if setup.device == "cuda" else 2 * pb * max(tensors)


def _phases(shape: ModelShape, setup: TrainSetup) -> dict[str, dict[str, int]]:
    """What is alive at each candidate peak of a training step, by category. Optimizer states exist from the
    first step on; gradients are set to None after each step (as HF's Trainer does)."""
    T, h, V = setup.batch_size * _positions(setup), shape.hidden, shape.vocab
    _, sb, lb = _bytes(setup)
    tensors = trainable_tensors(shape, setup)
    weights, quant = _weights(shape, setup)
    resident = {"weights": weights, "quant_constants": quant,
                "optimizer_states": _optimizer_states(tensors, setup)}
    grads = _param_bytes(setup) * sum(tensors)
    first, rest = _layer_saved(shape, setup, True), _layer_saved(shape, setup, False)
    layers = shape.layers * sb * h if setup.gradient_checkpointing else first + (shape.layers - 1) * rest
    head = _head_saved(shape, setup) - 4 * V  # the log-softmax output is counted with the logits buffers
    acts = T * (layers + head) + _per_step_saved(shape, setup)
    head_grad = _param_bytes(setup) * V * h if setup.method == "full" else 0
    layer_grads = grads - head_grad
    # Inside a layer's backward: gradients of its MLP activations (about 4 x intermediate per token).
    transient = T * 4 * lb * shape.intermediate
    phases = {
        "start of backward": {**resident, "activations": acts, "logits_buffers": T * 12 * V},
        "backward through the last layer": {
            **resident, "activations": acts + (T * rest if setup.gradient_checkpointing else 0) + transient,
            "gradients": head_grad + layer_grads // shape.layers},
        "optimizer step": {**resident, "gradients": grads,
                           "optimizer_temporaries": _optimizer_temporaries(tensors, setup)},
    }
    if setup.method == "full" and shape.tied:
        # The embedding's own gradient, and the new sum autograd makes when adding it to the LM head's.
        phases["end of backward"] = {**resident, "gradients": grads + 2 * _param_bytes(setup) * V * h}
    return _sharded(phases, shape, setup) if setup.shards > 1 else phases


SHARDED = ("weights", "quant_constants", "optimizer_states", "gradients", "optimizer_temporaries")


def _sharded(phases: dict[str, dict[str, int]], shape: ModelShape, setup: TrainSetup) -> dict[str, dict[str, int]]:
    """Per-GPU view under FSDP full sharding: each GPU keeps 1/shards of the weights, gradients and optimizer
    states (activations are per GPU already: each sees its own batch), plus the parameters gathered in full
    while they compute: the root unit (embeddings, LM head, final norm: FSDP keeps them gathered from forward
    to backward) and two decoder layers (the one running and the one prefetched)."""
    n = setup.shards
    out = {}
    for name, terms in phases.items():
        out[name] = {k: -(-v // n) if k in SHARDED else v for k, v in terms.items()}
        if name != "optimizer step":
            out[name]["gathered_params"] = _gathered(shape, setup)
    return out


def _gathered(shape: ModelShape, setup: TrainSetup) -> int:
    """Bytes of the root unit and two decoder layers gathered in the dtype FSDP computes in (bf16 under mixed
    precision and for FSDP-QLoRA, whose projections stay 4-bit)."""
    cb = 4 if setup.precision == "fp32" and setup.method != "qlora" else 2
    layer_linear = shape.layer_linear_params() // 2 if setup.method == "qlora" else cb * shape.layer_linear_params()
    layer = layer_linear + cb * 2 * shape.hidden
    return cb * (shape.embedding_params() + shape.hidden) + 2 * layer


def estimate(model: str | ModelShape, setup: TrainSetup) -> Estimate:
    """Predicted peak memory of one training step of `model` (a config name/path or a ModelShape)."""
    if setup.method in ("dora", "adapters"):
        raise ValueError(f"the memory predictor does not model {setup.method}; use lora for an estimate")
    shape = model if isinstance(model, ModelShape) else ModelShape.of(model)
    phases = _phases(shape, setup)
    phase = max(phases, key=lambda name: sum(phases[name].values()))
    keys = ("weights", "quant_constants", "optimizer_states", "gradients", "activations", "logits_buffers",
            "optimizer_temporaries") + (("gathered_params",) if setup.shards > 1 else ())
    trainable = sum(trainable_tensors(shape, setup))
    return Estimate(breakdown={k: int(phases[phase].get(k, 0)) for k in keys}, peak_phase=phase,
                    trainable_params=trainable,
                    total_params=shape.params() + (trainable if setup.method != "full" else 0))


class WontFit(MemoryError):
    """A training configuration predicted not to fit the device's memory; the message says what would."""


def available_bytes(device: str = "cpu") -> int:
    """Memory a new training run can use now: free CUDA memory, or Linux's MemAvailable on CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def largest_batch(model: str | ModelShape, setup: TrainSetup, budget_bytes: int, limit: int = 4096) -> int:
    """The largest batch size whose predicted peak fits `budget_bytes` (0 if not even one sequence fits)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(model, replace(setup, batch_size=mid)).total <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def alternatives(model: str | ModelShape, setup: TrainSetup) -> list[tuple[str, TrainSetup]]:
    """Changes that lower memory: each single step a practitioner tries, then those steps combined."""
    steps = []
    if not setup.gradient_checkpointing and setup.method != "prefix":
        steps.append(("gradient checkpointing", {"gradient_checkpointing": True}))
    if setup.batch_size > 1:
        steps.append(("batch 1 with gradient accumulation (same effective batch)", {"batch_size": 1}))
    if setup.optimizer == "adamw":
        steps.append(("8-bit AdamW (bitsandbytes)", {"optimizer": "adamw8bit"}))
    if setup.method == "full":
        steps.append(("LoRA instead of full fine-tuning", {"method": "lora"}))
    if setup.method in ("full", "lora"):
        steps.append(("QLoRA (4-bit base weights)", {"method": "qlora"}))
    if setup.precision == "fp32" and setup.method != "qlora":
        steps.append(("bf16 weights", {"precision": "bf16"}))
    options = [(what, replace(setup, **change)) for what, change in steps]
    combined, names = {}, []
    for what, change in steps:
        if "LoRA instead" in what and any("QLoRA" in s for s, _ in steps):
            continue  # QLoRA already implies LoRA
        combined.update(change)
        names.append(what.split(" (")[0].split(" with")[0])
        if len(names) > 1:
            options.append((" + ".join(names), replace(setup, **combined)))
    return options


def preflight(model: str | ModelShape, setup: TrainSetup, budget_bytes: int | None = None,
              allow: bool = False) -> Estimate:
    """Predict the peak before training starts; raise WontFit, with the estimate and concrete changes that do
    fit, when it exceeds the device's available memory. `allow=True` only warns (the estimate can be wrong)."""
    import warnings

    prediction = estimate(model, setup)
    budget = available_bytes(setup.device) if budget_bytes is None else budget_bytes
    if prediction.total <= budget:
        return prediction
    fits = [(what, estimate(model, alt).total) for what, alt in alternatives(model, setup)]
    lines = [f"  - {what}: {gib(total)}{'  (fits)' if total <= budget else ''}" for what, total in fits]
    message = (f"this run is predicted to need {gib(prediction.total)} at its peak ({prediction.peak_phase}: "
               + ", ".join(f"{k.replace('_', ' ')} {gib(v)}" for k, v in prediction.breakdown.items() if v)
               + f"), but {gib(budget)} is available on {setup.device}. Options:\n" + "\n".join(lines)
               + "\nPass allow_oom_risk=True (SFTSettings) to try anyway.")
    if allow:
        warnings.warn(message, ResourceWarning, stacklevel=2)
        return prediction
    raise WontFit(message)


def gib(n: float) -> str:
    """Bytes as a short human string."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def setup_of(model, batch_size: int, seq_len: int, bf16: bool, gradient_checkpointing: bool,
             device: str, shards: int = 1) -> TrainSetup:
    """The TrainSetup of a live (possibly peft-wrapped) model about to be trained by ftlab/TRL."""
    # Bottleneck adapters are not modelled: they are checked as full fine-tuning, an upper bound.
    method, options = "full", PeftOptions()
    peft_config = getattr(model, "peft_config", None)
    if peft_config:
        config = next(iter(peft_config.values()))
        method, options = method_of(config), options_of(config)
        if method == "lora" and getattr(model, "is_loaded_in_4bit", False):
            method = "qlora"
    return TrainSetup(method=method, precision="mixed" if bf16 else "fp32", batch_size=batch_size,
                      seq_len=seq_len, gradient_checkpointing=gradient_checkpointing and method != "prefix",
                      peft=options, device=device, shards=shards)


def accelerate_estimate(model: str, mixed_precision: str = "float32") -> int:
    """What `accelerate estimate-memory` reports as "Training using Adam" for this config (computed offline
    with accelerate's own functions on a meta-device model): a multiple of the weight bytes, with no
    activations, batch or sequence length."""
    import torch
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(model_config(model))
    total, _ = calculate_maximum_sizes(meta)
    return max(estimate_training_usage(total, mixed_precision).values())
