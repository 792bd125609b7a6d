"""A tiny, fully seeded SFT run of the committed tiny base, for the resume and determinism tests.

Run as a script it is the process the resume test kills: `--hang-at-save N` makes it stop inside the saving
of checkpoint-N (weights written, optimizer and trainer state not yet) and wait there to be SIGKILLed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

STEPS = 9  # 24 rows at batch 4: one and a half epochs, so a resume crosses an epoch boundary
SAVE_STEPS = 3
ROWS = 24
THREADS = 2  # the same in every process, whatever the machine: bitwise comparisons need it


def settings(seed: int = 0, steps: int = STEPS):
    from ftlab.core.settings import SFTSettings
    return SFTSettings(learning_rate=1e-3, max_steps=steps, batch_size=4, warmup_ratio=0.2, logging_steps=1,
                       save_steps=SAVE_STEPS, seed=seed, progress=False)


def train(out_dir: Path, seed: int = 0, resume: bool = False, steps: int = STEPS) -> dict:
    """Train (or resume) the run in out_dir; return its loss curve and save its final weights there."""
    import torch
    from safetensors.torch import save_file

    from ftlab.core.instructions import load_instructions
    from ftlab.core.models import load
    from ftlab.course.notebook import seed_everything
    from ftlab.core.train import run_sft

    seed_everything(seed)
    model, tok = load("tiny")
    rows = load_instructions("train", ("title",), limit_per_task=ROWS)
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)  # the float sums' order, hence the last bits, depend on the thread count
    try:
        result = run_sft(model, tok, rows, settings(seed, steps), Path(out_dir), resume=resume)
    finally:
        torch.set_num_threads(threads)
    weights = {k: v.detach().clone().contiguous() for k, v in result.model.state_dict().items()}
    save_file(weights, str(Path(out_dir) / "final.safetensors"))
    return {"losses": [[r["step"], r["loss"]] for r in result.history if "loss" in r],
            "resumed_from": result.card["resumed_from"]}


def hang_inside_save(step: int, signal_file: Path) -> None:
    """Make the trainer stop in the middle of writing checkpoint-<step> and wait to be killed."""
    from trl import SFTTrainer

    original = SFTTrainer._save_optimizer_and_scheduler

    def save(self, output_dir):
        if self.state.global_step == step:
            signal_file.write_text(output_dir)
            time.sleep(600)
        return original(self, output_dir)

    SFTTrainer._save_optimizer_and_scheduler = save


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--hang-at-save", type=int, default=None)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--block-network", action="store_true", help="record and refuse every network access")
    args = parser.parse_args()
    attempts = None
    if args.block_network:  # before torch, transformers, trl or ftlab are imported
        import netguard
        attempts = netguard.install()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.hang_at_save:
        hang_inside_save(args.hang_at_save, out / "hanging-in-save")
    result = train(out, args.seed, args.resume, args.steps)
    result["network_attempts"] = attempts
    (out / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
