"""Preference pairs (prompt, chosen, rejected) derived from data/instructions (taught in notebook 07).

Preference tuning (DPO) needs, for each prompt, a better and a worse answer. Nobody ranked our data, but every
instruction row with a checkable answer yields pairs deterministically: the reference answer is *chosen*, and
the *rejected* answer is a plausible mistake of one of four kinds:

- `wrong`: another row's answer to the same task (another passage's title, another dictionary entry's example
  sentence, another sentence's last word, another count; for the knowledge tasks another synset's gloss or
  another country's capital). Picked by a hash of the row id among the task's rows with a different answer.
- `near_miss`: a mistake built from the prompt itself, the kind a model that half-learnt the task makes: the
  title plus the next word of the passage, the dictionary entry's definition instead of its example sentence,
  the sentence's second-to-last word instead of its last, the word count off by one. (None for `define`,
  `capital` and `chat`.)
- `rambling`: the right answer followed by words copied on from the prompt (concise vs rambling).
- `off_format`: the right answer wrapped in a sentence, 'The answer is "…".' (on-format vs off-format: exact
  match, the course's metric, counts it wrong).

Pairs inherit the split of the row they come from (data/instructions is split by a hash of the source
document), so held-out pairs share no prompt and no source document with training pairs. Rows built from a
document of data/general's held-out split are dropped: that text is what notebook 07 measures the alignment
tax on, so no preference signal may touch it. Building is a pure function of the rows: the same rows give the
same pairs on every machine.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from ftlab.core.corpus import is_heldout
from ftlab.core.evaluate import normalize
from ftlab.core.instructions import load_instructions

PAIR_KINDS = ("wrong", "near_miss", "rambling", "off_format")


RAMBLE_WORDS = 8  # words the `rambling` answer copies on from the prompt's passage


def _rng(key: str) -> random.Random:
    """A random stream fixed by `key` alone (sha256, not Python's salted hash)."""
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def prompt_of(row: dict) -> str:
    """The user turn of a single-turn instruction row."""
    return row["messages"][0]["content"]


def passage_of(row: dict) -> str:
    """The text after the instruction line (the passage, entry or sentence the task is about)."""
    return prompt_of(row).split("\n\n", 1)[-1]


def wrong_answer(row: dict, same_task: list[dict]) -> str | None:
    """Another row's answer to the same task, chosen by a hash of this row's id; None if every answer matches."""
    mine = normalize(row["answer"])
    rng = _rng(f"wrong:{row['id']}")
    for other in rng.sample(same_task, min(len(same_task), 50)):
        if normalize(other["answer"]) != mine:
            return other["answer"]
    return None


def near_miss(row: dict) -> str | None:
    """A wrong answer built from the prompt itself, per task (see the module docstring); None if there is none."""
    task, answer, passage = row["task"], row["answer"], passage_of(row)
    if task == "title":
        rest = passage[len(answer):].split()
        return f"{answer} {rest[0]}" if passage.startswith(answer) and rest else None
    if task == "quote":
        definition = passage.split(": ", 1)[-1].split('; "')[0]
        return definition if normalize(definition) != normalize(answer) else None
    if task == "last_word":
        words = [w.strip(".,;:!?\"'") for w in passage.split()]
        candidates = [w for w in words[:-1] if w and normalize(w) != normalize(answer)]
        return candidates[-1] if candidates else None
    if task == "count_words":
        n = int(answer)
        step = 1 if n <= 1 or _rng(f"count:{row['id']}").random() < 0.5 else -1
        return str(n + step)
    return None


def rambling(row: dict) -> str:
    """The answer, then words of the prompt's passage that follow it (or open it): right, but does not stop."""
    answer, passage = row["answer"], passage_of(row)
    at = passage.find(answer)
    tail = passage[at + len(answer):] if at >= 0 else passage
    extra = " ".join(tail.replace('"', " ").replace(";", " ").split()[:RAMBLE_WORDS])
    extra = extra or " ".join(passage.split()[:RAMBLE_WORDS])
    return f"{answer} {extra}"


def off_format(row: dict) -> str:
    """The right answer inside a sentence: what a chatty model says, and what exact match counts as wrong."""
    return f'The answer is "{row["answer"]}".'


def rejected_answer(row: dict, kind: str, same_task: list[dict]) -> str | None:
    """The rejected answer of one `kind` for `row` (None when the kind does not apply to this row)."""
    if kind == "wrong":
        return wrong_answer(row, same_task)
    if kind == "near_miss":
        return near_miss(row)
    if kind == "rambling":
        return rambling(row)
    if kind == "off_format":
        return off_format(row)
    raise ValueError(f"unknown pair kind {kind!r}; expected one of {', '.join(PAIR_KINDS)}")


def build_pairs(rows: list[dict], kinds: tuple[str, ...] = PAIR_KINDS) -> list[dict]:
    """Preference pairs from instruction rows: one per (row, kind) where the kind applies and the rejected
    answer differs from the chosen one. Ordered so that every prefix mixes tasks and kinds evenly (round robin
    over (task, kind), rows in id order within each): `pairs[:n]` is a balanced sample."""
    for kind in kinds:
        if kind not in PAIR_KINDS:
            raise ValueError(f"unknown pair kind {kind!r}; expected one of {', '.join(PAIR_KINDS)}")
    usable = sorted((r for r in rows if not is_heldout(r["source_id"])), key=lambda r: r["id"])
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in usable:
        by_task[r["task"]].append(r)
    streams = []
    for task in sorted(by_task):
        for kind in kinds:
            stream = []
            for r in by_task[task]:
                rejected = rejected_answer(r, kind, by_task[task])
                if rejected is not None and normalize(rejected) != normalize(r["answer"]):
                    stream.append({"id": f"{kind}:{r['id']}", "task": task, "kind": kind, "source_id": r["source_id"],
                                   "prompt": prompt_of(r), "chosen": r["answer"], "rejected": rejected})
            if stream:
                streams.append(stream)
    pairs = []
    for i in range(max(map(len, streams), default=0)):
        pairs += [s[i] for s in streams if i < len(s)]
    return pairs


def load_pairs(split: str, tasks: tuple[str, ...], limit: int | None = None,
               kinds: tuple[str, ...] = PAIR_KINDS) -> list[dict]:
    """The first `limit` pairs (balanced over tasks and kinds) built from one split of data/instructions."""
    pairs = build_pairs(load_instructions(split, tasks), kinds)
    return pairs[:limit] if limit is not None else pairs


def to_conversational(pair: dict) -> dict:
    """A pair in TRL's conversational preference format: prompt, chosen and rejected as message lists."""
    return {"prompt": [{"role": "user", "content": pair["prompt"]}],
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}]}


def shared_prompts(a: list[dict], b: list[dict]) -> set[str]:
    """Prompts that occur in both pair lists (a leak check: train and held-out pairs must share none)."""
    return {p["prompt"] for p in a} & {p["prompt"] for p in b}
