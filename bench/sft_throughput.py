"""SFT throughput: ftlab's defaults vs a plain TRL SFTTrainer with its default arguments, side by side.

    python bench/sft_throughput.py                     # ftlab vs TRL defaults, 3 interleaved repeats
    python bench/sft_throughput.py --levers            # also each lever on its own, from ftlab's defaults
    FTLAB_PROFILE=smol python bench/sft_throughput.py --steps 10 --repeats 1

Same model (the profile's base, fresh for every run), same training rows, same number of optimizer steps. Prints
tokens/s (non-padding tokens TRL trained on, per second of `trainer.train()`), the ratio to TRL's defaults, the
MFU (6·N·tokens/s over the bf16/fp32 matmul peak measured in the same run) and the loss on the assistant
tokens of the validation rows after training (the same function for every arm). Medians over the repeats,
which run interleaved (A, B, A, B, ...) so that a slow patch of the machine hits every arm alike.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

import datasets
import torch
from trl import SFTConfig, SFTTrainer

from ftlab import profiles
from ftlab.device import set_threads
from ftlab.evaluate import response_loss
from ftlab.instructions import load_instructions
from ftlab.models import load
from ftlab.sft import sft_config, to_dataset
from ftlab.throughput import matmul_peak_flops


def trl_defaults(out_dir: str, steps: int, seed: int) -> SFTConfig:
    """A plain SFTTrainer as its documentation starts one: only what a run on a CPU must say."""
    return SFTConfig(output_dir=out_dir, max_steps=steps, seed=seed, report_to="none", save_strategy="no",
                     use_cpu=not torch.cuda.is_available())


def ftlab_config(profile, out_dir: str, steps: int, seed: int, **changes) -> SFTConfig:
    """ftlab's SFTConfig for the profile, with `changes` to its SFTSettings."""
    settings = replace(profile.sft, max_steps=steps, seed=seed, progress=False, **changes)
    return sft_config(settings, out_dir, has_eval=False, device=torch.device("cpu"))


def one_run(profile, make_config, train, val, steps: int, seed: int) -> dict:
    model, tok = load(profile.model)
    with tempfile.TemporaryDirectory() as out:
        args = make_config(out, steps, seed)
        trainer = SFTTrainer(model=model, args=args, train_dataset=to_dataset(train), processing_class=tok)
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    tokens = max(row.get("num_tokens", 0) for row in trainer.state.log_history)
    params = sum(p.numel() for p in model.parameters())
    return {"tokens_per_s": tokens / wall, "wall_s": wall, "tokens": tokens, "params": params,
            "val_loss": response_loss(model, tok, val)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levers", action="store_true", help="also measure each lever alone")
    args = parser.parse_args(argv)
    set_threads(None)
    datasets.disable_progress_bars()
    profile = profiles.active()
    train = load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task)
    val = load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2)
    arms = {"TRL defaults": trl_defaults,
            "ftlab defaults": lambda o, n, s: ftlab_config(profile, o, n, s)}
    if args.levers:  # each lever alone, switched the other way from the profile's defaults
        sft = profile.sft
        arms.update({
            f"ftlab, padding-free {'off' if sft.padding_free else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, padding_free=not sft.padding_free),
            f"ftlab, bf16 autocast {'off' if sft.bf16 else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, bf16=not sft.bf16),
            "ftlab + gradient checkpointing": lambda o, n, s: ftlab_config(profile, o, n, s,
                                                                           activation_checkpointing=True),
        })
    peaks = {"fp32": matmul_peak_flops(torch.float32), "bf16": matmul_peak_flops(torch.bfloat16)}
    results: dict[str, list[dict]] = {name: [] for name in arms}
    for repeat in range(args.repeats):
        for name, make in arms.items():
            run = one_run(profile, make, train, val, args.steps, seed=repeat)
            results[name].append(run)
            print(f"  repeat {repeat} {name:38s} {run['tokens_per_s']:8.0f} tok/s  val loss {run['val_loss']:.3f}",
                  flush=True)
    base = statistics.median(r["tokens_per_s"] for r in results["TRL defaults"])
    print(f"\n{profile.name} profile, {args.steps} steps, median of {args.repeats}; matmul peak fp32 "
          f"{peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s")
    print(f"{'arm':38s} {'tokens/s':>9s} {'vs TRL':>7s} {'MFU*':>6s} {'val loss':>9s}   (*6N x tokens/s over the "
          "fp32 matmul peak)")
    for name, runs in results.items():
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        mfu = 6 * runs[0]["params"] * tps / peaks["fp32"]
        loss = statistics.median(r["val_loss"] for r in runs)
        print(f"{name:38s} {tps:9.0f} {tps / base:6.2f}x {mfu:6.1%} {loss:9.3f}")


if __name__ == "__main__":
    main()
