"""DPO through TRL's DPOTrainer (taught in notebook 07): `DPOSettings` -> `DPOConfig` (or the learner's own
`DPOConfig` and peft config), the memory preflight, progress and a run card per run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import datasets
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from ftlab.core.device import pick_device
from ftlab.core.library_config import DPO_ARGUMENTS
from ftlab.core.memory import ModelShape, available_bytes, preflight
from ftlab.core.peft_methods import method_of, options_of
from ftlab.core.peft_methods import peft_config as method_config
from ftlab.core.preferences import to_conversational
from ftlab.core.runcard import make_card, reset_peak_memory, write_card
from ftlab.core.settings import DPOSettings, PeftOptions, TrainSetup
from ftlab.core.train import trained_model


@dataclass
class DPOResult:
    model: torch.nn.Module  # LoRA merged into the weights: a plain model, evaluated like any other
    history: list[dict]  # TRL log rows: loss, rewards/margins, rewards/accuracies, logps/chosen, ...
    card: dict
    card_path: Path


def run_arguments(s: DPOSettings, out_dir: Path, device: torch.device) -> dict:
    """The DPOConfig arguments ftlab sets for each run, whoever wrote the rest: folder, seed, device, progress."""
    return dict(output_dir=str(out_dir), seed=s.seed, data_seed=s.seed, use_cpu=device.type == "cpu",
                save_strategy="no", disable_tqdm=not s.progress)


def dpo_config(s: DPOSettings, out_dir: Path, device: torch.device) -> DPOConfig:
    """TRL's DPOConfig for these settings. TRL turns activation checkpointing on by default; we do not (it only
    trades speed for memory, and the preflight says when memory is short)."""
    return DPOConfig(
        beta=s.beta, loss_type=[s.loss_type], learning_rate=s.learning_rate,
        max_steps=s.max_steps, per_device_train_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum,
        warmup_steps=s.warmup_ratio, lr_scheduler_type=s.scheduler, max_length=s.max_length, bf16=s.bf16,
        activation_checkpointing=False, logging_steps=s.logging_steps, report_to="none",
        dataloader_num_workers=0, precompute_ref_log_probs=False, **run_arguments(s, out_dir, device),
    )


def dpo_settings_of(config: DPOConfig, defaults: DPOSettings, peft=None) -> DPOSettings:
    """What a learner's DPOConfig (and peft config, or None for full fine-tuning) sets, as ftlab's settings;
    `defaults` (the profile's) fill the rest."""
    if not isinstance(config, DPOConfig):
        raise TypeError(f"expected trl.DPOConfig, got {type(config).__name__}: build it with "
                        "`from trl import DPOConfig; DPOConfig(output_dir=..., beta=..., ...)`")
    settings = DPO_ARGUMENTS.settings_from(config, defaults)
    return replace(settings, method="full" if peft is None else method_of(peft))


def library_extras(config: DPOConfig | None, s: DPOSettings, device: torch.device) -> dict:
    """What a learner's DPOConfig sets beyond ftlab's settings that differs from ftlab's own config (the run
    card records it); {} without a config."""
    if config is None:
        return {}
    return DPO_ARGUMENTS.extras(config, dpo_config(s, Path(config.output_dir), device))


def check_memory(model, s: DPOSettings, peft: PeftOptions, device: torch.device):
    """ftlab.core.memory's preflight for a DPO step: the policy trains on chosen and rejected together (2 x batch
    sequences of up to max_length); the reference pass runs without gradients, so it adds no saved activations
    (with LoRA it is the same weights with the adapter off; with full fine-tuning a frozen copy of the weights,
    added here)."""
    shape = ModelShape.from_dict(model.config.to_dict())
    setup = TrainSetup(method=s.method, precision="mixed" if s.bf16 else "fp32", batch_size=2 * s.batch_size,
                       seq_len=s.max_length, peft=peft, device=device.type)
    budget = None
    if s.method == "full":

        budget = available_bytes(device.type) - 4 * model.num_parameters()  # the reference copy, fp32
    return preflight(shape, setup, budget_bytes=budget, allow=s.allow_oom_risk)


def to_dataset(pairs: list[dict]) -> Dataset:
    """Pairs as a `datasets.Dataset` in TRL's conversational preference format."""
    return Dataset.from_list([to_conversational(p) for p in pairs])


def run_dpo(model, tokenizer, pairs: list[dict], settings: DPOSettings, out_dir: Path,
            peft: PeftOptions = PeftOptions(), profile: str | None = None, name: str = "dpo",
            callbacks: list | None = None, args: DPOConfig | None = None, peft_config=None) -> DPOResult:
    """DPO-train `model` on preference pairs with TRL; returns the trained model (LoRA merged), the log history
    and a run card. The reference is the model as passed in (adapter disabled, or a frozen copy for "full").

    With the learner's own `args` (a DPOConfig), that object trains, with `settings` written onto it (the caller
    reads them from it with `dpo_settings_of`, then sets an arm's beta and seed) and this run's folder; a
    learner's `peft_config` (a LoraConfig) replaces the one `settings.method` and `peft` would make."""
    if not pairs:
        raise ValueError(f"{name}: no preference pairs to train on")
    out_dir = Path(out_dir)
    device = pick_device()
    if peft_config is not None:  # the learner's: it decides the method and what the preflight counts
        settings, peft = replace(settings, method=method_of(peft_config)), options_of(peft_config)
    elif settings.method != "full":
        peft_config = method_config(settings.method, peft)
    config = (dpo_config(settings, out_dir, device) if args is None
              else DPO_ARGUMENTS.onto(args, settings, **run_arguments(settings, out_dir, device)))
    predicted = check_memory(model, settings, peft, device)
    reset_peak_memory(device)
    datasets.disable_progress_bars()  # TRL's tokenizing passes would each draw a bar; the trainer's is enough
    trainer = DPOTrainer(model=model, args=config, train_dataset=to_dataset(pairs), processing_class=tokenizer,
                         callbacks=callbacks, peft_config=peft_config)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    history = trainer.state.log_history
    tokens = int(max((row.get("num_tokens", 0) for row in history), default=0))
    trained = trained_model(trainer)
    if settings.method != "full":
        trained = trained.merge_and_unload()
    logged = [row for row in history if "rewards/margins" in row]  # the last logged training batch + the summary
    metrics = {k: v for row in logged[-1:] + history[-1:] for k, v in row.items() if isinstance(v, (int, float))}
    card = make_card("dpo", settings, seed=settings.seed, tokens=tokens, wall_time_s=wall, metrics=metrics,
                     device=device, profile=profile,
                     extra={"train_pairs": len(pairs), "settings": asdict(settings), "peft": asdict(peft),
                            "history": history, "predicted_peak_bytes": predicted.total,
                            "library_arguments": library_extras(args, settings, device)})
    return DPOResult(trained, history, card, write_card(card, "runcard", out_dir))
