"""Course wall time: every notebook executed headless on the active profile, one after another, as a learner or
CI runs them (kernel start-up included). Prints seconds per notebook and the total against the 10-minute goal,
where each notebook's time went (training, evaluation, model loading, probes, imports, kernel start, the rest;
measured in the kernel by bench/kernel_timers.py) and the course's compute-limit ratio: wall time ÷ (the FLOPs of
every run trained live ÷ this machine's matmul peak in the precision the profile trains in). Writes
bench/results/course_time_<profile>.json.

    python bench/course_time.py                 # all notebooks
    python bench/course_time.py --only 01 05    # some of them, put in place of their times in the saved file
    python bench/course_time.py --store         # and refresh the stored outputs (how the repository's are made)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from ftlab.core import profiles
from ftlab.core.device import hardware_summary
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.provenance import stamp
from ftlab.core.throughput import matmul_peak_flops
from ftlab.tools.course_runner import course_notebooks, run_course

GOAL_S = 600  # shared/DESIGN.md: the whole course in at most 10 minutes on the default profile, 2 cores
RESULTS = Path(__file__).parent / "results"
KERNEL_TIMERS = Path(__file__).resolve().parent / "kernel_timers.py"
PARTS = ("training", "evaluation", "loading", "probes", "imports", "kernel start", "rest")


def install_kernel_timers(folder: Path) -> None:
    """Make every kernel started from now on run bench/kernel_timers.py first: an IPython directory whose startup
    file runs it (IPYTHONDIR), the kernels inheriting this process's environment."""
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-ftlab-kernel-timers.py").write_text(f"import runpy\nrunpy.run_path({str(KERNEL_TIMERS)!r})\n")
    os.environ["IPYTHONDIR"] = str(folder / "ipython")


def split(seconds: float, started_at: float, timers: Path) -> dict:
    """A notebook's wall time in PARTS (seconds), with the FLOPs and tokens of its live training runs, from the
    file its kernel's timers wrote; {} when there is none (the kernel never ran them)."""
    if not timers.exists():
        return {}
    measured = json.loads(timers.read_text())
    parts = {part: measured[part] for part in PARTS[:5]}
    parts["kernel start"] = max(0.0, measured["kernel_started_at"] - started_at)
    parts["rest"] = seconds - sum(parts.values())
    return {"parts": parts, "training_flops": measured["training_flops"],
            "training_tokens": measured["training_tokens"], "runs": measured["runs"]}


def time_notebooks(only: list[str] | None, store: bool = False) -> dict[str, dict]:
    """Seconds and status of each notebook, each run in a fresh kernel by ftlab's course runner (`store`: a
    clean run's outputs also become the notebook's stored outputs, as `ftlab course --store`)."""
    times = {}
    with tempfile.TemporaryDirectory() as out:
        install_kernel_timers(Path(out))
        for book in course_notebooks(only):
            prefix = book.name[:2]
            timers = Path(out) / f"timers-{prefix}.json"
            os.environ["FTLAB_TIME_SPLIT"] = str(timers)
            started_at, start = time.time(), time.perf_counter()
            status = run_course(Path(out), only=[prefix], store=store, html=False)  # execution only
            seconds = time.perf_counter() - start
            times[book.name] = {"seconds": seconds, "ok": status == 0, **split(seconds, started_at, timers)}
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 05")
    parser.add_argument("--store", action="store_true", help="also refresh the notebooks' stored outputs")
    args = parser.parse_args(argv)
    profile = profiles.active()
    peak = matmul_peak_flops(torch.bfloat16 if profile.precision == "bf16" else torch.float32, seconds=3.0,
                             device="cpu")
    times = time_notebooks(args.only, args.store)
    total = sum(t["seconds"] for t in times.values())
    print(f"\n{profile.name} profile; {hardware_summary()}")
    print(f"{'notebook':34s} {'wall s':>7s} " + " ".join(f"{p:>10s}" for p in PARTS) + "  TFLOP  limit s  ratio")
    for name, t in times.items():
        print(split_line(name, t, peak))
    summed = course_split(times)
    print(split_line("total", summed, peak))
    goal = f"; goal {GOAL_S // 60} min: {'met' if total <= GOAL_S else 'not met'}" if not args.only else ""
    print(f"{total / 60:.1f} min{goal}; {profile.precision} matmul peak {peak / 1e9:.0f} GFLOP/s; compute-limit "
          f"ratio (wall time ÷ live training FLOPs at that peak) {ratio(summed, peak)}")
    out = RESULTS / f"course_time_{profile.name}.json"
    if args.only:
        times = remeasured(out, times)
        if times is None:
            return
    record = stamp({"profile": profile.name, "machine": platform.processor() or platform.machine(),
                    "stored_outputs": args.store, "notebooks": times, "peak_flops": peak,
                    "precision": profile.precision, "total_s": sum(t["seconds"] for t in times.values()),
                    "split": course_split(times)}, out, profile.precision)
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")


def course_split(times: dict[str, dict]) -> dict:
    """The notebooks' splits summed (over those that have one)."""
    split_ones = [t for t in times.values() if t.get("parts")]
    return {"seconds": sum(t["seconds"] for t in split_ones), "ok": all(t["ok"] for t in times.values()),
            "parts": {p: sum(t["parts"][p] for t in split_ones) for p in PARTS},
            "training_flops": sum(t["training_flops"] for t in split_ones),
            "training_tokens": sum(t["training_tokens"] for t in split_ones)}


def ratio(t: dict, peak: float) -> str:
    """Wall time ÷ the time the live runs' training FLOPs need at `peak`, as text."""
    limit = t.get("training_flops", 0) / peak
    return f"{t['seconds'] / limit:.1f}x" if limit else "–"


def split_line(name: str, t: dict, peak: float) -> str:
    """One row of the table: wall time, its parts, training TFLOP, the compute limit and the ratio."""
    status = "" if t["ok"] else "  FAILED"
    if not t.get("parts"):
        return f"{name[:34]:34s} {t['seconds']:7.0f}   (no split: the kernel's timers wrote nothing){status}"
    parts = " ".join(f"{t['parts'][p]:10.0f}" for p in PARTS)
    limit = t["training_flops"] / peak
    return (f"{name[:34]:34s} {t['seconds']:7.0f} {parts} {t['training_flops'] / 1e12:6.2f} {limit:8.1f} "
            f"{ratio(t, peak):>6s}{status}")


def remeasured(out: Path, times: dict[str, dict]) -> dict[str, dict] | None:
    """The saved per-notebook times with those just measured put in their place, each marked with the date it
    was measured (a notebook timed while another job shared the cores can be timed again alone), or None, and
    nothing is written, when there is no saved file of every notebook to update."""
    if not out.exists():
        print(f"{out.name} does not exist yet: time every notebook once (no --only) to write it")
        return None
    saved = json.loads(out.read_text())["notebooks"]
    today = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return {**saved, **{name: {**t, "remeasured": today} for name, t in times.items()}}


if __name__ == "__main__":
    main()
