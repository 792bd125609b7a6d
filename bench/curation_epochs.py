"""Epoch-matched curation comparison for notebook 02: curated-k, random-k, longest-k and the full noisy pool,
each trained for the same number of passes over its *own* rows (`profile.curation_epochs`), so the full pool
gets pool_size / k times the optimizer steps. Too slow to run live on a CPU (the full pool alone is ~20x a 1k
arm), so the notebook loads the JSON this writes. Runs already in the file are reused (delete it to start
over), so more seeds can be added later.

    python bench/curation_epochs.py --seeds 0 1 2    # three seeds of the active profile (FTLAB_PROFILE)
    python bench/curation_epochs.py --seeds 0        # one seed

The file records its provenance and the fingerprint of the code and data it was made from (ftlab.core.provenance);
runs are reused only while both are unchanged. `python bench/references.py certify curation_epochs_tiny.json`
re-runs seed 0 of the three 1k arms (not the 20x full pool) to carry a file across a change that moves no number.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ftlab.lessons import curation as cur
from ftlab.core.instructions import load_instructions
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.models import load
from ftlab.core.profiles import active
from ftlab.core.provenance import changes, fingerprint_of, reference_for, stamp
from ftlab.core.seedstore import certification_gaps, record_certification


def settings_of(profile, steps: dict[str, int], test: list[dict]) -> dict:
    """Everything that defines the experiment, so a saved result is only reused for the same one."""
    return {"pool_size": profile.curation_pool_size, "k": profile.curation_k, "epochs": profile.curation_epochs,
            "embed_sample": profile.curation_embed_sample, "tasks": list(profile.sft_tasks),
            "test_rows": len(test), "steps": steps, "sft": asdict(profile.sft)}


def write(path: Path, data: dict) -> None:
    """Atomically (ftlab.core.jsonl's writer), so a kill never leaves half a file behind."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


TOLERANCE = {"accuracy": 0.01, "response_loss": 0.02}  # as notebook 02's step-matched twins (ftlab.lessons.curation)
CERTIFY_ARMS = ("curated", "random", "longest")  # the full pool's run is 20x longer: certification skips it


def experiment(profile):
    """(arms, test rows, steps per arm, settings) of the epoch-matched comparison for a profile."""
    pool = cur.noisy_pool(profile.sft_tasks, size=profile.curation_pool_size, seed=0)
    test = load_instructions("test", profile.sft_tasks, limit_per_task=profile.eval_per_task)
    _, tokenizer = load(profile.model)
    arms, _ = cur.build_arms(pool, load_instructions("test", profile.sft_tasks), profile.curation_k,
                             embed_sample=profile.curation_embed_sample, tokenizer=tokenizer,
                             max_tokens=profile.sft.max_length)
    steps = {arm: cur.steps_for_epochs(len(rows), profile.curation_epochs, profile.sft.effective_batch)
             for arm, rows in arms.items()}
    settings = json.loads(json.dumps(settings_of(profile, steps, test), default=str))
    return arms, test, steps, settings


def output_path(profile) -> Path:
    return Path(__file__).parent / "results" / f"curation_epochs_{profile.name}.json"


def certify(path: Path) -> dict:
    """Re-run seed 0 of the 1k arms on the profile the file was made for; record today's fingerprint if every
    number matches (else raise)."""
    saved = json.loads(path.read_text())
    profile = active(saved["profile"])
    arms, test, steps, settings = experiment(profile)
    if saved.get("settings") != settings:
        raise SystemExit(f"{path.name}: made with other settings; remake it with `{reference_for(path).remake}`")
    live = cur.compare_arms(profile, {a: arms[a] for a in CERTIFY_ARMS}, test, [0], steps, progress=False)
    gaps = certification_gaps(live, saved["results"], TOLERANCE)
    return record_certification(saved, path, gaps, [[r["arm"], r["seed"]] for r in live])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    started = time.perf_counter()
    profile = active()
    out = output_path(profile)
    arms, test, steps, settings = experiment(profile)
    saved = json.loads(out.read_text()) if out.exists() else {}
    same = saved.get("settings") == settings and not changes(saved.get("fingerprint"),
                                                              fingerprint_of(out))
    if saved and not same:
        print(f"{out.name} was made from other settings, code or data: starting over", flush=True)
    data = stamp({"profile": profile.name, "settings": settings, "arm_stats": cur.arm_stats(arms, test),
                  "results": saved["results"] if same else [], "certifications": [],
                  "wall_time_s": saved.get("wall_time_s", 0) if same else 0, "threads": torch.get_num_threads()},
                 out, profile.precision)
    before = data["wall_time_s"]

    def save(result: dict) -> None:
        """Keep each finished run in the file at once, so a kill loses the run in progress and nothing else."""
        data["results"] = [*data["results"], result]
        print(f"{result['arm']:8s} seed {result['seed']} {result['steps']:5d} steps: accuracy "
              f"{result['accuracy']:.1%}, response loss {result['response_loss']:.3f}, {result['wall_time_s']:.0f} s",
              flush=True)
        data["wall_time_s"] = round(before + time.perf_counter() - started, 1)
        write(out, data)

    data["results"] = cur.compare_arms(profile, arms, test, args.seeds, steps, done=data["results"],
                                       on_result=save, progress=False)
    data["wall_time_s"] = round(before + time.perf_counter() - started, 1)
    write(out, data)
    print(cur.summary_table(data["results"]).to_string())
    print(f"wrote {out}; {data['wall_time_s']:.0f} s in all")


if __name__ == "__main__":
    main()
