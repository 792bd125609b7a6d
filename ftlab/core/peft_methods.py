"""One call builds each parameter-efficient method on a model, with peft doing the work.

Methods: full (no wrapper), lora, dora, qlora (LoRA on a model loaded in 4-bit NF4), prefix, prompt, ia3, and
bottleneck adapters (ftlab.core.bottleneck: peft has none, and the `adapters` package pins transformers 4.57 while
ftlab runs on 5.x).
"""

from __future__ import annotations

from ftlab.core.bottleneck import add_adapters
from ftlab.core.library_config import arguments
from ftlab.core.models import load, load_4bit
from ftlab.core.settings import PeftOptions, check_method

VIRTUAL_TOKEN_METHODS = ("prefix", "prompt")  # they prepend learnt tokens: one row per sequence, no packing




def peft_config(method: str, options: PeftOptions = PeftOptions()):
    """The peft config object for `method` (None for full fine-tuning and ftlab's own bottleneck adapters)."""
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig

    check_method(method)
    if method in ("full", "adapters"):
        return None
    if method in ("lora", "dora", "qlora"):
        return LoraConfig(r=options.lora_r, lora_alpha=2 * options.lora_r, lora_dropout=0.0,
                          target_modules=list(options.lora_targets), use_dora=method == "dora",
                          task_type="CAUSAL_LM")
    if method == "prefix":
        return PrefixTuningConfig(num_virtual_tokens=options.virtual_tokens, task_type="CAUSAL_LM")
    if method == "prompt":
        return PromptTuningConfig(num_virtual_tokens=options.virtual_tokens, task_type="CAUSAL_LM")
    return IA3Config(task_type="CAUSAL_LM")


def method_of(config) -> str:
    """ftlab's name for the method a peft config builds (a learner's `LoraConfig(use_dora=True)` is "dora"), so
    that the memory preflight, the run card and the virtual-token rules treat it as that method."""
    kind = str(getattr(config.peft_type, "value", config.peft_type)).lower()
    names = {"lora": "dora" if getattr(config, "use_dora", False) else "lora", "prefix_tuning": "prefix",
             "prompt_tuning": "prompt", "ia3": "ia3"}
    if kind not in names:
        raise ValueError(f"ftlab trains {', '.join(sorted(set(names.values())))} from a peft config; got a "
                         f"{type(config).__name__} ({kind})")
    return names[kind]


def options_of(config) -> PeftOptions:
    """The PeftOptions a peft config amounts to (rank and targets of LoRA, virtual tokens of prefix and prompt
    tuning): what ftlab's memory predictor reads."""
    method = method_of(config)
    if method in ("lora", "dora"):
        targets = config.target_modules
        return PeftOptions(lora_r=config.r, lora_targets=tuple(sorted([targets] if isinstance(targets, str)
                                                                      else targets)))
    if method in VIRTUAL_TOKEN_METHODS:
        return PeftOptions(virtual_tokens=config.num_virtual_tokens)
    return PeftOptions()


def peft_extras(config) -> dict:
    """What a learner's peft config sets beyond `options_of` that differs from the config ftlab builds for the same
    method and options (LoRA's alpha and dropout, say): what makes it another run. {} for None."""
    if config is None:
        return {}
    ours = arguments(peft_config(method_of(config), options_of(config)))
    return {name: value for name, value in sorted(arguments(config).items())
            if name not in ("r", "target_modules", "num_virtual_tokens") and ours.get(name) != value}


def wrap(model, method: str, options: PeftOptions = PeftOptions(), config=None):
    """`model` with `method`'s trainable parameters added and everything else frozen (full: unchanged). A peft
    `config` (the learner's own `LoraConfig`, ...) is used as written instead of the one `options` make."""
    from peft import get_peft_model

    if method == "adapters":
        return add_adapters(model, options.adapter_size)
    config = config if config is not None else peft_config(method, options)
    return model if config is None else get_peft_model(model, config)


def build(model_name: str, method: str, options: PeftOptions = PeftOptions(), device: str = "cpu",
          fsdp: bool = False, config=None):
    """(model, tokenizer) ready to train with `method`: the base loaded (in 4-bit for QLoRA, with peft's
    k-bit preparation), then wrapped; full fine-tuning returns the plain model. `fsdp=True` (QLoRA on several
    GPUs) loads 4-bit weights packed in bf16 and unplaced, and skips the k-bit preparation, which would upcast
    some weights to fp32 where FSDP needs one dtype (TRL skips it for sharded QLoRA too). A peft `config` of the
    learner's replaces the one `options` make."""
    import torch


    check_method(method)
    if method == "qlora" and fsdp:
        model, tok = load_4bit(model_name, compute_dtype=torch.bfloat16, device=None, quant_storage=torch.bfloat16)
    elif method == "qlora":
        from peft import prepare_model_for_kbit_training

        model, tok = load_4bit(model_name, device=device)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model, tok = load(model_name, device=device)
    return wrap(model, method, options, config), tok


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as the values they stand for."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.__class__.__name__ == "Params4bit" else 1)  # two 4-bit values per stored byte
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total
