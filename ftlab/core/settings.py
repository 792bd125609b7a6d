"""Every settings dataclass of ftlab in one place: what a run, an experiment or a memory estimate is
configured with. Profiles (ftlab.core.profiles) are built from these; nothing here imports a lesson."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from transformers import LlamaConfig, PreTrainedTokenizerFast
from transformers.trainer_utils import SchedulerType

from ftlab.core.errors import ConfigError, number_in, one_of, positive_number, whole_number

PRECISIONS = ("fp32", "bf16", "mixed")  # mixed: fp32 weights with bf16 autocast

OPTIMIZERS = ("adamw", "adamw8bit", "sgd")

ATTENTIONS = ("sdpa", "eager")

LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

METHODS = ("full", "lora", "dora", "qlora", "prefix", "prompt", "ia3", "adapters")


def check_method(method: str) -> str:
    """`method` if ftlab can build it, else a ConfigError listing the methods it can."""
    if method not in METHODS:
        raise ConfigError(f"unknown PEFT method {method!r}; expected one of {', '.join(METHODS)}")
    return method


@dataclass(frozen=True)
class PeftOptions:
    """The knobs each method has; one place for their defaults."""

    lora_r: int = 8
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    virtual_tokens: int = 20  # prefix and prompt tuning
    adapter_size: int = 16  # bottleneck width of the Houlsby adapters

    def __post_init__(self):
        whole_number("PeftOptions", "lora_r", self.lora_r, 1, "the rank of LoRA's update matrices")
        whole_number("PeftOptions", "virtual_tokens", self.virtual_tokens, 1, "prefix/prompt tokens learnt")
        whole_number("PeftOptions", "adapter_size", self.adapter_size, 1, "the adapters' bottleneck width")
        if (isinstance(self.lora_targets, str) or not self.lora_targets
                or not all(isinstance(t, str) and t for t in self.lora_targets)):
            raise ConfigError("PeftOptions.lora_targets must be a non-empty tuple of module names such as "
                              f"('q_proj', 'v_proj'); got {self.lora_targets!r}")


@dataclass(frozen=True)
class TrainSetup:
    """Everything about a training step that decides its memory, besides the model."""

    method: str = "full"
    precision: str = "fp32"
    optimizer: str = "adamw"
    batch_size: int = 1
    seq_len: int = 256
    gradient_checkpointing: bool = False
    peft: PeftOptions = field(default_factory=PeftOptions)
    attention: str = "sdpa"
    double_quant: bool = True  # QLoRA's second quantization of the 4-bit block constants
    device: str = "cpu"
    shards: int = 1  # FSDP (ZeRO-3): GPUs that split weights, gradients and optimizer states; the estimate is per GPU

    def __post_init__(self):
        check_method(self.method)
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("attention", self.attention, ATTENTIONS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
        if self.method == "prefix" and self.gradient_checkpointing:
            raise ValueError("prefix tuning does not work with gradient checkpointing (peft refuses it)")
        for name in ("batch_size", "seq_len", "shards"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


@dataclass
class TinyLlamaShape:
    """Architecture of the tiny base (about 3.4 M parameters with a 4096-token vocabulary)."""

    vocab_size: int = 4096
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    max_position_embeddings: int = 256

    def to_config(self, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
        return LlamaConfig(**asdict(self), num_key_value_heads=self.num_attention_heads, tie_word_embeddings=True,
                           rope_theta=10000.0, bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


@dataclass
class PretrainConfig:
    """Everything that decides a pretraining run; saved in its training card."""

    shape: TinyLlamaShape = field(default_factory=TinyLlamaShape)
    steps: int = 4500
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    bf16: bool = True  # autocast matmuls to bf16 (CPU with AVX-512 BF16, or CUDA)
    seed: int = 0
    eval_every: int = 250
    eval_blocks: int = 48
    checkpoint_every: int = 250
    threads: int | None = None  # torch threads; None = all cores
    compile: bool = False  # torch.compile the training step: ~1.3x faster here, ~40 s to compile
    attn_implementation: str = "eager"  # on CPU in bf16, eager attention measured faster than sdpa at this size

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


@dataclass
class SFTSettings:
    """Hyper-parameters of one SFT run. The source text's recipe is lr 2e-5, 3 epochs, cosine, warm-up 0.1,
    effective batch 16, bf16; profiles override what a small model or a small machine needs."""

    learning_rate: float = 2e-5
    max_steps: int = -1  # > 0 overrides epochs
    epochs: float = 3.0
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    max_length: int = 256
    assistant_only_loss: bool = True  # False: loss on the whole templated conversation
    bf16: bool = False
    activation_checkpointing: bool = False  # TRL turns it on by default: saves memory, re-computes activations
    padding_free: bool = False  # batch rows end to end with no pad tokens (TRL; a block-diagonal mask keeps
    # the rows apart under SDPA). Profiles turn it on where it was measured faster.
    row_attention: bool = True  # padding-free batches: each row attends to its own tokens only (ftlab.core.speed.attention),
    # not to the whole packed sequence under a block-diagonal mask; same attention, far fewer products computed
    fused_lm_head: bool = True  # TRL's chunked fused LM head for the training loss; False: the model's own loss
    # (transformers' Trainer.compute_loss), measured faster for small vocabularies on a CPU (bench/sft_throughput.py)
    allow_oom_risk: bool = False  # True: train even when ftlab.core.memory predicts the run will not fit
    weight_decay: float = 0.0
    seed: int = 0
    eval_steps: int = 50
    logging_steps: int = 10
    save_steps: int = 0  # > 0: a resumable checkpoint every this many steps (run_sft(..., resume=True))
    progress: bool = True

    def __post_init__(self):
        """Refuse settings no run could use, here, before any model loads (dataclasses.replace checks again)."""
        own = "SFTSettings"
        positive_number(own, "learning_rate", self.learning_rate, "the optimizer's step size")
        if self.max_steps != -1:
            whole_number(own, "max_steps", self.max_steps, 1, "optimizer steps; or -1 to train for `epochs`")
        else:
            positive_number(own, "epochs", self.epochs, "passes over the training rows, used when max_steps is -1")
        whole_number(own, "batch_size", self.batch_size, 1, "rows per step")
        whole_number(own, "grad_accum", self.grad_accum, 1, "steps whose gradients are added before one update")
        number_in(own, "warmup_ratio", self.warmup_ratio, 0.0, 1.0, "the share of steps spent warming up")
        one_of(own, "scheduler", self.scheduler, [t.value for t in SchedulerType], "a transformers LR schedule")
        whole_number(own, "max_length", self.max_length, 2, "tokens per templated conversation")
        number_in(own, "weight_decay", self.weight_decay, 0.0, 1.0, "AdamW's decoupled weight decay")
        whole_number(own, "seed", self.seed, 0, "numpy accepts seeds 0 to 2**32 - 1")
        if self.seed >= 2 ** 32:
            raise ConfigError(f"{own}.seed must be below 2**32 (numpy's limit); got {self.seed}")
        whole_number(own, "eval_steps", self.eval_steps, 1, "steps between evaluations")
        whole_number(own, "logging_steps", self.logging_steps, 1, "steps between logged losses")
        whole_number(own, "save_steps", self.save_steps, 0, "steps between checkpoints; 0 for none")

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum


@dataclass(frozen=True)
class DPOSettings:
    """Hyper-parameters of one DPO run (LoRA on top of an SFT model unless `method="full"`)."""

    beta: float = 0.1  # the strength of the pull towards the reference (higher: stay closer)
    learning_rate: float = 5e-6  # TRL's default is 1e-6, for billion-parameter models
    max_steps: int = 100
    batch_size: int = 8  # pairs per step (each step runs 2 x batch_size sequences)
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    max_length: int = 256
    method: str = "lora"  # or "full" (then TRL keeps a frozen copy of the model as the reference)
    loss_type: str = "sigmoid"  # the DPO paper's loss; TRL has ipo, hinge, robust, ...
    bf16: bool = False
    allow_oom_risk: bool = False
    seed: int = 0
    logging_steps: int = 5
    progress: bool = True


@dataclass(frozen=True)
class AlignmentSettings:
    """Notebook 07's experiment: pair counts, the betas compared, test rows for exact match, one DPO recipe."""

    dpo: DPOSettings = field(default_factory=DPOSettings)
    betas: tuple[float, ...] = (0.1, 0.5)
    train_pairs: int = 800  # the first N training pairs, balanced over tasks and pair kinds
    heldout_pairs: int = 256  # held-out pairs (test split) scored before and after
    test_per_task: int = 50  # test rows per task for exact match (greedy generation is the slow part)

EVAL_BLOCKS = 16  # held-out blocks of SEQ_LEN tokens behind one general-loss number (4,096 tokens)


@dataclass(frozen=True)
class ForgettingSettings:
    """Sizes and knobs of notebook 03's experiment; each arm changes one thing from plain full fine-tuning."""

    steps: int = 60  # SFT steps of every arm but `short`
    learning_rate: float | None = None  # full fine-tuning's rate; None: full's rate in the profile's sweep
    # (ftlab.core.lr_sweeps), else its SFT rate
    batch_size: int | None = None  # None: the profile's SFT batch
    lora_learning_rate: float | None = None  # None: the profile's LoRA rate (bench/peft_lr_sweep.py)
    low_lr_factor: float = 0.1  # the `low_lr` arm trains 10x slower
    short_share: float = 0.25  # the `short` arm stops after this share of `steps`
    replay_ratio: float = 0.25  # share of general rows in the `replay` arm's training mix
    # EWC strength for the batch-mean Fisher (see fisher_diagonal). Measured on tiny, 20 steps, batch 8, lr 1e-3:
    # general-loss rise 1e5 +0.26, 1e6 +0.08, 1e7 +0.02 (full FT +0.39); SQL loss 0.43, 0.52, 1.54 (full 0.42).
    ewc_lambda: float = 1e6
    fisher_batches: int = 4
    fisher_batch_size: int = 8
    eval_blocks: int = EVAL_BLOCKS
    probe_size: int = 100  # probe questions
    curve_every: int = 2  # steps between the points of plain full fine-tuning's forgetting curve
    probe_seed: int = 0
    task_rows: int = 800  # SQL training rows (steps x batch needs no more than this for one pass)
    test_rows: int = 64  # SQL rows whose response loss is the task metric
