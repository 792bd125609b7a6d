"""The stored references under bench/results: which are current, and re-certifying them after a code change.

    python bench/references.py                       # every file: current, or stale and what changed
    python bench/references.py certify NAME ...      # re-certify files by a cheap re-run (see below)
    python bench/references.py certify --stale       # every stale file that can be certified

A reference is current while its fingerprint (the code it imports and the committed data, ftlab.core.provenance)
matches today's. After a change that should move no number (a refactor, a renamed helper), `certify` re-runs a
sample and compares every recorded number (times excepted) with the stored one:
- seeds_*: the live seeds (seed 0) of every arm (ftlab.core.seedstore.Experiment.certify);
- curation_epochs_*: seed 0 of the three 1k arms; peft_lr_sweep_*: full, LoRA and prompt tuning at their best rate;
- memory_cpu: every prediction recomputed, every sixth configuration measured again;
- domain_smol: the first questions of each split in both modes (needs SmolLM2: FTLAB_EXTRAS=smol).
If every number matches within the experiment's tolerance, the file gets today's fingerprint and a certification
record (commit, date, what was re-run, the largest gap); otherwise it says so and the file must be remade with the
command it names. course_time_* is a measurement of the whole course: remake it (`bench/course_time.py --store`).
On a 2-core CPU certifying every file takes more than two hours (measured 2026-12-03: the first 8 files took 62 min,
seeds_02-curation_smol_fp32.json alone 29 min; 05-peft at both scales trains seven methods each): start it early.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftlab.core.errors import ConfigError
from ftlab.core.profiles import active
from ftlab.core.provenance import RESULTS_DIR, StaleReference, changes, fingerprint_of, reference_for
from ftlab.tools.experiments import experiment

BENCH = Path(__file__).resolve().parent


def status() -> dict[str, list[str]]:
    """{file name: what changed} for every results file (an empty list: current)."""
    out = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        saved = json.loads(path.read_text())
        out[path.name] = changes(saved.get("fingerprint"), fingerprint_of(path))
    return out


def script(name: str):
    """A bench script as a module (its `certify` function)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def certify(path: Path) -> dict:
    """Re-certify one results file (see the module docstring); raises when the re-run moved a number."""
    ref = reference_for(path)
    if not ref.certifiable:
        raise ConfigError(f"{path.name} cannot be certified by a sample: remake it with `{ref.remake}`")
    saved = json.loads(path.read_text())
    if path.name.startswith("seeds_"):
        key = saved["key"]
        profile = active(key["profile"])
        if profile.precision != key["precision"]:
            raise ConfigError(f"{path.name} holds {key['precision']} runs but this machine trains the profile in "
                              f"{profile.precision}: set FTLAB_BF16={'on' if key['precision'] == 'bf16' else 'off'}")
        return experiment(key["experiment"], profile).certify()
    producer = Path(ref.roots[0]).stem
    return script(producer).certify(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("status", "certify"), default="status")
    parser.add_argument("files", nargs="*", help="results file names (bench/results/...)")
    parser.add_argument("--stale", action="store_true", help="with certify: every stale certifiable file")
    args = parser.parse_args(argv)
    states = status()
    if args.action == "status":
        for name, changed in states.items():
            print(f"{'current' if not changed else 'STALE  '} {name}" + (f": {'; '.join(changed[:4])}"
                                                                         + (" …" if len(changed) > 4 else "")
                                                                         if changed else ""))
        return 1 if any(states.values()) else 0
    names = list(args.files) + ([n for n, c in states.items() if c and reference_for(n).certifiable]
                                if args.stale else [])
    unknown = [n for n in names if n not in states]
    if unknown or not names:
        parser.error(f"name results files to certify (unknown: {unknown}); known: {', '.join(states)}")
    failed = 0
    for name in names:
        start = time.perf_counter()
        try:
            record = certify(RESULTS_DIR / name)
            print(f"certified {name}: {len(record['checked'])} run(s) re-run, {record['numbers_compared']} numbers "
                  f"compared, largest gap {record['largest_gap'][1]:.2g} ({record['largest_gap'][0]}), "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        except (StaleReference, ConfigError) as err:
            failed += 1
            print(f"NOT certified {name}: {err}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
