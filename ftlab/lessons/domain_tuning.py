"""Notebook 06: does a tiny specialist beat a 135M generalist on its domain? Prompts, SQL extraction, grading
by execution, and the specialist experiment over seeds."""

from __future__ import annotations

import random
import re
import time
from collections import defaultdict
from pathlib import Path

from ftlab.core.device import pick_device
from ftlab.core.evaluate import chat_prompts, generate_answers
from ftlab.core.general_ability import blocks_loss, general_blocks, general_eval_docs
from ftlab.core.models import load
from ftlab.core.paths import REPO_ROOT
from ftlab.core.profiles import Profile
from ftlab.core.provenance import load as load_reference
from ftlab.core.seedstore import Experiment, settings_key
from ftlab.core.settings import EVAL_BLOCKS
from ftlab.core.sql import SPLITS, domain_hash, grade, hash_sample, load_domain, summarise
from ftlab.core.train import fine_tune_and_score

INSTRUCTION = ("You translate questions about the periodic table into SQLite. Answer with one SELECT query on "
               "the table shown and nothing else.")


GENERALIST_RESULTS = REPO_ROOT / "bench" / "results" / "domain_smol.json"  # bench/domain_smol.py


SQL_MAX_NEW_TOKENS = 48  # the longest gold query is 44 tiny-tokenizer tokens


SQL_START = re.compile(r"\b(with\s+\w+\s+as\s*\(|select)\b", re.I)


FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)(```|$)", re.S)


STATEMENT_END = re.compile(r";|\n\s*\n|```")


def sample(rows: list[dict], n: int | None) -> list[dict]:
    """A fixed, family-mixed sample of n rows (the n smallest hashes of their ids); all rows when n is None."""
    return list(rows) if n is None or n >= len(rows) else sorted(hash_sample(rows, n), key=lambda r: (r["task"], r["id"]))


def shots(train: list[dict], k: int) -> list[dict]:
    """k worked examples for a few-shot prompt, each from a different template family while families last."""
    by_task = defaultdict(list)
    for r in sorted(train, key=lambda r: domain_hash(f"shot:{r['id']}")):
        by_task[r["task"]].append(r)
    queues = [by_task[t] for t in sorted(by_task, key=lambda t: domain_hash(f"shot-family:{t}"))]
    picked = []
    while len(picked) < k and any(queues):
        for q in queues:
            if q and len(picked) < k:
                picked.append(q.pop(0))
    return picked


def with_prompt(row: dict, examples: list[dict] = (), instruction: str | None = None) -> dict:
    """The row with its conversation rebuilt for a general model: an optional system instruction, then each
    example as a user turn and an assistant turn, then the row's own question (its gold answer stays last)."""
    messages = [{"role": "system", "content": instruction}] if instruction else []
    for ex in examples:
        messages += ex["messages"][:2]
    return dict(row, messages=messages + row["messages"])


def extract_sql(text) -> str:
    """The first SQL query in a model's answer, so chatty models are graded on their SQL and not their prose:
    the inside of the first code fence if there is one, from the first SELECT (or WITH name AS ( ) on, up to
    the first semicolon, blank line or fence. No SELECT at all gives "" (graded wrong)."""
    if not isinstance(text, str):
        return ""
    fenced = FENCE.search(text)
    body = fenced.group(1) if fenced and SQL_START.search(fenced.group(1)) else text
    start = SQL_START.search(body)
    if not start:
        return ""
    sql = STATEMENT_END.split(body[start.start():], maxsplit=1)[0]
    return " ".join(sql.split())


def score_sql(model, tokenizer, rows: list[dict], max_new_tokens: int = SQL_MAX_NEW_TOKENS,
              batch_size: int = 32) -> dict:
    """Generate greedily for each row, extract the SQL, run it, grade it: accuracy summary, per-row outcomes,
    raw answers, and seconds per question."""
    start = time.perf_counter()
    answers = generate_answers(model, tokenizer, rows, max_new_tokens, batch_size)
    seconds = time.perf_counter() - start
    sql = [extract_sql(a) for a in answers]
    outcomes = grade(sql, rows)
    return {"scores": summarise(outcomes), "outcomes": outcomes, "answers": answers, "sql": sql,
            "seconds": seconds, "seconds_per_question": seconds / max(len(rows), 1)}


def accuracy_on(outcomes: list[dict], rows: list[dict]) -> dict:
    """The summary of stored per-row outcomes restricted to these rows (e.g. a benchmark's, on a notebook's
    sample); every row must have an outcome."""
    by_id = {o["id"]: o for o in outcomes}
    missing = [r["id"] for r in rows if r["id"] not in by_id]
    if missing:
        raise KeyError(f"{len(missing)} rows have no stored outcome, e.g. {missing[0]}; rerun the benchmark")
    return summarise([by_id[r["id"]] for r in rows])


def accuracy_by_unseen(outcomes: list[dict], rows: list[dict]) -> dict[str, dict]:
    """Accuracy per kind of novelty a test row has ("element", "column", "phrasing"): where a model fails."""
    groups = defaultdict(list)
    for o, r in zip(outcomes, rows):
        if o["id"] != r["id"]:
            raise ValueError(f"outcome {o['id']} is not for row {r['id']}; pass them in the same order")
        groups["+".join(r["unseen"]) or "nothing"].append(o)
    return {kind: summarise(group) for kind, group in sorted(groups.items())}


def mean_prompt_tokens(tokenizer, rows: list[dict]) -> float:
    """Average length of the prompts a model reads (chat template applied): most of an answer's compute."""
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in chat_prompts(tokenizer, rows)]
    return sum(lengths) / max(len(lengths), 1)


def load_generalist(path: Path = GENERALIST_RESULTS) -> dict:
    """The record bench/domain_smol.py wrote, refused when missing or stale (`ftlab.core.provenance.load`)."""
    return load_reference(Path(path).name)


def specialist_run(profile: Profile, train: list[dict], tests: dict[str, list[dict]], seed: int, general_blocks=None,
                   name: str = "06-domain", **overrides) -> dict:
    """Fine-tune a fresh base of the profile on text-to-SQL rows for `profile.domain_steps` steps, then score
    it on every test split and (given held-out general blocks) measure its general loss: one seed of the
    specialist in notebook 06. Each seed trains on its own random draw of steps x batch rows (one pass)."""
    overrides = {"max_steps": profile.domain_steps, "logging_steps": max(1, profile.domain_steps // 10), **overrides}
    need = overrides["max_steps"] * profile.sft.effective_batch
    rows = random.Random(seed).sample(train, need) if need < len(train) else list(train)
    run = fine_tune_and_score(profile, rows, None, next(iter(tests.values())), seed, name=name, generate=False,
                              **overrides)
    model, tok = run["model"], run["tokenizer"]
    scored = {split: score_sql(model, tok, split_rows) for split, split_rows in tests.items()}
    return {"seed": seed, "train_rows": len(rows), "history": run["history"], "card_path": run["card_path"],
            "train_wall_s": run["wall_time_s"], "train_tokens": run["card"]["tokens"],
            "scores": {s: r["scores"] for s, r in scored.items()},
            "outcomes": {s: r["outcomes"] for s, r in scored.items()},
            "seconds_per_question": {s: r["seconds_per_question"] for s, r in scored.items()},
            "answers": {s: r["answers"] for s, r in scored.items()},
            "general_loss": blocks_loss(model, general_blocks) if general_blocks is not None else None}


def base_run(profile: Profile, tests: dict[str, list[dict]], general_blocks=None) -> dict:
    """The profile's base model, untuned, on every test split (the schema and the question, as the specialist
    reads them) and on the held-out general blocks: contestant (a) of notebook 06 and the 'before' its claims
    compare with. Also records what the claims weigh cost by: the model's parameters and its mean prompt tokens
    per split."""
    model, tok = load(profile.model, device=pick_device())
    scored = {split: score_sql(model, tok, rows) for split, rows in tests.items()}
    return {"scores": {s: r["scores"] for s, r in scored.items()},
            "outcomes": {s: r["outcomes"] for s, r in scored.items()},
            "seconds_per_question": {s: r["seconds_per_question"] for s, r in scored.items()},
            "answers": {s: r["answers"] for s, r in scored.items()},
            "parameters": model.num_parameters(),
            "mean_prompt_tokens": {s: mean_prompt_tokens(tok, rows) for s, rows in tests.items()},
            "general_loss": blocks_loss(model, general_blocks) if general_blocks is not None else None}


def notebook_data(profile: Profile) -> tuple[list[dict], dict[str, list[dict]]]:
    """Notebook 06's training rows and its test rows per test split (`profile.domain_test_rows` of each)."""
    return load_domain("train"), {split: sample(load_domain(split), profile.domain_test_rows) for split in SPLITS[1:]}


BASE_ARM, SPECIALIST_ARM, FEW_ARM = "base", "specialist", "few-examples"


def specialist_experiment(profile: Profile, train: list[dict], tests: dict[str, list[dict]], general_blocks):
    """Notebook 06's contestants over seeds (ftlab.core.seedstore), one row per (arm, seed): the untuned base
    (`base_run`: no training, so every seed measures the same model; a stored reference carries its own
    'before'), the specialist (`specialist_run` on the whole training split) and the few-examples specialist
    (the same steps on `profile.domain_small_train` rows, many epochs). Each split's execution accuracy is also
    at the top level (`accuracy_<split>`). Live and stored twins must agree within one test question and 0.01
    nats of general loss."""
    few_rows = sample(train, profile.domain_small_train)

    def run(arm: str, seed: int) -> dict:
        if arm == BASE_ARM:
            result = {"seed": seed, **base_run(profile, tests, general_blocks)}
        else:
            rows, name = (train, "06-domain") if arm == SPECIALIST_ARM else (few_rows, "06-domain-small")
            result = specialist_run(profile, rows, tests, seed, general_blocks, name=name)
        return {**result, **{f"accuracy_{s}": result["scores"][s]["overall"] for s in tests}}

    inputs = {"sft": settings_key(profile.sft), "steps": profile.domain_steps, "train": train, "tests": tests,
              "few_rows": [r["id"] for r in few_rows], "general_blocks": general_blocks.tolist()}
    one_question = 1 / min(len(rows) for rows in tests.values())
    return Experiment("06-domain", profile, (BASE_ARM, SPECIALIST_ARM, FEW_ARM), run, inputs,
                      tolerance={**{f"accuracy_{s}": one_question + 1e-9 for s in tests}, "general_loss": 0.01})


def arm_rows(rows: list[dict], arm: str) -> list[dict]:
    """The rows of one arm of `specialist_experiment`, in seed order."""
    return [r for r in rows if r["arm"] == arm]


def experiment(profile: Profile) -> Experiment:
    """`specialist_experiment` on `notebook_data` and the held-out general blocks, as notebook 06 builds them."""
    _, tokenizer = load(profile.model)
    return specialist_experiment(profile, *notebook_data(profile),
                                 general_blocks(tokenizer, general_eval_docs(), EVAL_BLOCKS))
