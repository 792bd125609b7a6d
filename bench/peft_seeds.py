"""Notebook 05's runs for every PEFT method and every seed of the profile, stored in
bench/results/peft_seeds_<profile>.json: the seeds the notebook does not train live on a small machine
(`profile.peft_live_seeds`). The notebook re-runs one stored seed live and checks it reproduces the stored
numbers (ftlab.peft_compare.REPRODUCTION_TOLERANCE). Resumes from the file; a file made with other settings or
data is started over.

    python bench/peft_seeds.py            # the active profile (FTLAB_PROFILE); ~10 minutes on tiny (21 runs)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftlab.instructions import load_instructions  # noqa: E402
from ftlab.peft_compare import COMPARED, seed_runs  # noqa: E402
from ftlab.profiles import active  # noqa: E402


def main() -> None:
    profile = active()
    train = load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task)
    test = load_instructions("test", profile.sft_tasks, limit_per_task=profile.eval_per_task)
    out = Path(__file__).parent / "results" / f"peft_seeds_{profile.name}.json"
    start = time.perf_counter()
    result = seed_runs(profile, COMPARED, profile.seeds, train, test, out=out)
    print(f"wrote {out}: {len(result['rows'])} runs in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
