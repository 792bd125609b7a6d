"""Template and tokenize each conversation once per process, however many runs of an experiment use it.

A notebook trains the same rows arm after arm and scores the same test rows after every run. Rendering the
Jinja chat template is the slow part of tokenizing (about 0.6 ms a row here), and TRL's SFTTrainer re-tokenizes
the whole training set for every trainer it builds: on notebook 05's 2,000 rows that was ~4 s of every run
outside training. Results are keyed by what decides them (the tokenizer's files, vocabulary and template, the
rows' text, the trainer's data settings), never by object identity, since every run loads a fresh tokenizer.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

MAX_CONVERSATIONS = 50_000  # templated conversations remembered per process (a few MB)


MAX_DATASETS = 8  # prepared training / evaluation sets remembered per process


_templated: OrderedDict = OrderedDict()


_prepared: OrderedDict = OrderedDict()


# SFTConfig fields TRL's dataset preparation reads (trl 1.16 SFTTrainer._prepare_dataset)
DATA_FIELDS = ("max_length", "truncation_mode", "packing", "packing_strategy", "padding_free", "assistant_only_loss",
               "completion_only_loss", "dataset_text_field", "eos_token", "pad_token", "dataset_kwargs")


def tokenizer_key(tokenizer) -> str:
    """What decides a tokenizer's output: where it came from, its vocabulary size, special tokens, template."""
    parts = [type(tokenizer).__name__, tokenizer.name_or_path, len(tokenizer), tokenizer.eos_token,
             tokenizer.pad_token, tokenizer.bos_token, tokenizer.chat_template]
    return _digest(parts)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()


def _remember(cache: OrderedDict, key, make, limit: int):
    """cache[key], made by `make()` when missing; the least recently used entry leaves beyond `limit`."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make()
    if len(cache) > limit:
        cache.popitem(last=False)
    return value


def templated(tokenizer, messages: list[dict], **kwargs):
    """`tokenizer.apply_chat_template(messages, **kwargs)`, computed once per distinct input. Callers read the
    result and must not change it."""
    key = (tokenizer_key(tokenizer), json.dumps(messages, sort_keys=True), json.dumps(kwargs, sort_keys=True))
    return _remember(_templated, key, lambda: tokenizer.apply_chat_template(messages, **kwargs), MAX_CONVERSATIONS)


def prepared(dataset, tokenizer, args, packing: bool, dataset_name: str, prepare):
    """TRL's prepared (tokenized, masked, truncated) copy of `dataset`: `prepare()` the first time these rows
    meet this tokenizer and these data settings, the remembered copy afterwards (a datasets.Dataset is
    immutable, so trainers can share it)."""
    content = hashlib.sha256(json.dumps(dataset.to_list(), sort_keys=True).encode()).hexdigest()
    settings = {**{f: getattr(args, f, None) for f in DATA_FIELDS}, "packing": packing}
    key = (tokenizer_key(tokenizer), content, _digest(settings), dataset_name)
    return _remember(_prepared, key, prepare, MAX_DATASETS)
