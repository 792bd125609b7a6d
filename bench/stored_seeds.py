"""Store every seed of a notebook experiment (ftlab.core.seedstore) so that a small machine trains only the profile's
`live_seeds` and checks each against its stored twin. Runs the same function the notebook runs; resumes from the
file (bench/results/seeds_<experiment>_<profile>_<precision>.json) and starts over when settings or data changed.

    python bench/stored_seeds.py 05-peft        # ~8 minutes on the tiny profile (21 runs)
    FTLAB_PROFILE=smol python bench/stored_seeds.py 05-peft --seeds 0 &   # one process per seed and core,
    FTLAB_PROFILE=smol python bench/stored_seeds.py 05-peft --seeds 1     # both filling one file
    python bench/stored_seeds.py --list
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftlab.core.profiles import active
from ftlab.tools.experiments import EXPERIMENTS, experiment


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", help=f"one or more of {sorted(EXPERIMENTS)}")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these of the profile's seeds (run one process "
                        "per seed, one per core: each adds its runs to the same file)")
    args = parser.parse_args(argv)
    if args.list or not args.experiments:
        print("\n".join(sorted(EXPERIMENTS)))
        return
    profile = active()
    for name in args.experiments:
        start = time.perf_counter()
        rows = experiment(name, profile).store(args.seeds)
        print(f"{name}: {len(rows)} runs stored for profile {profile.name} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
