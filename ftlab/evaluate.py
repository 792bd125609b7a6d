"""Quality measures shared by the notebooks: perplexity on held-out text, and how English generated text is."""
from __future__ import annotations

import math
import re

from .pretrain import fixed_blocks, mean_loss, token_stream

WORD = re.compile(r"[A-Za-z]+")


def heldout_perplexity(model, tokenizer, docs: list[dict], seq_len: int = 256, max_blocks: int | None = None,
                       bf16: bool = False) -> float:
    """exp(mean next-token loss) over `docs` packed into fixed blocks: the same blocks every call."""
    blocks = fixed_blocks(token_stream(docs, tokenizer), seq_len, max_blocks)
    return math.exp(mean_loss(model, blocks, bf16=bf16))


def corpus_vocabulary(docs: list[dict]) -> set[str]:
    """Lower-cased words that occur in the documents."""
    return {w.lower() for d in docs for w in WORD.findall(d["text"])}


def known_word_rate(texts: list[str], vocabulary: set[str]) -> float:
    """Fraction of generated words that are real words of the corpus (0 for no words): a crude 'is it English'."""
    words = [w.lower() for t in texts for w in WORD.findall(t)]
    return sum(w in vocabulary for w in words) / len(words) if words else 0.0
