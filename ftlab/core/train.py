"""Supervised fine-tuning through TRL's SFTTrainer, the way every ftlab notebook runs it (taught in notebook 01).

A thin layer: chat rows (`messages`) -> a `datasets.Dataset`, an `SFTConfig` built from one `SFTSettings`
dataclass, loss on assistant tokens only (TRL's `assistant_only_loss`, driven by the chat template's
`{% generation %}` marks), seeds, evaluation loss, tqdm progress, and a run card per run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import datasets
import torch
from datasets import Dataset
from transformers import Trainer
from trl import SFTConfig, SFTTrainer

from ftlab.core.checkpoints import CompleteCheckpointMarker, prepare_resume
from ftlab.core.data import validate_rows
from ftlab.core.device import fsdp_shards, pick_device
from ftlab.core.evaluate import response_loss, task_scores
from ftlab.core.library_config import SFT_ARGUMENTS
from ftlab.core.memory import ModelShape, preflight, setup_of
from ftlab.core.models import load
from ftlab.core.paths import new_run_dir, relative
from ftlab.core.peft_methods import VIRTUAL_TOKEN_METHODS, build, method_of
from ftlab.core.profiles import Profile
from ftlab.core.runcard import make_card, reset_peak_memory, write_card
from ftlab.core.settings import PeftOptions, SFTSettings
from ftlab.core.speed import sftcache
from ftlab.core.speed.attention import within_rows
from ftlab.core.speed.tokencache import prepared
from ftlab.core.throughput import run_mfu
from ftlab.core.tokenizer import IM_END


@dataclass
class SFTResult:
    model: torch.nn.Module
    history: list[dict]  # TRL/transformers log rows: loss, eval_loss, learning_rate, step
    card: dict
    card_path: Path


def to_dataset(rows: list[dict]) -> Dataset:
    """Only the `messages` column: what TRL's conversational path expects."""
    return Dataset.from_list([{"messages": r["messages"]} for r in rows])


def run_arguments(s: SFTSettings, out_dir: Path, has_eval: bool, device: torch.device) -> dict:
    """The SFTConfig arguments that ftlab sets for each run, whoever wrote the rest of the config: its folder and
    seed, evaluation when there are validation rows, checkpoints, the device and the progress bar."""
    return dict(output_dir=str(out_dir), seed=s.seed, data_seed=s.seed, eval_strategy="steps" if has_eval else "no",
                save_strategy="steps" if s.save_steps else "no", save_steps=s.save_steps or None,
                use_cpu=device.type == "cpu", disable_tqdm=not s.progress)


def sft_config(s: SFTSettings, out_dir: Path, has_eval: bool, device: torch.device) -> SFTConfig:
    """TRL's SFTConfig for ftlab's settings: what a run trains with when the learner passes no config of their own."""
    return SFTConfig(
        learning_rate=s.learning_rate, max_steps=s.max_steps,
        num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size, per_device_eval_batch_size=32,
        gradient_accumulation_steps=s.grad_accum, warmup_steps=s.warmup_ratio, lr_scheduler_type=s.scheduler,
        # Padding-free batches are not truncated by TRL; run_sft has already refused any row over max_length.
        weight_decay=s.weight_decay, max_length=None if s.padding_free else s.max_length,
        padding_free=s.padding_free, assistant_only_loss=s.assistant_only_loss,
        eos_token=IM_END if s.assistant_only_loss else None, bf16=s.bf16,
        activation_checkpointing=s.activation_checkpointing, logging_steps=s.logging_steps, eval_steps=s.eval_steps,
        report_to="none", dataloader_num_workers=0, **run_arguments(s, out_dir, has_eval, device),
    )


def config_for_run(config: SFTConfig, s: SFTSettings, out_dir: Path, has_eval: bool,
                   device: torch.device) -> SFTConfig:
    """The learner's own SFTConfig for one run: every argument as they wrote it, except the settings an arm or a
    seed changes (`s`, read from the config by `settings_of`) and `run_arguments`."""
    return SFT_ARGUMENTS.onto(config, s, **run_arguments(s, out_dir, has_eval, device))


def settings_of(config: SFTConfig, defaults: SFTSettings) -> SFTSettings:
    """What a learner's SFTConfig sets, as ftlab's settings (measured, carded, keyed); `defaults` (the profile's)
    fill what it leaves unset and ftlab's own switches (row attention, the LM head, the memory guard)."""
    if not isinstance(config, SFTConfig):
        raise TypeError(f"expected trl.SFTConfig, got {type(config).__name__}: build it with "
                        "`from trl import SFTConfig; SFTConfig(output_dir=..., learning_rate=..., ...)`")
    return SFT_ARGUMENTS.settings_from(config, defaults)


def library_extras(config: SFTConfig | None, s: SFTSettings) -> dict:
    """The arguments of a learner's SFTConfig beyond ftlab's settings that differ from ftlab's own config
    (e.g. `neftune_noise_alpha`): they make it another run, so the run card records them and a cached or stored
    run of the settings alone is not used for it. {} without a config."""
    if config is None:
        return {}
    return SFT_ARGUMENTS.extras(config, sft_config(s, Path(config.output_dir), False, pick_device()))


def check_memory(model, settings: SFTSettings, device: torch.device):
    """ftlab.core.memory's preflight for this run: refuses (WontFit) a configuration predicted not to fit, before
    any training starts. Sequences are counted at `max_length`, the worst case of a padded batch."""
    setup = setup_of(model, settings.batch_size, settings.max_length, settings.bf16,
                     settings.activation_checkpointing, device.type, shards=fsdp_shards())
    return preflight(ModelShape.from_dict(model.config.to_dict()), setup, allow=settings.allow_oom_risk)


class FtlabSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer that can train on the model's own loss instead of TRL's chunked fused LM head.

    TRL 1.16 always routes the training loss through a fused head that projects to the vocabulary in tiles and
    also computes entropy and top-1 metrics: it avoids materialising (tokens x vocabulary) logits for 100k-word
    vocabularies on a GPU. With `model_loss=True` a training step is transformers' plain `Trainer.compute_loss`
    (the model's cross-entropy, gradient-accumulation and multi-process token averaging included) and the
    logged metrics are the token count and top-1 accuracy. Evaluation always keeps TRL's path and metrics.
    With `row_attention=True`, padding-free batches attend row by row while it trains (ftlab.core.speed.attention); TRL's
    prepared dataset is shared with later trainers on the same rows (ftlab.core.speed.tokencache).
    """

    @staticmethod
    def options(settings: SFTSettings) -> dict:
        """The trainer's own keyword arguments as `settings` asks for them."""
        return {"model_loss": not settings.fused_lm_head, "row_attention": settings.row_attention}

    def __init__(self, *args, model_loss: bool = False, row_attention: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_loss = model_loss
        self.row_attention = row_attention

    def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
        """TRL's preparation, done once per process for the same rows and data settings (ftlab.core.speed.tokencache)."""
        def prepare():
            return super(FtlabSFTTrainer, self)._prepare_dataset(dataset, processing_class, args, packing,
                                                                  formatting_func, dataset_name)
        if formatting_func is not None or not isinstance(dataset, Dataset):
            return prepare()
        return prepared(dataset, processing_class, args, packing, dataset_name, prepare)

    def train(self, *args, **kwargs):
        """Trainer.train, with padding-free batches attending row by row (ftlab.core.speed.attention) when asked."""
        with within_rows(self.model, enabled=self.row_attention and self.args.padding_free):
            return super().train(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not (self.model_loss and model.training):
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        inputs["use_cache"] = False
        loss, outputs = Trainer.compute_loss(self, model, inputs, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        self._log_step_metrics(inputs, outputs.logits)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _log_step_metrics(self, inputs, logits) -> None:
        """What TRL logs per training step that the run card needs: tokens so far, and top-1 token accuracy."""
        labels = inputs["labels"]
        logits = logits[:, -labels.size(1):]  # prompt tuning's virtual tokens come first
        targets = labels[:, 1:]
        scored = targets != -100
        correct = (logits[:, :-1].argmax(-1) == targets) & scored
        counts = self.accelerator.gather_for_metrics(torch.stack([scored.sum(), correct.sum()]).reshape(1, 2)).sum(0)
        self._metrics["train"]["mean_token_accuracy"].append((counts[1] / counts[0].clamp(min=1)).item())
        tokens = inputs["attention_mask"].sum() if "attention_mask" in inputs else torch.tensor(
            inputs["position_ids"].size(1), device=logits.device)
        self._total_train_tokens += self.accelerator.gather_for_metrics(tokens.reshape(1)).sum().item()
        self._metrics["train"]["num_tokens"] = [self._total_train_tokens]


def run_sft(model, tokenizer, train_rows: list[dict], settings: SFTSettings, out_dir: Path,
            val_rows: list[dict] | None = None, profile: str | None = None, name: str = "sft",
            callbacks: list | None = None, resume: bool = False, save_to: Path | None = None,
            args: SFTConfig | None = None) -> SFTResult:
    """Fine-tune `model` in place on validated chat rows; returns the model, the log history and a run card.

    It trains with TRL's SFTConfig built from `settings`, or with the learner's own `args` (`config_for_run`:
    their config with this run's folder and seed; `settings` must then be `settings_of(args, ...)`, as
    `fine_tune_and_score` makes them), and records what that config sets beyond ftlab's settings.

    With `settings.save_steps`, checkpoints go to out_dir/checkpoint-<step>; `resume=True` (same model as
    the first time, same out_dir) continues from the last complete one, or starts afresh if there is none.
    Runs unchanged under `accelerate launch` (DDP, FSDP): then every process calls it, the main one writes the
    card, and `save_to` gets the trained model or adapter gathered from all of them (ftlab.tools.scale).
    """
    out_dir = Path(out_dir)
    train_rows = validate_rows(train_rows, f"{name}: train rows", tokenizer, settings.max_length)
    if val_rows:
        val_rows = validate_rows(val_rows, f"{name}: validation rows", tokenizer, settings.max_length)
    device = pick_device()
    if val_rows and device.type == "cpu" and getattr(model, "is_loaded_in_4bit", False):
        warnings.warn("bitsandbytes on a CPU with AVX-512 BF16 silently stops the gradients of a 4-bit model's "
                      "adapters after any forward pass without gradients (an evaluation), so this run does not "
                      "evaluate while it trains, on any CPU (runs stay alike across machines); evaluate it "
                      "afterwards.", RuntimeWarning, stacklevel=2)
        val_rows = None
    if settings.padding_free and _prepends_virtual_tokens(model):
        raise ValueError(f"{name}: padding-free batches pack several rows into one sequence, but prefix and prompt "
                         "tuning prepend their virtual tokens once per sequence; use SFTSettings(padding_free=False)")
    predicted = check_memory(model, settings, device)
    checkpoint = prepare_resume(out_dir) if resume else None
    reset_peak_memory(device)
    datasets.disable_progress_bars()  # TRL's four tokenizing passes would each draw a bar; the trainer's is enough
    config = (sft_config(settings, out_dir, bool(val_rows), device) if args is None
              else config_for_run(args, settings, out_dir, bool(val_rows), device))
    trainer = FtlabSFTTrainer(model=model, args=config,
                              **FtlabSFTTrainer.options(settings), train_dataset=to_dataset(train_rows),
                              eval_dataset=to_dataset(val_rows) if val_rows else None, processing_class=tokenizer,
                              callbacks=[*(callbacks or []), CompleteCheckpointMarker()])  # e.g. ForgettingCurve
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.perf_counter() - start
    if save_to is not None:  # Trainer gathers FSDP shards and writes from the main process only
        trainer.save_model(str(save_to))
    history = trainer.state.log_history
    tokens = int(max((row.get("num_tokens", 0) for row in history), default=0))  # TRL counts what it trained on
    metrics = {k: v for k, v in history[-1].items() if isinstance(v, (int, float))} if history else {}
    plain = trained_model(trainer)
    card = make_card("sft", settings, seed=settings.seed, tokens=tokens, wall_time_s=wall, metrics=metrics,
                     device=device, profile=profile, extra={"train_rows": len(train_rows),
                                                            "val_rows": len(val_rows or []),
                                                            "mfu": run_mfu(plain, tokens / wall, settings.bf16,
                                                                           device),
                                                            "resumed_from": str(checkpoint) if checkpoint else None,
                                                            "settings": asdict(settings), "history": history,
                                                            "library_arguments": library_extras(args, settings),
                                                            "predicted_peak_bytes": predicted.total})
    card_path = out_dir / "runcard.json"
    if trainer.is_world_process_zero():  # one card per run, however many processes trained it
        card_path = write_card(card, "runcard", out_dir)
    return SFTResult(plain, history, card, card_path)


def trained_model(trainer):
    """The trained model without the forward wrappers training left on it, so it is evaluated, merged, copied
    and timed like any freshly loaded model: accelerate's autocast wrapper (bf16 runs) and TRL's fused-loss
    forward, which stays bound to the original object (a deep copy would still run the original's layers) and
    slows generation by about a third here."""
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    for module in model.modules():
        patched = module.__dict__.get("forward")
        code = getattr(getattr(patched, "__func__", patched), "__code__", None)  # functools.wraps hides __name__
        if code is not None and code.co_name == "_fused_forward":
            del module.forward
    return model


def _prepends_virtual_tokens(model) -> bool:
    """True for peft's prompt-learning wrappers (prefix, prompt, p-tuning)."""
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def fine_tune_and_score(profile: Profile, train_rows: list[dict], val_rows: list[dict] | None, test_rows: list[dict],
                        seed: int, name: str = "01-sft", method: str = "full", peft_options=None,
                        generate: bool = True, callbacks: list | None = None, reuse: bool = False,
                        args: SFTConfig | None = None, peft_config=None, **overrides) -> dict:
    """Fresh base of the profile (wrapped for a PEFT `method`) -> SFT with the profile's settings (plus
    overrides) -> test scores.

    The learner's own objects can drive it: `args`, a TRL `SFTConfig` (what it sets replaces the profile's
    settings, the profile fills what it leaves unset; `overrides` and the seed still apply per arm), and
    `peft_config`, a peft config (`LoraConfig`, `IA3Config`, ...) that replaces `method`'s and `peft_options`.

    One call is one arm of one seed in an experiment; notebooks repeat it over seeds and arms.
    `generate=False` skips the greedy answers (the slow part) and scores response loss only. `reuse=True` (full
    fine-tuning only) loads the model of an identical run trained before instead of training it again
    (`ftlab.core.speed.sftcache`), and saves this one for the next caller.
    """
    if peft_config is not None:
        method = method_of(peft_config)
    if reuse and (method != "full" or callbacks):
        raise ValueError(f"{name}: reuse=True caches full fine-tunes without callbacks only (method {method!r})")
    device = pick_device()
    if method in VIRTUAL_TOKEN_METHODS:
        overrides.setdefault("padding_free", False)  # one row per sequence (run_sft refuses packing)
    base = profile.sft if args is None else settings_of(args, profile.sft)
    settings = replace(base, seed=seed, **overrides)
    out_dir = new_run_dir(f"{name}-seed{seed}")
    cache = (sftcache.folder_for(profile.model, settings, train_rows, val_rows, library_extras(args, settings))
             if reuse else None)
    if cache and sftcache.complete(cache):
        result, tokenizer = reused_run(cache, out_dir, device)
        print(f"{name}, seed {seed}: the same run (base, settings, rows, code) was trained before; "
              f"its model is loaded from {relative(cache)}")
    else:
        torch.manual_seed(seed)  # adapters and virtual tokens are initialised from the seed too
        model, tokenizer = build(profile.model, method, peft_options or PeftOptions(), device=str(device),
                                 config=peft_config)
        result = run_sft(model, tokenizer, train_rows, settings, out_dir, val_rows=val_rows, profile=profile.name,
                         name=name, callbacks=callbacks, args=args)
        if cache:
            sftcache.store(cache, result.model, tokenizer, result.history, result.card, result.card_path)
    scored = (task_scores(result.model, tokenizer, test_rows, profile.max_new_tokens) if generate
              else {"scores": None, "answers": None})
    return {"seed": seed, "settings": settings, "history": result.history, "scores": scored["scores"],
            "answers": scored["answers"], "response_loss": response_loss(result.model, tokenizer, test_rows),
            "tokens_per_s": result.card["tokens_per_s"], "wall_time_s": result.card["wall_time_s"],
            "card": result.card, "card_path": result.card_path, "model": result.model, "tokenizer": tokenizer}


def reused_run(folder: Path, out_dir: Path, device) -> tuple[SFTResult, object]:
    """A cached run (`ftlab.core.speed.sftcache`) as this run's result: its model and tokenizer loaded from `folder`, its
    history and card, and a card in `out_dir` that says where it came from."""
    model, tokenizer = load(str(folder / "model"), device=device)
    saved = sftcache.saved_run(folder)
    card = {**saved["card"], "reused_from": str(folder)}
    return SFTResult(model, saved["history"], card, write_card(card, "runcard", out_dir)), tokenizer
