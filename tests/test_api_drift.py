"""The library arguments ftlab relies on still exist (TRL/transformers rename things often)."""
import inspect

from transformers import LlamaConfig, PreTrainedTokenizerBase
from transformers.generation import GenerationConfig


def params(fn) -> set[str]:
    return set(inspect.signature(fn).parameters)


def test_chat_template_can_return_the_assistant_mask():
    assert {"return_assistant_tokens_mask", "return_dict", "add_generation_prompt"} <= params(
        PreTrainedTokenizerBase.apply_chat_template)


def test_llama_config_and_sampling_arguments():
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      tie_word_embeddings=True)
    assert cfg.tie_word_embeddings
    gen = GenerationConfig(do_sample=True, top_k=40, repetition_penalty=1.3)
    assert gen.repetition_penalty == 1.3


def test_trl_sft_config_arguments_ftlab_passes_still_exist():
    from trl import SFTConfig
    used = {"assistant_only_loss", "activation_checkpointing", "max_length", "eos_token", "use_cpu", "bf16",
            "warmup_steps", "lr_scheduler_type", "eval_strategy", "save_strategy", "report_to", "data_seed",
            "disable_tqdm", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps"}
    assert used <= params(SFTConfig.__init__)


def test_ftlab_sft_config_builds_and_turns_checkpointing_off():
    import torch

    from ftlab.sft import SFTSettings, sft_config
    cfg = sft_config(SFTSettings(max_steps=3), "/tmp/ftlab-api-check", has_eval=False, device=torch.device("cpu"))
    assert cfg.assistant_only_loss and not cfg.gradient_checkpointing and cfg.warmup_steps == 0.1
