"""General ability of a model, measured two ways: next-token loss on the held-out general corpus and a
probe with checkable answers (pick a WordNet word's gloss). Notebooks 03, 06 and 07 measure forgetting with it."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import torch

from ftlab.core.corpus import load_general
from ftlab.core.evaluate import completion_logprobs, fixed_blocks, mean_loss, token_stream
from ftlab.core.settings import EVAL_BLOCKS, ForgettingSettings

SEQ_LEN = 256  # tokens per evaluation block and per Fisher block (the tiny base's context)


PROBE_CHOICES = 4  # one true gloss and three distractors: chance is 1/4


def general_eval_docs(split: str = "heldout") -> list[dict]:
    """The general corpus in a fixed hash order, so any prefix of blocks mixes Wikipedia and WordNet text."""
    return sorted(load_general(split), key=lambda d: hashlib.sha256(d["id"].encode()).hexdigest())


def general_blocks(tokenizer, docs: list[dict], max_blocks: int | None, seq_len: int = SEQ_LEN) -> torch.Tensor:
    """The fixed evaluation blocks of `docs`: the same tokens every call, so losses compare across models."""
    return fixed_blocks(token_stream(docs, tokenizer), seq_len, max_blocks)


def blocks_loss(model, blocks: torch.Tensor) -> float:
    """Mean next-token loss on prepared blocks, leaving the model in the mode it was in."""
    was_training = model.training
    loss = mean_loss(model, blocks)  # sets eval, then train
    model.train(was_training)
    return loss


def general_loss(model, tokenizer, docs: list[dict] | None = None, max_blocks: int | None = EVAL_BLOCKS) -> float:
    """Mean next-token loss (nats/token) on held-out general text (default: `general_eval_docs()`): the
    forgetting measure. Higher means the model forgot more."""
    docs = docs if docs is not None else general_eval_docs()
    return blocks_loss(model, general_blocks(tokenizer, docs, max_blocks))


def gloss_of(doc: dict) -> str:
    """The definition of a WordNet 'word: gloss; "example"' document, without the word and the examples."""
    return doc["text"].split(": ", 1)[1].split('; "')[0]


def probe_items(n: int, seed: int = 0, docs: list[dict] | None = None, choices: int = PROBE_CHOICES) -> list[dict]:
    """`n` multiple-choice questions: a held-out WordNet word, its true gloss and `choices - 1` glosses of other
    words of the same part of speech, shuffled. Glosses that contain the word itself are left out (the model
    could copy instead of knowing). Deterministic for a given seed."""
    docs = docs if docs is not None else load_general("heldout", source="wordnet")
    usable = sorted((d for d in docs if d["title"].lower() not in gloss_of(d).lower()), key=lambda d: d["id"])
    by_pos: dict[str, list[dict]] = {}
    for d in usable:
        by_pos.setdefault(d["id"].split(":")[1][0], []).append(d)
    rng = random.Random(seed)
    items = []
    for d in rng.sample(usable, min(n, len(usable))):
        pool = [o for o in by_pos[d["id"].split(":")[1][0]] if o["title"] != d["title"] and gloss_of(o) != gloss_of(d)]
        options = [gloss_of(d)] + [gloss_of(o) for o in rng.sample(pool, choices - 1)]
        rng.shuffle(options)
        items.append({"id": d["id"], "word": d["title"], "choices": options, "answer": options.index(gloss_of(d))})
    return items


def probe_prompt(word: str | None) -> str:
    """The text before a gloss, as the corpus writes it ('word:'); None gives the word-less baseline (':')."""
    return f"{word or ''}:"


def continuation_logprobs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 64) -> list[float]:
    """Sum of log p(continuation tokens | prompt) for each (prompt, continuation) pair, batched by length."""
    encoded = [(tokenizer(p)["input_ids"], tokenizer(c, add_special_tokens=False)["input_ids"]) for p, c in pairs]
    return completion_logprobs(model, encoded, tokenizer.pad_token_id, batch_size).tolist()


def probe_scores(model, tokenizer, items: list[dict]) -> list[list[float]]:
    """Each choice's pointwise mutual information with the word: log p(gloss | 'word:') - log p(gloss | ':').

    Subtracting the word-less score removes how likely a gloss is anyway (short, common words), so the choice
    rests on what the model associates with the word (Holtzman et al. 2021's domain-conditional PMI)."""
    glosses = sorted({g for it in items for g in it["choices"]})
    baseline = dict(zip(glosses, continuation_logprobs(model, tokenizer, [(probe_prompt(None), " " + g)
                                                                          for g in glosses])))
    pairs = [(probe_prompt(it["word"]), " " + g) for it in items for g in it["choices"]]
    conditional = iter(continuation_logprobs(model, tokenizer, pairs))
    return [[next(conditional) - baseline[g] for g in it["choices"]] for it in items]


def general_probe(model, tokenizer, items: list[dict]) -> float:
    """Accuracy on the gloss probe (chance is 1/choices): how much word knowledge the model still has."""
    scores = probe_scores(model, tokenizer, items)
    return sum(max(range(len(s)), key=s.__getitem__) == it["answer"] for s, it in zip(scores, items)) / len(items)


def chance_level(items: list[dict]) -> float:
    """Expected accuracy of guessing uniformly among each item's choices."""
    return sum(1 / len(it["choices"]) for it in items) / len(items)


@dataclass
class GeneralEval:
    """The fixed measuring kit: held-out blocks and probe items, prepared once and applied to every model."""

    blocks: torch.Tensor
    probe: list[dict]

    @classmethod
    def build(cls, tokenizer, fs: ForgettingSettings = ForgettingSettings()) -> "GeneralEval":
        return cls(general_blocks(tokenizer, general_eval_docs(), fs.eval_blocks),
                   probe_items(fs.probe_size, fs.probe_seed))

    def measure(self, model, tokenizer) -> dict:
        """General loss and probe accuracy of `model`."""
        return {"general_loss": blocks_loss(model, self.blocks),
                "probe_accuracy": general_probe(model, tokenizer, self.probe)}
