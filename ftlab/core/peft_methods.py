"""One call builds each parameter-efficient method on a model, with peft doing the work.

Methods: full (no wrapper), lora, dora, qlora (LoRA on a model loaded in 4-bit NF4), prefix, prompt, ia3, and
bottleneck adapters (ftlab.core.bottleneck: peft has none, and the `adapters` package pins transformers 4.57 while
ftlab runs on 5.x).
"""

from __future__ import annotations

from ftlab.core.bottleneck import add_adapters
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


def wrap(model, method: str, options: PeftOptions = PeftOptions()):
    """`model` with `method`'s trainable parameters added and everything else frozen (full: unchanged)."""
    from peft import get_peft_model

    if method == "adapters":

        return add_adapters(model, options.adapter_size)
    config = peft_config(method, options)
    return model if config is None else get_peft_model(model, config)


def build(model_name: str, method: str, options: PeftOptions = PeftOptions(), device: str = "cpu",
          fsdp: bool = False):
    """(model, tokenizer) ready to train with `method`: the base loaded (in 4-bit for QLoRA, with peft's
    k-bit preparation), then wrapped; full fine-tuning returns the plain model. `fsdp=True` (QLoRA on several
    GPUs) loads 4-bit weights packed in bf16 and unplaced, and skips the k-bit preparation, which would upcast
    some weights to fp32 where FSDP needs one dtype (TRL skips it for sharded QLoRA too)."""
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
    return wrap(model, method, options), tok


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as the values they stand for."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.__class__.__name__ == "Params4bit" else 1)  # two 4-bit values per stored byte
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total
