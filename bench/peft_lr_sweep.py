"""Learning-rate sweep for notebook 05: each PEFT method at three learning rates, one seed, scored by
validation response loss (never the test set). Where the best rate is at an edge of its grid, the sweep adds
rates beyond it on the 1-3-10 ladder (up to three), so every winner is an interior minimum. The best rate per
method goes into the profile's `peft_learning_rates`; the notebook plots this file and checks the profile
agrees with it. Points already in the results file are not re-run (delete it to start over).

    python bench/peft_lr_sweep.py              # the active profile (FTLAB_PROFILE), ~7 minutes on tiny
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftlab.instructions import load_instructions  # noqa: E402
from ftlab.peft_compare import lr_sweep  # noqa: E402
from ftlab.profiles import active  # noqa: E402

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


def main() -> None:
    profile = active()
    train = load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task)
    val = load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2)
    out = Path(__file__).parent / "results" / f"peft_lr_sweep_{profile.name}.json"
    start = time.perf_counter()
    result = lr_sweep(profile, GRID, train, val, out=out, widen=3)
    print(f"best learning rate per method: {result['best']}")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
