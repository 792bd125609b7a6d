"""The tiny base's own byte-level BPE tokenizer, trained with `tokenizers`, with a chat template for SFT.

Taught in notebook 00; the chat template (ChatML-style, `{% generation %}` marks assistant tokens so TRL can
put the loss on them alone) is what notebook 01 renders.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"  # separates documents; also the start-of-text token


PAD = "<|pad|>"


IM_START = "<|im_start|>"


IM_END = "<|im_end|>"


SPECIAL_TOKENS = [EOS, PAD, IM_START, IM_END]


# <|endoftext|> first (as every pretraining document began), then per message:
# <|im_start|>role\ncontent<|im_end|>\n ; the assistant's content + <|im_end|> carry the loss.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_bpe(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts`; every encoded text starts with EOS, as in pretraining."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(single=f"{EOS} $A", pair=f"{EOS} $A {EOS} $B",
                                                       special_tokens=[(EOS, eos_id)])
    return wrap(tok)


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """A transformers tokenizer around a `tokenizers` one, with the special tokens and chat template set."""
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD,
                                   additional_special_tokens=[IM_START, IM_END])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def ensure_trainable_template(tokenizer) -> None:
    """Give a ChatML tokenizer (e.g. SmolLM2's) a template with `{% generation %}` marks, so TRL can mask the
    loss to assistant tokens. Tokenizers whose template already has them are left alone."""
    template = tokenizer.chat_template or ""
    if "{% generation %}" in template:
        return
    if IM_START not in tokenizer.get_vocab() or IM_END not in tokenizer.get_vocab():
        raise ValueError("assistant-only loss needs a chat template with {% generation %} marks; this tokenizer "
                         "has neither such a template nor ChatML tokens (<|im_start|>, <|im_end|>)")
    tokenizer.chat_template = CHAT_TEMPLATE.replace("{{ bos_token }}", "")
