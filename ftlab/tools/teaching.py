"""docs/teaching.md, the teacher's guide, made from measured outputs and a teacher's notes.

Every number in the guide comes from an output of this repository, never typed in: the time of each notebook from
bench/results/course_time_<profile>.json (with the command, commit, date and hardware that measured it), and the
results students should expect, with their intervals over seeds, from the CLAIM lines stored in each notebook
(the live run on the default profile, and below each the same claim at 135 M from the stored references). What a
notebook teaches, the discussion questions and the mistakes the exercises' `check()` names are prose, in
docs/teaching_notes.yaml.

    python -m ftlab.tools.teaching            # rewrite docs/teaching.md
    python -m ftlab.tools.teaching --check    # exit 1 if it is out of date (tests/tools/test_teaching.py)

Rewrite it after `bench/course_time.py --store` (new times, new stored outputs) or an edit of the notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
import yaml

from ftlab.core.errors import ConfigError
from ftlab.core.paths import NOTEBOOKS_DIR, REPO_ROOT
from ftlab.core.provenance import RESULTS_DIR
from ftlab.course.exercises import NOTEBOOKS
from ftlab.course.quiz import CodeExercise

NOTES = REPO_ROOT / "docs" / "teaching_notes.yaml"
GUIDE = REPO_ROOT / "docs" / "teaching.md"
PROFILE = "tiny"  # the default profile: what a student laptop runs
# One CI run's seconds per notebook with one test worker per core, each pinned to its core (bench/ci_time.py,
# conftest.py): each notebook on one core while the other core was busy, as on a server giving each student one.
ONE_CORE_TIMES = REPO_ROOT / "bench" / "ci_time" / "latest.json"
SERVER_CORES = 16
NOTE_KEYS = ("teaches", "discuss", "mistakes")


def read_notes(path: Path = NOTES) -> dict[str, dict]:
    """The notes per notebook number, each with `teaches`, `discuss` and `mistakes`; ConfigError naming what lacks."""
    notes = yaml.safe_load(path.read_text())
    missing = [f"{n}: {key}" for n in NOTEBOOKS for key in NOTE_KEYS if not (notes.get(n) or {}).get(key)]
    if missing:
        raise ConfigError(f"{path}: every notebook needs {', '.join(NOTE_KEYS)}; missing: {', '.join(missing)}")
    return notes


def read_times(profile: str = PROFILE) -> dict:
    """bench/results/course_time_<profile>.json: seconds per notebook and the provenance of the measurement."""
    path = RESULTS_DIR / f"course_time_{profile}.json"
    if not path.exists():
        raise ConfigError(f"{path} is missing: measure the course with `python bench/course_time.py --store`")
    return json.loads(path.read_text())


def read_one_core_times(path: Path = ONE_CORE_TIMES) -> dict | None:
    """bench/ci_time/latest.json (None when there is none: the guide then says the figure is not measured)."""
    return json.loads(path.read_text()) if path.exists() else None


def shared_server(seconds: dict[str, float], one_core: dict | None) -> list[str]:
    """The guide's paragraph on a shared server: each notebook's time on one core beside a busy one (measured),
    what that makes of a SERVER_CORES-core server (on paper), and how far the paper step is trusted."""
    if not one_core:
        return ["**On a shared server**: not measured (bench/ci_time/latest.json is missing: see bench/ci_time.py). "
                "Each kernel takes the threads its cgroup quota or FTLAB_THREADS gives it (README, \"Teaching with "
                "ftlab\").", ""]
    alone, beside = sum(seconds.values()), sum(one_core["notebooks"][name] for name in seconds)
    made = one_core["provenance"]
    return [f"**On a shared server.** Measured ({made['date']}, {made['hardware'].split(',')[0]}, "
            f"`{made['command']}`): CI's test run of commit {one_core['tested_commit']} ran "
            f"{one_core['workers']} test workers, each pinned to its own core, so every notebook ran on one core "
            "while the other core ran another notebook or the unit tests: one student's kernel beside another's. "
            f"The whole course took {_minutes(beside)} that way, against {_minutes(alone)} on two cores alone "
            f"({beside / alone:.2f}x; each notebook's figure is in its section). On paper, a {SERVER_CORES}-core "
            f"server holds {SERVER_CORES} students at one core each (`FTLAB_THREADS=1` or a one-CPU cgroup quota per "
            f"student) at the one-core times, or {SERVER_CORES // 2} at two cores each at the laptop times; that "
            "step assumes the sixteenth busy core slows a kernel no more than the second did here, and sixteen "
            "kernels share the memory bandwidth two did not: time one notebook with the whole class before "
            "planning a lab on it. Each kernel takes the threads its cgroup quota or FTLAB_THREADS gives it "
            "(README, \"Teaching with ftlab\").", ""]


def stored_claims(book: Path) -> list[str]:
    """The CLAIM lines in a notebook's stored outputs, each with the other-scale line printed below it."""
    lines = []
    for cell in nbformat.read(book, as_version=4).cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("CLAIM ") or (line.startswith("    at ") and lines):
                    lines.append(line)
    return lines


def first_output(book: Path) -> list[str]:
    """The first lines of a notebook's first output: the profile, hardware and precision that produced it."""
    for cell in nbformat.read(book, as_version=4).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                return [line for line in out["text"].splitlines() if line.strip()][:3]
    return []


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _exercises(number: str) -> str:
    kinds = [f"`{name}` ({'code' if isinstance(q, CodeExercise) else 'question'})"
             for name, q in vars(NOTEBOOKS[number]).items()]
    return ", ".join(kinds)


def notebook_section(book: Path, notes: dict, seconds: float, one_core: float | None = None) -> list[str]:
    """The guide's section on one notebook (`one_core`: its seconds on one core beside a busy one, if measured)."""
    number = book.name[:2]
    title = nbformat.read(book, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
    shared = f"; on one core of a shared server: {_minutes(one_core)}" if one_core else ""
    out = [f"## {title}", "", f"**What it teaches.** {notes['teaches']}", "",
           f"**Time on a 2-core student laptop**: {_minutes(seconds)} (`{book.name}`, run top to bottom){shared}.",
           "",
           "**Results students should expect** (the stored run's CLAIM lines: each figure is the mean over the "
           "seeds named, in brackets its 95 % interval, which counts the seed-to-seed spread and the test set's "
           "size; one student's run is one seed, so the class's runs spread wider than the brackets around that "
           "mean. The indented line is the same claim at 135 M, from the stored references):", "", "```"]
    out += stored_claims(book) or ["(this notebook makes no claim)"]
    out += ["```", "", f"**Exercises**: {_exercises(number)}. In a graded lab, students end with "
                       f"`from ftlab.course import grading; grading.save(\"{number}\")`.", "",
            "**Discussion questions**", ""]
    out += [f"{i}. {q}" for i, q in enumerate(notes["discuss"], 1)]
    out += ["", "**Mistakes students make** (what the exercises' `check()` reports)", ""]
    out += [f"- {m}" for m in notes["mistakes"]] + [""]
    return out


def render(notes: dict | None = None, times: dict | None = None, one_core: dict | None = None) -> str:
    """The whole guide as markdown."""
    notes, times = notes or read_notes(), times or read_times()
    one_core = read_one_core_times() if one_core is None else one_core  # {}: as if not measured
    books = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    seconds = {name: entry["seconds"] for name, entry in times["notebooks"].items()}
    missing = [b.name for b in books if b.name not in seconds]
    if missing:
        raise ConfigError(f"course_time_{times['profile']}.json has no time for {', '.join(missing)}: re-measure "
                          "with `python bench/course_time.py --store`")
    made = times["provenance"]
    out = ["# Teaching with ftlab: a guide per notebook", "",
           "<!-- generated by `python -m ftlab.tools.teaching` from docs/teaching_notes.yaml, "
           f"bench/results/course_time_{times['profile']}.json, bench/ci_time/latest.json and the notebooks' stored "
           "outputs; edit those -->", "",
           "How to run a lab (solutions hidden, results collected, graded, a class dashboard, a shared server): "
           "README.md, \"Teaching with ftlab\". This guide gives, per notebook, what it teaches, how long it takes, "
           "what results to expect and how much they vary, questions for discussion, and the mistakes the "
           "exercises catch.", "",
           f"**Where the numbers come from.** Times: `{made['command']}` (profile `{times['profile']}`, "
           f"{made['date']}, commit {made['commit'][:7]}{'+changes' if made.get('dirty') else ''}, "
           f"{made['hardware']}, {made['precision']}, torch {made['versions']['torch']}). Results: the CLAIM lines "
           "each notebook printed when its outputs were stored; its first output names the machine:", "", "```"]
    out += first_output(books[0]) + ["```", "",
                                     f"**The whole course**: {_minutes(sum(seconds[b.name] for b in books))} on that "
                                     "machine, notebooks run one after the other.", ""]
    out += shared_server({b.name: seconds[b.name] for b in books}, one_core)
    for book in books:
        out += notebook_section(book, notes[book.name[:2]], seconds[book.name],
                                (one_core or {}).get("notebooks", {}).get(book.name))
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftlab.tools.teaching", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/teaching.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = GUIDE.exists() and GUIDE.read_text() == text
        print(f"{GUIDE.relative_to(REPO_ROOT)} is {'current' if current else 'OUT OF DATE'}")
        return 0 if current else 1
    GUIDE.write_text(text)
    print(f"wrote {GUIDE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
