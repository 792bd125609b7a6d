"""Where CI's time goes: seconds per test file and per notebook from a pytest JUnit XML report, the notebooks' and
the unit tests' sums, and the largest files. Make the report with the command CI runs, e.g.

    PYTEST_ADDOPTS="--junitxml=/tmp/ci.xml" ../shared/tools/fresh-clone-check test
    python bench/ci_time.py /tmp/ci.xml [--top 25]
    python bench/ci_time.py /tmp/ci.xml --store --commit 809fd29 --workers 2   # bench/ci_time/latest.json

With test workers (pytest-xdist) the sums are worker-seconds: their total over the wall time of the pytest run is
how many workers were busy on average. Each worker is pinned to its own CPUs (conftest.py), so with as many
workers as cores a notebook's time here is its time on one core while another kernel or test keeps the other core
busy: what one student sees on a shared server that gives each student one core (the teacher's guide reads it).
"""
from __future__ import annotations

import argparse
import json
import platform
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from ftlab.core import profiles
from ftlab.core.jsonl import atomic_write_text
from ftlab.core.provenance import provenance

# A record of one CI run, not a reference the course reads: it lives beside bench/results (whose files are
# fingerprinted references), with the commit it measured.
STORED = Path(__file__).parent / "ci_time" / "latest.json"


def seconds_per_file(suite: ET.Element) -> Counter:
    """Seconds per test module or notebook of a parsed report, named as its path (`tests/core/test_jsonl.py`,
    `notebooks/01_sft.ipynb`)."""
    per_file: Counter = Counter()
    for case in suite.iter("testcase"):
        per_file[file_of(case.get("classname", ""))] += float(case.get("time", 0))
    return per_file


def file_of(classname: str) -> str:
    """A JUnit class name as a path: pytest writes `tests.core.test_jsonl` (a class inside adds `.TestX`) and, for a
    notebook's cells, `notebooks.01_sft.ipynb`."""
    parts = classname.split(".")
    if parts[-1] == "ipynb":
        return "/".join(parts[:-2]) + f"/{parts[-2]}.ipynb"
    while parts and not parts[-1].startswith("test"):  # a test class's name
        parts.pop()
    return "/".join(parts) + ".py" if parts else classname


def is_notebook(path: str) -> bool:
    return path.endswith(".ipynb")


def read_suite(report: str) -> ET.Element:
    """The <testsuite> of a pytest JUnit report (pytest wraps it in <testsuites>)."""
    root = ET.parse(report).getroot()
    return root if root.tag == "testsuite" else root.find("testsuite")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", help="pytest --junitxml file")
    parser.add_argument("--top", type=int, default=25, help="how many of the largest files to list")
    parser.add_argument("--store", action="store_true", help=f"write the figures to {STORED.name}")
    parser.add_argument("--commit", help="with --store: the commit the report's run tested (a fresh clone's)")
    parser.add_argument("--workers", type=int, help="with --store: how many test workers the run had")
    args = parser.parse_args(argv)
    if not args.report:
        parser.error("name the pytest --junitxml report to read")
    if args.store and not (args.commit and args.workers):
        parser.error("--store needs --commit and --workers: the stored figures must say what they measured")
    suite = read_suite(args.report)
    per_file = seconds_per_file(suite)
    if args.store:
        store(per_file, float(suite.get("time", 0)), int(suite.get("tests", 0)), args.commit, args.workers)
    notebooks = sum(s for f, s in per_file.items() if is_notebook(f))
    units = sum(per_file.values()) - notebooks
    print(f"pytest wall time {float(suite.get('time', 0)):.0f} s; {suite.get('tests')} tests")
    print(f"notebooks {notebooks:.0f} s, unit tests {units:.0f} s (worker-seconds)\n")
    for name in sorted(filter(is_notebook, per_file)):
        print(f"{name:60s} {per_file[name]:7.0f} s")
    print()
    for name, seconds in [(f, s) for f, s in per_file.most_common() if not is_notebook(f)][:args.top]:
        print(f"{name:60s} {seconds:7.0f} s")


def store(per_file: Counter, wall_s: float, tests: int, commit: str, workers: int) -> None:
    """Write the per-file seconds of one CI run to STORED, with the run's commit and workers and this machine."""
    record = {"tested_commit": commit, "workers": workers, "profile": profiles.active().name,
              "machine": platform.processor() or platform.machine(),
              "pytest_wall_s": wall_s, "tests": tests,
              "notebooks": {Path(f).name: s for f, s in sorted(per_file.items()) if is_notebook(f)},
              "unit_tests": {f: s for f, s in sorted(per_file.items()) if not is_notebook(f)}}
    record["provenance"] = provenance(profiles.active().precision)
    STORED.parent.mkdir(exist_ok=True)
    atomic_write_text(STORED, json.dumps(record, indent=1) + "\n")
    print(f"wrote {STORED}")


if __name__ == "__main__":
    main()
