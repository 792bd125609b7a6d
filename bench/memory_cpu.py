"""Predicted vs measured peak memory of one training step, on this machine's CPU.

    python bench/memory_cpu.py            # the full grid (37 configurations; resumes an interrupted run)
    python bench/memory_cpu.py --quick    # six of them

Each configuration is measured in a fresh process (ftlab.core.memprobe: live tensor bytes before the step + the
profiler's highest allocation rise during it) and predicted by ftlab.core.memory.estimate from the config alone.
Goal (issue 6): median |error| <= 5 %, max <= 10 %. The saved file records provenance and the fingerprint of
the code it depends on (ftlab.core.provenance); `python bench/references.py certify memory_cpu.json` recomputes every
prediction and re-measures every sixth configuration to carry it across a change that moves no number.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ftlab.core.jsonl import atomic_write_text
from ftlab.core.settings import TrainSetup
from ftlab.core.memory import estimate
from ftlab.core.memprobe import measure
from ftlab.core.paths import REPO_ROOT, runs_dir
from ftlab.core.settings import PeftOptions
from ftlab.core.provenance import fingerprint_of, stamp
from ftlab.core.seedstore import record_certification

GIB = 2**30


def grid(device: str = "cpu") -> list[tuple[str, TrainSetup]]:
    """Models x methods x batch/sequence x checkpointing x precision x optimizer x attention."""
    S = lambda **kw: TrainSetup(device=device, **kw)  # noqa: E731
    rows = []
    for b, s in ((4, 128), (16, 256)):
        for ckpt in (False, True):
            for method in ("full", "lora", "qlora", "prefix", "prompt", "ia3"):
                if method == "prefix" and ckpt:
                    continue  # peft refuses prefix tuning with gradient checkpointing
                rows.append(("tiny", S(method=method, batch_size=b, seq_len=s, gradient_checkpointing=ckpt)))
    rows += [
        ("tiny", S(method="full", precision="bf16", batch_size=8, seq_len=256)),
        ("tiny", S(method="full", precision="mixed", batch_size=8, seq_len=256)),
        ("tiny", S(method="lora", precision="mixed", batch_size=8, seq_len=256)),
        ("tiny", S(method="lora", precision="bf16", batch_size=8, seq_len=256)),
        ("tiny", S(method="full", attention="eager", batch_size=8, seq_len=256)),
        ("tiny", S(method="full", optimizer="sgd", batch_size=1, seq_len=32)),
        ("tiny", S(method="full", optimizer="adamw8bit", batch_size=8, seq_len=128)),
        ("tiny", S(method="lora", peft=PeftOptions(lora_r=32, lora_targets=("q_proj", "k_proj", "v_proj", "o_proj",
                   "gate_proj", "up_proj", "down_proj")), batch_size=8, seq_len=128)),
        ("smollm2-135m", S(method="full", batch_size=2, seq_len=128)),
        ("smollm2-135m", S(method="full", precision="mixed", batch_size=4, seq_len=256)),
        ("smollm2-135m", S(method="full", batch_size=4, seq_len=256, gradient_checkpointing=True)),
        ("smollm2-135m", S(method="lora", batch_size=4, seq_len=256)),
        ("smollm2-135m", S(method="qlora", precision="bf16", batch_size=4, seq_len=256)),
        ("smollm2-135m", S(method="prompt", batch_size=2, seq_len=128)),
        ("smollm2-135m", S(method="ia3", precision="bf16", batch_size=2, seq_len=256)),
    ]
    return rows


def describe(model: str, setup: TrainSetup) -> str:
    extras = [setup.precision, setup.optimizer] + (["ckpt"] if setup.gradient_checkpointing else []) + \
             (["eager"] if setup.attention == "eager" else [])
    if setup.method in ("lora", "qlora") and setup.peft != PeftOptions():
        extras.append(f"r{setup.peft.lora_r} {'+'.join(t[0] for t in setup.peft.lora_targets)}")
    return f"{model:13s} {setup.method:6s} b{setup.batch_size:<2d} s{setup.seq_len:<4d} {' '.join(extras)}"


PARTIAL = "memory_cpu.partial.json"  # measured rows of an unfinished run, in the runs folder (a kill loses one)


def run(rows, device: str = "cpu", save: str | None = None, timeout_s: float = 3600) -> list[float]:
    """Predict and measure each (model, setup); with `save`, rows measured by an earlier unfinished run with the
    same code are reused (runs/memory_cpu.partial.json) and the finished table is written to `save`."""
    errors, results = [], []
    partial = runs_dir() / PARTIAL
    today = fingerprint_of(REPO_ROOT / "bench/results/memory_cpu.json")["code"]
    earlier = json.loads(partial.read_text()) if save and partial.exists() else {}
    done = {r["label"]: r for r in earlier.get("rows", [])} if earlier.get("code") == today else {}
    print(f"{'configuration':48s} {'predicted':>10s} {'measured':>10s} {'error':>7s}  peak phase")
    for model, setup in rows:
        t0 = time.time()
        predicted = estimate(model, setup)
        label = describe(model, setup)
        measured = done[label]["measured"] if label in done else measure(model, setup, timeout_s)["peak_bytes"]
        err = (predicted.total - measured) / measured
        errors.append(err)
        results.append({"model": model, "setup": asdict(setup), "label": label,
                        "predicted": predicted.total, "measured": measured, "peak_phase": predicted.peak_phase})
        if save:
            partial.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(partial, json.dumps({"code": today, "rows": results}) + "\n")
        print(f"{label:48s} {predicted.total / 2**20:8.1f}MB {measured / 2**20:8.1f}MB "
              f"{err:+7.1%}  {predicted.peak_phase} ({time.time() - t0:.0f}s{', from the partial run' if label in done else ''})",
              flush=True)
    abs_err = [abs(e) for e in errors]
    print(f"\n{len(errors)} configurations: median |error| {statistics.median(abs_err):.1%}, "
          f"max |error| {max(abs_err):.1%} (goal: median <= 5%, max <= 10%)")
    if save:
        out = REPO_ROOT / save
        record = stamp({"rows": results, "certifications": []}, out, precision="per configuration")
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
        partial.unlink(missing_ok=True)
        print(f"saved {out}")
    return errors


def setup_of(row: dict) -> TrainSetup:
    """The TrainSetup a saved row was measured with."""
    fields = dict(row["setup"])
    peft = fields.pop("peft")
    peft["lora_targets"] = tuple(peft["lora_targets"])
    return TrainSetup(**fields, peft=PeftOptions(**peft))


def certify(path: Path) -> dict:
    """Recompute every prediction (it must not move at all) and re-measure every sixth configuration (within
    0.5 %: the probes count bytes, so a pure refactor reproduces them); record today's fingerprint if all agree."""
    saved = json.loads(path.read_text())
    gaps, checked = {}, []
    for i, row in enumerate(saved["rows"]):
        setup, label = setup_of(row), row["label"].strip()
        gaps[f"{label}: predicted bytes"] = (abs(estimate(row["model"], setup).total - row["predicted"]), 0.0)
        if i % 6 == 0:
            measured = measure(row["model"], setup)["peak_bytes"]
            gaps[f"{label}: measured (relative)"] = (abs(measured - row["measured"]) / row["measured"], 0.005)
            checked.append([label, 0])
    return record_certification(saved, path, gaps, checked)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="six configurations only")
    parser.add_argument("--skip", type=int, default=0, help="skip the first N configurations")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one probe may take (bf16 on a CPU "
                        "without bf16 in hardware is emulated: SmolLM2's bf16 rows take many minutes there)")
    args = parser.parse_args(argv)
    rows = grid("cpu")[args.skip:]
    run(rows[:: max(1, len(rows) // 6)] if args.quick else rows,
        save=None if args.quick or args.skip else "bench/results/memory_cpu.json", timeout_s=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
