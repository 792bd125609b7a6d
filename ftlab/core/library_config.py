"""A learner's own TRL config as ftlab's settings, and ftlab's settings written onto it (taught in notebooks 01
and 07).

ftlab's settings dataclasses (`SFTSettings`, `DPOSettings`) are what a profile stores and what a run card and a
stored reference record. A learner writes TRL's `SFTConfig` or `DPOConfig`. An `ArgumentMap` says which config
argument each settings field sets, so that ftlab can train with the learner's config object itself: it reads the
settings it measures from the config (`settings_from`), writes back only what changes per run (the seed, the
run folder, an arm's override: `onto`), and names what the config sets beyond ftlab's settings (`extras`) so that
a cached run or a stored reference is never mistaken for it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any

# Arguments ftlab sets per run (the seed, the folder, evaluation when there are validation rows, checkpoints) or
# that only change what is shown, never what is trained: not part of what makes two runs the same run.
PER_RUN = frozenset({"output_dir", "logging_dir", "run_name", "seed", "data_seed", "eval_strategy", "use_cpu",
                     "disable_tqdm", "save_strategy", "save_steps", "report_to", "hub_model_id",
                     "do_train", "do_eval", "do_predict"})  # do_eval follows eval_strategy; none of the three trains


def _plain(value: Any) -> Any:
    """An enum argument (TrainingArguments turns 'cosine' into SchedulerType.COSINE) as its value."""
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class ArgumentMap:
    """settings field -> the library config argument it sets, for one settings dataclass."""

    arguments: dict[str, str]
    # Fields whose argument means something when it is None (SFT's max_length=None: packed rows are never
    # truncated): a None there stays None in `onto`. Any other None argument is unset, and the settings' value
    # (the profile's default) fills it.
    none_stays: frozenset[str] = frozenset()
    # Fields stored in another form than the argument: field -> (argument value -> field, field -> argument).
    forms: dict = dataclass_field(default_factory=dict)

    def settings_from(self, config, defaults):
        """`defaults` with every mapped field read from `config`: what the learner wrote, in ftlab's names."""
        values = {}
        for field, argument in self.arguments.items():
            value = _plain(getattr(config, argument))
            if value is not None:
                values[field] = self.forms[field][0](value) if field in self.forms else value
        return replace(defaults, **values)

    def onto(self, config, settings, **per_run):
        """A copy of `config` with every mapped argument set from `settings` and the per-run arguments given;
        every other argument stays as the learner wrote it."""
        values = {}
        for field, argument in self.arguments.items():
            if field in self.none_stays and getattr(config, argument) is None:
                continue
            value = getattr(settings, field)
            values[argument] = self.forms[field][1](value) if field in self.forms else value
        return replace(config, **values, **per_run)

    def extras(self, config, reference) -> dict:
        """The arguments of `config` that ftlab's settings do not hold and that differ from `reference` (the
        config ftlab itself builds for the same settings): what makes the learner's run another run."""
        mine, ours = arguments(config), arguments(reference)
        mapped = set(self.arguments.values())
        return {name: value for name, value in sorted(mine.items())
                if name not in PER_RUN and name not in mapped and ours.get(name) != value}


def arguments(config) -> dict:
    """Every argument of a config as set (to_dict() would hide `eos_token` and `pad_token`: it masks *_token)."""
    return {f.name: _plain(getattr(config, f.name)) for f in fields(config) if f.init}


def field_names(settings_class) -> set[str]:
    """The fields of a settings dataclass (tests check every mapped field exists)."""
    return {f.name for f in fields(settings_class)}


# SFTSettings -> trl.SFTConfig. ftlab's own fields (row_attention, fused_lm_head, allow_oom_risk, progress) are
# speed and safety switches of ftlab's trainer, not TRL arguments.
SFT_ARGUMENTS = ArgumentMap({
    "learning_rate": "learning_rate", "max_steps": "max_steps", "epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size", "grad_accum": "gradient_accumulation_steps",
    "warmup_ratio": "warmup_steps", "scheduler": "lr_scheduler_type", "weight_decay": "weight_decay",
    "max_length": "max_length", "padding_free": "padding_free", "assistant_only_loss": "assistant_only_loss",
    "bf16": "bf16", "activation_checkpointing": "activation_checkpointing", "eval_steps": "eval_steps",
    "logging_steps": "logging_steps",
}, none_stays=frozenset({"max_length"}))

# DPOSettings -> trl.DPOConfig (the method, LoRA or full, is the peft_config passed beside it, not an argument).
DPO_ARGUMENTS = ArgumentMap({
    "beta": "beta", "learning_rate": "learning_rate", "max_steps": "max_steps",
    "batch_size": "per_device_train_batch_size", "grad_accum": "gradient_accumulation_steps",
    "warmup_ratio": "warmup_steps", "scheduler": "lr_scheduler_type", "max_length": "max_length", "bf16": "bf16",
    "logging_steps": "logging_steps", "loss_type": "loss_type",
}, none_stays=frozenset({"max_length"}),
    # DPOConfig takes a list of losses to combine; ftlab's experiments use one.
    forms={"loss_type": (lambda value: value[0] if isinstance(value, list) and len(value) == 1 else value,
                         lambda value: [value])})
