"""The 1-process vs 2-process check of tests/tools/test_scale.py on GPUs, with NCCL: same tiny-model SFT, same global
batch, fp32, compared step by step. Prints both loss curves, their max difference and the wall times.

    python bench/multi_gpu_check.py            # LoRA through DDP, and full fine-tuning through FSDP
    python bench/multi_gpu_check.py --only ddp

With 2+ GPUs the second run is `accelerate launch` on two GPUs over NCCL (launch_configs/multi_gpu_ddp.yaml and
multi_gpu_fsdp.yaml, mixed precision overridden to fp32). NCCL cannot put two ranks on one GPU, so on a
single-GPU machine the second run is the 2-process CPU/gloo run instead (a GPU-vs-CPU comparison: different
kernels, so expect a larger difference). On GPUs, atomics in some backward kernels (embedding gradients) are
not deterministic, so even two identical 1-GPU runs can differ by ~1e-6; TOLERANCE allows for it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ftlab.tools.scale import CONFIG_DIR, read_result

TOLERANCE = 1e-3  # fp32 with non-deterministic GPU atomics over 8 steps; the CPU test holds 1e-4
RUN = ["--profile", "tiny", "--steps", "8", "--global-batch", "8", "--precision", "fp32"]
CHECKS = {"ddp": ("lora", "multi_gpu_ddp.yaml"), "fsdp": ("full", "multi_gpu_fsdp.yaml")}


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run(cmd: list[str], env: dict) -> float:
    """Run one training command; its wall time in seconds."""
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - start


def check(name: str, out: Path, gpus: int) -> dict:
    """Train once in one process on GPU 0 and once on two processes; compare the loss curves."""
    method, config = CHECKS[name]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO))
    one, two = out / f"{name}-1proc", out / f"{name}-2proc"
    wall_one = run([sys.executable, "-m", "ftlab.tools.scale", *RUN, "--method", method, "--out", str(one)],
                   dict(env, CUDA_VISIBLE_DEVICES="0"))
    accelerate = [sys.executable, "-m", "accelerate.commands.launch"]  # `accelerate launch`, whatever the PATH
    if gpus >= 2:
        launch = [*accelerate, "--config_file", str(CONFIG_DIR / config), "--num_processes", "2",
                  "--mixed_precision", "no"]
        wall_two = run([*launch, "-m", "ftlab.tools.scale", *RUN, "--method", method, "--out", str(two)],
                       dict(env, CUDA_VISIBLE_DEVICES="0,1"))
    else:
        launch = [*accelerate, "--config_file", str(CONFIG_DIR / "cpu_2proc_gloo.yaml")]
        wall_two = run([*launch, "-m", "ftlab.tools.scale", *RUN, "--method", method, "--out", str(two)],
                       dict(env, CUDA_VISIBLE_DEVICES="", FTLAB_DEVICE="cpu"))
    a, b = read_result(one), read_result(two)
    diff = max(abs(x - y) for x, y in zip(a["losses"], b["losses"]))
    return {"check": name, "method": method, "second_run": f"{b['processes']} processes, {b['backend']}"
            + (", FSDP" if b["fsdp"] else ""), "losses_1proc": a["losses"], "losses_2proc": b["losses"],
            "max_abs_diff": diff, "within_tolerance": diff < TOLERANCE, "wall_1proc_s": wall_one,
            "wall_2proc_s": wall_two, "train_1proc_s": a["train_wall_s"], "train_2proc_s": b["train_wall_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CHECKS), nargs="*", default=None)
    parser.add_argument("--out", default=str(REPO / "runs" / "multi_gpu_check"))
    args = parser.parse_args()
    gpus = gpu_count()
    if gpus == 0:
        raise SystemExit("no CUDA GPU: the CPU version of this check is tests/tools/test_scale.py")
    names = args.only or (list(CHECKS) if gpus >= 2 else ["ddp"])  # FSDP over gloo on CPU is not checked
    results = [check(name, Path(args.out), gpus) for name in names]
    for r in results:
        print(f"\n{r['check']} ({r['method']}), second run on {r['second_run']}:")
        print("  1 process  :", " ".join(f"{x:.5f}" for x in r["losses_1proc"]))
        print("  2 processes:", " ".join(f"{x:.5f}" for x in r["losses_2proc"]))
        print(f"  max |difference| {r['max_abs_diff']:.2e} (tolerance {TOLERANCE:g}: "
              f"{'OK' if r['within_tolerance'] else 'EXCEEDED'}); wall {r['wall_1proc_s']:.1f} s vs "
              f"{r['wall_2proc_s']:.1f} s (training {r['train_1proc_s']:.1f} s vs {r['train_2proc_s']:.1f} s)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["within_tolerance"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
