"""The GPU path measured in one prepared run: memory predictor vs the CUDA allocator, ftlab vs TRL throughput with
MFU, and notebooks 01 and 05 trained on the device next to their stored CPU numbers (issue 26).

    python bench/gpu_check.py                          # on a CUDA machine: every part, about 8 minutes
    python bench/gpu_check.py --device cpu --quick     # the rehearsal: the same code paths, small, on this CPU
    python bench/gpu_check.py --parts memory throughput

Writes bench/gpu_check/<tag>.json (provenance, every part's figures or its error) and <tag>.log (what it
printed), after each part, so a run cut off by its time limit keeps what it measured. A part that fails is
recorded with its error and the next one runs: the point of the run is to find what breaks on CUDA.

Parts:
- memory: ftlab.core.memory's prediction vs the measured peak (ftlab.core.memprobe: torch.cuda.max_memory_allocated
  on CUDA) for random-initialised models of real shapes (tiny, SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-3B; no
  weights needed for memory), full / LoRA / QLoRA, bf16 and mixed precision, two batch x sequence sizes, with and
  without gradient checkpointing. The plain loss path only: TRL's fused LM head is timed in `throughput`.
- throughput: bench/sft_throughput.py on the device (TRL defaults vs ftlab defaults, tokens/s and MFU against the
  device's measured matmul peak).
- sft01, peft05: notebook 01's and notebook 05's experiments, seed 0, every arm, on the device, beside the stored
  seed-0 numbers of the CPU references (bench/results/seeds_*_tiny_fp32.json).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ftlab.core.jsonl import atomic_write_text  # noqa: E402
from ftlab.core.memory import estimate  # noqa: E402
from ftlab.core.memprobe import measure  # noqa: E402
from ftlab.core.profiles import active  # noqa: E402
from ftlab.core.provenance import provenance  # noqa: E402
from ftlab.core.settings import TrainSetup  # noqa: E402
from ftlab.core.throughput import cached_peak_flops  # noqa: E402
from ftlab.tools.experiments import experiment  # noqa: E402

BENCH = Path(__file__).resolve().parent
OUT_DIR = BENCH / "gpu_check"
PARTS = ("environment", "memory", "throughput", "sft01", "peft05")
CPU_REFERENCES = {"sft01": ("01-sft", "seeds_01-sft_tiny_fp32.json"),
                  "peft05": ("05-peft", "seeds_05-peft_tiny_fp32.json")}
HEADLINE = ("accuracy", "response_loss", "wall_time_s", "tokens_per_s")


def memory_grid(device: str, quick: bool) -> list[tuple[str, TrainSetup]]:
    """(model shape, setup) pairs: 22 on a GPU; three tiny ones in fp32 for the CPU rehearsal."""
    S = lambda **kw: TrainSetup(device=device, **kw)  # noqa: E731
    if quick:
        return [("tiny", S(method=m, batch_size=4, seq_len=128, gradient_checkpointing=c))
                for m, c in (("full", False), ("lora", False), ("full", True))]
    rows = [(model, S(method=method, precision=precision, batch_size=b, seq_len=s))
            for model in ("tiny", "smollm2-135m", "qwen2.5-0.5b")
            for b, s in ((4, 256), (8, 1024))
            for method, precision in (("full", "mixed"), ("lora", "bf16"), ("qlora", "bf16"))]
    rows += [("qwen2.5-0.5b", S(method="full", precision="mixed", batch_size=8, seq_len=1024,
                                gradient_checkpointing=True)),
             ("qwen2.5-0.5b", S(method="lora", precision="bf16", batch_size=8, seq_len=1024,
                                gradient_checkpointing=True)),
             ("llama-3.2-3b", S(method="lora", precision="bf16", batch_size=4, seq_len=1024,
                                gradient_checkpointing=True)),
             ("llama-3.2-3b", S(method="qlora", precision="bf16", batch_size=4, seq_len=1024))]
    return rows


def part_environment(device: str, quick: bool) -> dict:
    """What the machine offers: torch and CUDA versions, the device, bf16 support, the measured matmul peaks."""
    cuda = device == "cuda"
    peaks = {str(dtype).removeprefix("torch."): cached_peak_flops(dtype, device)  # what run cards divide by
             for dtype in (torch.float32, torch.bfloat16)}
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "device": device,
            "device_name": torch.cuda.get_device_name(0) if cuda else "cpu",
            "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
            "matmul_peak_flops": peaks}


def part_memory(device: str, quick: bool) -> dict:
    """Prediction vs measurement per configuration, and the median and largest |error|."""
    rows = []
    for model, setup in memory_grid(device, quick):
        label = f"{model} {setup.method} {setup.precision} b{setup.batch_size} s{setup.seq_len}" + \
                (" ckpt" if setup.gradient_checkpointing else "")
        try:
            predicted = estimate(model, setup).total
            measured = measure(model, setup, timeout_s=120)["peak_bytes"]
            rows.append({"config": label, "predicted": predicted, "measured": measured,
                         "error": (predicted - measured) / measured})
        except Exception as e:  # noqa: BLE001  (a configuration that breaks is a finding, not the end of the run)
            rows.append({"config": label, "error_message": f"{type(e).__name__}: {e}"[:2000]})
        print(f"  {label:44s} " + (f"{rows[-1]['error']:+.1%}" if "error" in rows[-1] else rows[-1]["error_message"]),
              flush=True)
    errors = [abs(r["error"]) for r in rows if "error" in r]
    return {"rows": rows, "measured": len(errors), "failed": len(rows) - len(errors),
            "median_abs_error": statistics.median(errors) if errors else None,
            "max_abs_error": max(errors) if errors else None}


def part_throughput(device: str, quick: bool) -> dict:
    """bench/sft_throughput.py on the device, its printed table kept."""
    command = [sys.executable, str(BENCH / "sft_throughput.py"), "--device", device,
               "--steps", "3" if quick else "30", "--repeats", "1" if quick else "3"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(proc.stdout[-3000:], flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sft_throughput.py exited {proc.returncode}: {proc.stderr[-3000:]}")
    table = proc.stdout[proc.stdout.rfind("ratios against"):] if "ratios against" in proc.stdout else proc.stdout
    return {"command": " ".join(command[1:]), "table": table.strip().splitlines()}


def seed0_beside_cpu(part: str, quick: bool) -> dict:
    """One notebook experiment's seed 0 on this device, every arm (quick: the first), beside the stored CPU seed 0."""
    name, reference = CPU_REFERENCES[part]
    exp = experiment(name, active())
    stored = {r["arm"]: r for r in json.loads((BENCH / "results" / reference).read_text())["rows"] if r["seed"] == 0}
    arms = exp.arms[:1] if quick else exp.arms
    out = {}
    for arm in arms:
        start = time.perf_counter()
        row = exp.run(arm, 0)
        out[arm] = {"device": {k: row[k] for k in HEADLINE if isinstance(row.get(k), (int, float))},
                    "cpu_reference": {k: stored[arm][k] for k in HEADLINE if isinstance(stored.get(arm, {}).get(k),
                                                                                       (int, float))},
                    "seconds": time.perf_counter() - start}
        print(f"  {name} {arm:18s} device {out[arm]['device']}  cpu {out[arm]['cpu_reference']}", flush=True)
    return {"experiment": name, "profile": exp.profile.name, "precision": exp.profile.precision, "arms": out,
            "cpu_reference": reference}


RUNNERS = {"environment": part_environment, "memory": part_memory, "throughput": part_throughput,
           "sft01": lambda device, quick: seed0_beside_cpu("sft01", quick),
           "peft05": lambda device, quick: seed0_beside_cpu("peft05", quick)}


class Tee(io.TextIOBase):
    """stdout copied into the log file as it is printed."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="small versions of every part (the CPU rehearsal)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--tag", default=None, help="output name (default: the device's name, or cpu-rehearsal)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default: {OUT_DIR.name}/)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here: rehearse with --device cpu --quick")
    os.environ["FTLAB_DEVICE"] = args.device  # every ftlab run of this process trains on the chosen device
    tag = args.tag or ("cpu-rehearsal" if args.device == "cpu" else
                       torch.cuda.get_device_name(0).lower().replace(" ", "-"))
    args.out.mkdir(parents=True, exist_ok=True)
    out, log = args.out / f"{tag}.json", args.out / f"{tag}.log"
    precision = "fp32" if args.device == "cpu" else "bf16 where the part says so"
    record = {"provenance": provenance(precision), "quick": args.quick, "parts": {}}
    with open(log, "w") as log_file, contextlib.redirect_stdout(Tee(sys.__stdout__, log_file)):
        for part in args.parts:
            start = time.perf_counter()
            print(f"== {part}", flush=True)
            try:
                result = {"ok": True, **RUNNERS[part](args.device, args.quick)}
            except Exception as e:  # noqa: BLE001  (recorded; the next part still runs)
                result = {"ok": False, "error": f"{type(e).__name__}: {e}"[:3000],
                          "traceback": traceback.format_exc()[-4000:]}
                print(result["traceback"], flush=True)
            result["seconds"] = time.perf_counter() - start
            record["parts"][part] = result
            atomic_write_text(out, json.dumps(record, indent=1, default=str) + "\n")
            print(f"== {part}: {'ok' if result['ok'] else 'FAILED'} in {result['seconds']:.0f} s", flush=True)
    failed = [p for p, r in record["parts"].items() if not r["ok"]]
    print(f"wrote {out} and {log}; failed parts: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
