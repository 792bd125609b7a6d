"""SFT throughput: ftlab's defaults vs a plain TRL SFTTrainer with its default arguments, side by side.

    python bench/sft_throughput.py                     # ftlab vs TRL defaults, 3 interleaved repeats
    python bench/sft_throughput.py --levers            # also each lever on its own, from ftlab's defaults
    FTLAB_PROFILE=smol python bench/sft_throughput.py --steps 10 --repeats 1
    FTLAB_PROFILE=smol python bench/sft_throughput.py --device cuda --steps 50   # the GPU variant


Same model (the profile's base, fresh for every run), same training rows, same number of optimizer steps. Prints
tokens/s (non-padding tokens TRL trained on, per second of `trainer.train()`), the ratio to TRL's defaults, the
MFU (`ftlab.core.throughput.run_mfu`: 6·N·tokens/s over the matmul peak of the precision the arm's matmuls ran in,
bf16 or fp32, measured in the same run; also against the fp32 peak) and the loss on the assistant
tokens of the validation rows after training (the same function for every arm). Medians over the repeats,
which run interleaved (A, B, A, B, ...) so that a slow patch of the machine hits every arm alike.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from dataclasses import replace

import datasets
import torch
from trl import SFTConfig, SFTTrainer

from ftlab.core import profiles
from ftlab.core.device import hardware_summary, set_threads
from ftlab.core.evaluate import response_loss
from ftlab.core.instructions import load_instructions
from ftlab.core.models import load
from ftlab.core.train import FtlabSFTTrainer, sft_config, to_dataset
from ftlab.core.throughput import run_mfu


DEVICE = torch.device("cpu")  # set by --device


def trl_defaults(out_dir: str, steps: int, seed: int, **changes) -> tuple[type, SFTConfig]:
    """A plain SFTTrainer as its documentation starts one: only what the device must say (plus `changes`)."""
    return SFTTrainer, SFTConfig(output_dir=out_dir, max_steps=steps, seed=seed, report_to="none",
                                 save_strategy="no", use_cpu=DEVICE.type == "cpu", **changes)


def ftlab_config(profile, out_dir: str, steps: int, seed: int, **changes) -> tuple[type, SFTConfig]:
    """ftlab's trainer and SFTConfig for the profile, with `changes` to its SFTSettings."""
    settings = replace(profile.sft, max_steps=steps, seed=seed, progress=False, **changes)
    trainer = functools.partial(FtlabSFTTrainer, **FtlabSFTTrainer.options(settings))
    return trainer, sft_config(settings, out_dir, has_eval=False, device=DEVICE)


def one_run(profile, make_config, train, val, steps: int, seed: int) -> dict:
    model, tok = load(profile.model, device=DEVICE)
    with tempfile.TemporaryDirectory() as out:
        trainer_cls, args = make_config(out, steps, seed)
        trainer = trainer_cls(model=model, args=args, train_dataset=to_dataset(train), processing_class=tok)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.train()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    tokens = max(row.get("num_tokens", 0) for row in trainer.state.log_history)
    return {"tokens_per_s": tokens / wall, "wall_s": wall, "tokens": tokens,
            "mfu": run_mfu(model, tokens / wall, bool(args.bf16), DEVICE), "val_loss": response_loss(model, tok, val)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levers", action="store_true", help="also measure each lever alone")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip", nargs="*", default=[], metavar="ARM",
                        help="arms not to run, e.g. 'TRL defaults' where emulated bf16 makes it take hours (smol)")
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    set_threads(None)
    datasets.disable_progress_bars()
    profile = profiles.active()
    train = load_instructions("train", profile.sft_tasks, limit_per_task=profile.sft_train_per_task)
    val = load_instructions("val", profile.sft_tasks, limit_per_task=profile.eval_per_task // 2)
    arms = {"TRL defaults": trl_defaults,
            # TRL turns bf16 on everywhere; where the hardware lacks it (bf16_is_fast) ftlab trains in fp32, so
            # this arm separates ftlab's other levers from the choice of precision
            "TRL defaults but fp32": lambda o, n, s: trl_defaults(o, n, s, bf16=False),
            "ftlab defaults": lambda o, n, s: ftlab_config(profile, o, n, s)}
    if args.levers:  # each lever alone, switched the other way from the profile's defaults
        sft = profile.sft
        arms.update({
            f"ftlab, padding-free {'off' if sft.padding_free else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, padding_free=not sft.padding_free),
            f"ftlab, bf16 autocast {'off' if sft.bf16 else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, bf16=not sft.bf16),
            f"ftlab, row attention {'off' if sft.row_attention else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, row_attention=not sft.row_attention),
            "ftlab + gradient checkpointing": lambda o, n, s: ftlab_config(profile, o, n, s,
                                                                           activation_checkpointing=True),
            f"ftlab, TRL's fused LM head {'off' if sft.fused_lm_head else 'on'}":
                lambda o, n, s: ftlab_config(profile, o, n, s, fused_lm_head=not sft.fused_lm_head),
        })
    unknown = set(args.skip) - set(arms)
    if unknown:
        parser.error(f"--skip {sorted(unknown)}: the arms are {list(arms)}")
    arms = {name: make for name, make in arms.items() if name not in args.skip}
    results: dict[str, list[dict]] = {name: [] for name in arms}
    for repeat in range(args.repeats):
        for name, make in arms.items():
            run = one_run(profile, make, train, val, args.steps, seed=repeat)
            results[name].append(run)
            print(f"  repeat {repeat} {name:38s} {run['tokens_per_s']:8.0f} tok/s  val loss {run['val_loss']:.3f}",
                  flush=True)
    baseline = "TRL defaults" if "TRL defaults" in results else next(iter(results))
    base = statistics.median(r["tokens_per_s"] for r in results[baseline])
    mfu0 = results["ftlab defaults"][0]["mfu"]
    print(f"\n{hardware_summary() if DEVICE.type == 'cpu' else DEVICE}")
    print(f"{profile.name} profile on {DEVICE.type}, {args.steps} steps, median of {args.repeats}; "
          f"{mfu0['flops_per_token'] / 6:,.0f} parameters; matmul peak fp32 {mfu0['fp32_peak_flops'] / 1e9:.0f} "
          f"GFLOP/s" + (f", bf16 {mfu0['peak_flops'] / 1e9:.0f} GFLOP/s" if mfu0["peak_dtype"] == "bf16" else ""))
    print(f"ratios against: {baseline}")
    print(f"{'arm':44s} {'tokens/s':>9s} {'vs TRL':>7s} {'MFU':>6s} {'(peak)':>6s} {'vs fp32 peak':>12s} "
          f"{'val loss':>9s}")
    for name, runs in results.items():
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        mfu = statistics.median(r["mfu"]["mfu"] for r in runs)
        mfu32 = statistics.median(r["mfu"]["mfu_vs_fp32_peak"] for r in runs)
        loss = statistics.median(r["val_loss"] for r in runs)
        print(f"{name:44s} {tps:9.0f} {tps / base:6.2f}x {mfu:6.1%} {runs[0]['mfu']['peak_dtype']:>6s} "
              f"{mfu32:12.1%} {loss:9.3f}")


if __name__ == "__main__":
    main()
