"""Learning-rate sweep for notebook 05: each PEFT method at three learning rates, one seed, scored by
validation response loss (never the test set). Where the best rate is at an edge of its grid, the sweep adds
rates beyond it on the 1-3-10 ladder (up to three), so every winner is an interior minimum. The best rate per
method goes into the profile's `peft_learning_rates`; the notebook plots this file and checks the profile
agrees with it. Points already in the results file are not re-run (delete it to start over).

    python bench/peft_lr_sweep.py              # the active profile (FTLAB_PROFILE), ~15 minutes on tiny (AVX2)

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

# Three rates a factor ~3 apart around each method's usual range (LoRA papers use ~10x full FT's rate;
# prompt/prefix/IA3 train a few thousand values and want larger steps still).
GRID = {
    "full": (3e-4, 1e-3, 3e-3),
    "lora": (1e-3, 3e-3, 1e-2),
    "qlora": (1e-3, 3e-3, 1e-2),
    "adapters": (1e-3, 3e-3, 1e-2),
    "ia3": (1e-2, 3e-2, 1e-1),
    "prefix": (3e-3, 1e-2, 3e-2),
    "prompt": (1e-2, 3e-2, 1e-1),
}


CERTIFY_METHODS = ("full", "lora", "prompt")
TOLERANCE = {"loss": 0.02}  # nats of validation response loss, as notebook 05's twins


def sweep_data(profile) -> tuple[list[dict], list[dict]]:
    """Notebook 05's training rows and the validation rows the sweep scores (never the test set)."""
    return (load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task),
            load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2))


def certify(path: Path) -> dict:
    """Re-run each of CERTIFY_METHODS at its best rate; record today's fingerprint if every loss matches."""
    profile = active()
    saved = json.loads(path.read_text())
    train, val = sweep_data(profile)
    as_rows = lambda get: [{"arm": m, "seed": saved["seed"], "loss": get(m)} for m in CERTIFY_METHODS]  # noqa: E731
    stored = as_rows(lambda m: saved["losses"][m][f"{saved['best'][m]:g}"])
    live = as_rows(lambda m: sweep_point(profile, m, saved["best"][m], train, val, saved["seed"]))
    return record_certification(saved, path, certification_gaps(live, stored, TOLERANCE),
                                [[r["arm"], r["seed"]] for r in live])


def main(argv=None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    profile = active()
    train, val = sweep_data(profile)
    out = Path(__file__).parent / "results" / f"peft_lr_sweep_{profile.name}.json"
    start = time.perf_counter()
    result = lr_sweep(profile, GRID, train, val, out=out, widen=3)
    print(f"best learning rate per method: {result['best']}")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
