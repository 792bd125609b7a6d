"""What the runs on this machine cost, from the run cards they wrote (runs/<name>-seed<N>-<date>/runcard.json):
per profile and run name, how many runs, the median training time and tokens/s, and the device. It sizes the
stored references of a profile before they are made (how long would the smol seeds of notebook 05 take?).
`--stored` reads the same figures from the rows of the committed seed references instead
(bench/results/seeds_*.json), which outlive the run folders a fresh clone does not have.

    python bench/run_times.py                      # every run card under runs/ (FTLAB_RUNS)
    python bench/run_times.py --profile smol --since 2026-12-02
    python bench/run_times.py --stored --profile smol
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftlab.core.paths import runs_dir
from ftlab.core.provenance import RESULTS_DIR

NAME = re.compile(r"^(?P<name>.+)-seed\d+-\d{8}-\d{6}$")  # ftlab.core.runcard's folder names


def cards(root: Path, profile: str | None, since: str | None) -> list[dict]:
    """The run cards under `root` of `profile` (None: any) created on or after `since` (YYYY-MM-DD)."""
    found = []
    for path in sorted(root.glob("*/runcard.json")):
        card = json.loads(path.read_text())
        match = NAME.match(path.parent.name)
        if match is None or (profile and card.get("profile") != profile):
            continue
        if since and str(card.get("created", ""))[:10] < since:
            continue
        found.append({**card, "name": match["name"]})
    return found


def stored_rows(results: Path, profile: str | None) -> list[dict]:
    """The timed rows of the seed references under `results`, shaped like run cards: name = experiment-arm,
    device = the hardware their provenance names; rows without a training time are left out."""
    found = []
    for path in sorted(results.glob("seeds_*.json")):
        record = json.loads(path.read_text())
        key, hardware = record["key"], record["provenance"].get("hardware")
        if profile and key["profile"] != profile:
            continue
        for row in record["rows"]:
            seconds = row.get("wall_time_s", row.get("train_s"))  # notebook 07's DPO rows say train_s
            if seconds is not None and "tokens_per_s" in row:
                arm = row.get("arm") or row.get("method") or "run"
                found.append({"profile": key["profile"], "name": f"{key['experiment']}-{arm}",
                              "wall_time_s": seconds, "tokens_per_s": row["tokens_per_s"], "device": hardware})
    return found


def table(found: list[dict]) -> list[str]:
    """One line per (profile, run name): runs, median training seconds and tokens/s, device."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for card in found:
        groups[(str(card.get("profile")), card["name"])].append(card)
    lines = [f"{'profile':8s} {'run':28s} {'runs':>4s} {'train s (median)':>17s} {'tokens/s':>9s}  device"]
    for (profile, name), group in sorted(groups.items()):
        seconds = statistics.median(c["wall_time_s"] for c in group)
        speed = statistics.median(c["tokens_per_s"] for c in group)
        lines.append(f"{profile:8s} {name:28s} {len(group):4d} {seconds:17.0f} {speed:9.0f}  {group[0].get('device')}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="only this profile's runs")
    parser.add_argument("--since", help="only runs created on or after this date (YYYY-MM-DD)")
    parser.add_argument("--runs", type=Path, default=None, help="the runs folder (default: FTLAB_RUNS or runs/)")
    parser.add_argument("--stored", action="store_true", help="read the committed seed references, not run cards")
    args = parser.parse_args(argv)
    if args.stored:
        found = stored_rows(RESULTS_DIR, args.profile)
    else:
        found = cards(args.runs or runs_dir(), args.profile, args.since)
    if not found:
        print("no stored runs match" if args.stored else "no run cards match")
        return
    print("\n".join(table(found)))


if __name__ == "__main__":
    main()
