"""Instruction (chat) data derived from real text, with checkable answers (taught in notebook 01).

Two kinds of task:
- grounded: the prompt contains everything needed (copy a title from a passage, quote an example, find the last
  word, count words). A 3 M-parameter model can learn these; they are how the tiny profile measures SFT.
- knowledge: the answer must already be in the model (define a word, name a capital). Reported on `smol`.
Plus human-written chat pairs (chatterbot-corpus) as real conversational data.

Every example is tied to the source document it came from, and the split is decided by a hash of that
document's id, so no document feeds both train and test.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from ftlab.core.corpus import load_general
from ftlab.core.data import load_chat_jsonl
from ftlab.core.paths import DATA_DIR
from ftlab.core.sources import SourcePackage, fetch

INSTRUCTIONS_DIR = DATA_DIR / "instructions"


CHATTERBOT = SourcePackage("chatterbot-corpus", "1.3.3", "BSD-3-Clause")


COUNTRYINFO = SourcePackage("countryinfo", "1.0.1", "MIT")


SPLITS = ("train", "val", "test")


GROUNDED_TASKS = ("title", "quote", "last_word", "count_words")


KNOWLEDGE_TASKS = ("define", "capital")


def split_of(key: str) -> str:
    """80/10/10 train/val/test by a hash of the source document's id."""
    bucket = int(hashlib.sha256(f"instr:{key}".encode()).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def chat(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def example(task: str, kind: str, key: str, prompt: str, answer: str) -> dict:
    return {"id": f"{task}:{key}", "task": task, "kind": kind, "source_id": key,
            "messages": chat(prompt, answer), "answer": answer}


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def title_examples(wiki: list[dict]) -> Iterator[dict]:
    """'What is this passage about?' where the lead's first sentence starts with the article's title."""
    for d in wiki:
        sent = first_sentence(d["text"])
        if sent.startswith(d["title"]) and len(sent) <= 220 and len(d["title"]) <= 40:
            yield example("title", "grounded", d["id"], f"What is this passage about? Answer with its title.\n\n"
                                                         f"{sent}", d["title"])


def wordnet_parts(doc: dict) -> tuple[str, str, list[str]]:
    """(lemma, definition, examples) back from a 'lemma: definition; "example"' corpus document."""
    lemma, _, rest = doc["text"].partition(": ")
    examples = re.findall(r'"([^"]+)"', rest)
    definition = rest.split('; "')[0]
    return lemma, definition, examples


def sentence_examples(wordnet: list[dict]) -> Iterator[dict]:
    """Quote an entry's example, name a sentence's last word, count its words."""
    for d in wordnet:
        lemma, definition, examples = wordnet_parts(d)
        if not examples:
            continue
        sent = examples[0]
        words = sent.split()
        yield example("quote", "grounded", d["id"], f"Quote the example sentence from this dictionary entry.\n\n"
                                                    f"{d['text']}", sent)
        last = re.sub(r"[^\w'-]+$", "", words[-1])
        if last:
            yield example("last_word", "grounded", d["id"], f"What is the last word of this sentence?\n\n{sent}",
                          last)
        if 2 <= len(words) <= 7:
            yield example("count_words", "grounded", d["id"], f"How many words are in this sentence?\n\n{sent}",
                          str(len(words)))


def define_examples(wordnet: list[dict]) -> Iterator[dict]:
    for d in wordnet:
        lemma, definition, _ = wordnet_parts(d)
        yield example("define", "knowledge", d["id"], f"Define the word '{lemma}'.", definition)


def capital_examples(archive: Path) -> Iterator[dict]:
    """'What is the capital of X?' from countryinfo's per-country JSON files."""
    import zipfile
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith("countryinfo/data/") and n.endswith(".json"))
        for name in names:
            info = json.loads(zf.read(name))
            country, capital = info.get("name"), info.get("capital")
            if isinstance(country, str) and isinstance(capital, str) and capital:
                yield example("capital", "knowledge", f"country:{country}", f"What is the capital of {country}?",
                              capital)


def chatterbot_examples(archive: Path) -> Iterator[dict]:
    """Human-written question/answer pairs from the English chatterbot corpus (uneven quality on purpose)."""
    import zipfile

    import yaml
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if "/data/english/" in n and n.endswith(".yml"))
        for name in names:
            topic = Path(name).stem
            for i, conv in enumerate(yaml.safe_load(zf.read(name)).get("conversations", [])):
                if len(conv) >= 2 and all(isinstance(t, str) and t.strip() for t in conv[:2]):
                    yield {"id": f"chat:{topic}:{i}", "task": "chat", "kind": "chat",
                           "source_id": f"chat:{topic}:{i}", "messages": chat(conv[0].strip(), conv[1].strip()),
                           "answer": conv[1].strip()}


def build_instructions(per_task_cap: int = 6000) -> dict[str, list[dict]]:
    """All instruction examples, split train/val/test by source document; each task capped for size."""
    wiki = load_general("train", source="wikipedia") + load_general("heldout", source="wikipedia")
    wordnet = load_general("train", source="wordnet") + load_general("heldout", source="wordnet")
    wiki.sort(key=lambda d: d["id"])
    wordnet.sort(key=lambda d: hashlib.sha256(d["id"].encode()).hexdigest())  # spread over parts of speech
    streams = [title_examples(wiki), sentence_examples(wordnet), define_examples(wordnet),
               capital_examples(fetch(COUNTRYINFO)), chatterbot_examples(fetch(CHATTERBOT))]
    counts: Counter = Counter()
    out = {s: [] for s in SPLITS}
    for stream in streams:
        for ex in stream:
            if counts[ex["task"]] >= per_task_cap:
                continue
            counts[ex["task"]] += 1
            out[split_of(ex["source_id"])].append(ex)
    return out


# Each task's instruction as training states it, and a wording no training row uses (notebook 01 tests both: a
# model that follows instructions copes with the new wording; one tuned to a template may not).
PHRASINGS = {
    "title": ("What is this passage about? Answer with its title.", "Give the title of the article this text is from."),
    "quote": ("Quote the example sentence from this dictionary entry.", "Copy out the usage example given in this entry."),
    "last_word": ("What is the last word of this sentence?", "Which word ends this sentence?"),
    "count_words": ("How many words are in this sentence?", "Count the words in this sentence."),
    "define": ("Define the word '{}'.", "What does the word '{}' mean?"),
    "capital": ("What is the capital of {}?", "Which city is the capital of {}?"),
}


def rephrase(row: dict) -> dict:
    """The row with its instruction in the held-out wording of PHRASINGS (the same passage and answer); a row
    whose prompt does not start with its task's training wording is a ValueError naming the row."""
    trained, heldout = PHRASINGS[row["task"]]
    prompt = row["messages"][0]["content"]
    head, sep, rest = prompt.partition("\n\n")
    pattern = "^" + re.escape(trained).replace(re.escape("{}"), "(.+)") + "$"
    match = re.match(pattern, head)
    if not match:
        raise ValueError(f"row {row['id']}: its prompt does not start with the {row['task']} instruction "
                         f"{trained!r}, so it cannot be reworded")
    new = heldout.format(*match.groups()) + sep + rest
    return {**row, "id": f"{row['id']}:reworded", "messages": [{**row["messages"][0], "content": new},
                                                               *row["messages"][1:]]}


def load_instructions(split: str, tasks: tuple[str, ...] | None = None, limit_per_task: int | None = None) -> list[dict]:
    """Committed instruction examples of one split, optionally only some tasks and at most N per task."""
    rows = load_chat_jsonl(INSTRUCTIONS_DIR / f"{split}.jsonl.gz")
    taken: Counter = Counter()
    keep = []
    for r in rows:
        if (tasks is None or r["task"] in tasks) and (limit_per_task is None or taken[r["task"]] < limit_per_task):
            taken[r["task"]] += 1
            keep.append(r)
    return keep
