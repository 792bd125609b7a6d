"""Learning-rate sweep for notebook 05: each PEFT method at three learning rates, one seed, scored by
validation response loss (never the test set). Where the best rate is at an edge of its grid, the sweep adds
rates beyond it on the 1-3-10 ladder (up to three), so every winner is an interior minimum. The best rate per
method goes into the profile's `peft_learning_rates`; the notebook plots this file and checks the profile
agrees with it. Points already in the results file are not re-run (delete it to start over).

    python bench/peft_lr_sweep.py              # the active profile (FTLAB_PROFILE), ~15 minutes on tiny (AVX2)
    python bench/peft_lr_sweep.py --methods full lora qlora &   # one process per core, one file:
    python bench/peft_lr_sweep.py --methods adapters ia3 prefix prompt   # each adds its points to it

The grid each method starts from is the profile's `peft_lr_grid`.

`python bench/references.py certify peft_lr_sweep_tiny.json` re-runs three points (full, LoRA and prompt tuning
at their best rates) to carry the file across a code change that moves no number.
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

from ftlab.core.instructions import load_instructions
from ftlab.lessons.peft_comparison import lr_sweep, sweep_point
from ftlab.core.profiles import active
from ftlab.core.seedstore import certification_gaps, record_certification

CERTIFY_METHODS = ("full", "lora", "prompt")
TOLERANCE = {"loss": 0.02}  # nats of validation response loss, as notebook 05's twins


def sweep_data(profile) -> tuple[list[dict], list[dict]]:
    """Notebook 05's training rows and the validation rows the sweep scores (never the test set)."""
    return (load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task),
            load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2))


def certify(path: Path) -> dict:
    """Re-run each of CERTIFY_METHODS at its best rate, on the profile the file was made for (not the active one);
    record today's fingerprint if every loss matches."""
    saved = json.loads(path.read_text())
    profile = active(saved["profile"])
    train, val = sweep_data(profile)
    as_rows = lambda get: [{"arm": m, "seed": saved["seed"], "loss": get(m)} for m in CERTIFY_METHODS]  # noqa: E731
    stored = as_rows(lambda m: saved["losses"][m][f"{saved['best'][m]:g}"])
    live = as_rows(lambda m: sweep_point(profile, m, saved["best"][m], train, val, saved["seed"]))
    return record_certification(saved, path, certification_gaps(live, stored, TOLERANCE),
                                [[r["arm"], r["seed"]] for r in live])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", help="sweep only these methods (default: every method of the "
                        "profile's peft_lr_grid)")
    args = parser.parse_args(argv)
    profile = active()
    unknown = set(args.methods or ()) - set(profile.peft_lr_grid)
    if unknown:
        parser.error(f"no grid for {sorted(unknown)} in the {profile.name} profile; it has {sorted(profile.peft_lr_grid)}")
    grid = {m: r for m, r in profile.peft_lr_grid.items() if not args.methods or m in args.methods}
    train, val = sweep_data(profile)
    out = Path(__file__).parent / "results" / f"peft_lr_sweep_{profile.name}.json"
    start = time.perf_counter()
    result = lr_sweep(profile, grid, train, val, out=out, widen=3)
    print(f"best learning rate per method: {result['best']}")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
