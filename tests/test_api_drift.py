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
