"""Course wall time: every notebook executed headless on the active profile, one after another, as a learner or
CI runs them (kernel start-up included). Prints seconds per notebook and the total against the 10-minute goal,
and writes bench/results/course_time_<profile>.json.

    python bench/course_time.py                 # all notebooks
    python bench/course_time.py --only 01 05    # some of them, put in place of their times in the saved file
    python bench/course_time.py --store         # and refresh the stored outputs (how the repository's are made)
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from ftlab.core import profiles
from ftlab.tools.course_runner import course_notebooks, run_course
from ftlab.core.device import hardware_summary
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.provenance import stamp

GOAL_S = 600  # shared/DESIGN.md: the whole course in at most 10 minutes on the default profile, 2 cores
RESULTS = Path(__file__).parent / "results"


def time_notebooks(only: list[str] | None, store: bool = False) -> dict[str, dict]:
    """Seconds and status of each notebook, each run in a fresh kernel by ftlab's course runner (`store`: a
    clean run's outputs also become the notebook's stored outputs, as `ftlab course --store`)."""
    times = {}
    with tempfile.TemporaryDirectory() as out:
        for book in course_notebooks(only):
            prefix = book.name[:2]
            start = time.perf_counter()
            status = run_course(Path(out), only=[prefix], store=store, html=False)  # execution only
            times[book.name] = {"seconds": time.perf_counter() - start, "ok": status == 0}
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 05")
    parser.add_argument("--store", action="store_true", help="also refresh the notebooks' stored outputs")
    args = parser.parse_args(argv)
    profile = profiles.active()
    times = time_notebooks(args.only, args.store)
    total = sum(t["seconds"] for t in times.values())
    print(f"\n{profile.name} profile; {hardware_summary()}")
    for name, t in times.items():
        print(f"{name:40s} {t['seconds']:7.0f} s  {'ok' if t['ok'] else 'FAILED'}")
    goal = f"; goal {GOAL_S // 60} min: {'met' if total <= GOAL_S else 'not met'}" if not args.only else ""
    print(f"{'total':40s} {total:7.0f} s  ({total / 60:.1f} min{goal})")
    out = RESULTS / f"course_time_{profile.name}.json"
    if args.only:
        times = remeasured(out, times)
        if times is None:
            return
    record = stamp({"profile": profile.name, "machine": platform.processor() or platform.machine(),
                    "stored_outputs": args.store, "notebooks": times,
                    "total_s": sum(t["seconds"] for t in times.values())}, out, profile.precision)
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")


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
