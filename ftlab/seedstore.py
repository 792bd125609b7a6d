"""Repeated seeds on a small machine: train some seeds live, take the others from a stored file, and trust the
file only when every live run reproduces its stored twin.

A notebook needs several seeds to tell an effect from seed-to-seed noise, but on 2 CPU cores every extra seed
of every arm costs the learner minutes. So the profile names the seeds trained live (`Profile.live_seeds`);
`python bench/stored_seeds.py <experiment>` runs every seed of every arm with the same function the notebook
calls and stores the results in `bench/results/seeds_<experiment>_<profile>_<precision>.json` (bf16 and fp32
runs differ, and which one a machine trains in depends on its hardware: `profiles.for_this_machine`). The
notebook re-runs its live seeds and compares each with its stored twin (same arm, seed, settings, data and
code): training is deterministic on a CPU, so a twin that disagrees means the file is stale, and the notebook
stops.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

Run = Callable[[str, int], dict]  # (arm, seed) -> a result row

# Experiments with stored seeds: name -> "module:function" building it from a profile, as its notebook does.
EXPERIMENTS = {
    "01-sft": "ftlab.sft:default_sft_experiment",
    "02-curation": "ftlab.curation:default_step_matched",
    "03-forgetting": "ftlab.forgetting:default_experiment",
    "05-peft": "ftlab.peft_compare:default_comparison",
    "06-domain": "ftlab.domain:default_specialist_experiment",
    "07-dpo": "ftlab.dpo:default_alignment_experiment",
}


def experiment(name: str, profile) -> "Experiment":
    """The named experiment as its notebook runs it (for bench/stored_seeds.py)."""
    import importlib

    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    module, function = EXPERIMENTS[name].split(":")
    return getattr(importlib.import_module(module), function)(profile)


@dataclass
class Experiment:
    """Arms x seeds of one notebook's measurement: how to run one (arm, seed), what the results depend on
    (`inputs`: settings and data, hashed into the stored file's key) and how closely twins must agree."""

    name: str  # e.g. "05-peft"; the stored file is bench/results/seeds_<name>_<profile>_<precision>.json
    profile: object
    arms: tuple[str, ...]
    run: Run
    inputs: object
    tolerance: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> dict:
        return experiment_key(self.name, self.profile, self.inputs)

    def results(self, live_seeds: Iterable[int] | None = None) -> list[dict]:
        """Every arm x every profile seed: `live_seeds` run now (None: the profile's `live_seeds`), the rest
        stored."""
        seeds = self.profile.seeds
        chosen = live_seeds if live_seeds is not None else env_live_seeds(self.profile.live_seeds)
        return live_and_stored(self.name, self.key, self.arms, seeds, chosen, self.run, self.tolerance)

    def store(self) -> list[dict]:
        """Run and store every arm x seed not stored yet (bench/stored_seeds.py)."""
        jobs = [(a, s) for a in self.arms for s in self.profile.seeds]
        return store_runs(self.name, self.key, jobs, self.run, results_path(self.key))


def env_live_seeds(default: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """FTLAB_LIVE_SEEDS overrides the profile: `all` trains every seed live, `0,1` those seeds."""
    value = os.environ.get("FTLAB_LIVE_SEEDS", "").strip()
    if not value:
        return default
    if value == "all":
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise ValueError(f"FTLAB_LIVE_SEEDS={value!r}: expected 'all' or seeds like '0,1'") from None


def results_path(key: dict) -> Path:
    """bench/results/seeds_<experiment>_<profile>_<precision>.json for an `experiment_key`."""
    from .paths import REPO_ROOT

    name = f"seeds_{key['experiment']}_{key['profile']}_{key['precision']}.json"
    return REPO_ROOT / "bench" / "results" / name


def experiment_key(experiment: str, profile, inputs) -> dict:
    """What stored runs depend on: the profile's model and precision and the experiment's inputs (its settings
    and data). A stored file with another key is stale and is refused."""
    blob = json.dumps([profile.model, inputs], sort_keys=True, default=repr).encode()
    return {"experiment": experiment, "profile": profile.name, "precision": profile.precision,
            "sha256": hashlib.sha256(blob).hexdigest()[:16]}


LOCAL_KEYS = ("card_path",)  # where a run card lies on the machine that made it: meaningless anywhere else


def settings_key(settings) -> dict:
    """A settings dataclass as the fields that differ from their defaults: what a stored file's key records, so
    that a new field added later with a default does not make every stored file stale. (A changed default is
    caught by the live twin instead.)"""
    from dataclasses import MISSING, fields

    out = {}
    for f in fields(settings):
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        value = getattr(settings, f.name)
        if value != default:
            out[f.name] = value
    return out


def stored_row(row: dict) -> dict:
    """The JSON-able part of a result row: trained models, other live objects and local paths stay out."""
    def plain(value) -> bool:
        try:
            json.dumps(value)
            return True
        except (TypeError, ValueError):
            return False
    return {k: v for k, v in row.items() if k not in LOCAL_KEYS and plain(v)}


def store_runs(experiment: str, key: dict, jobs: Iterable[tuple[str, int]], run: Run, out: Path) -> list[dict]:
    """Run every (arm, seed) job not yet in `out` and save after each one (a kill loses one run at most)."""
    from .jsonl import atomic_write_text

    saved = json.loads(Path(out).read_text()) if Path(out).exists() else {}
    rows = saved.get("rows", []) if saved.get("key") == key else []
    done = {(r["arm"], r["seed"]) for r in rows}
    for arm, seed in jobs:
        if (arm, seed) in done:
            continue
        rows.append({**stored_row(run(arm, seed)), "arm": arm, "seed": seed})
        atomic_write_text(Path(out), json.dumps({"key": key, "rows": rows}, indent=1) + "\n")
        print(f"{experiment}: {arm} seed {seed} stored ({len(rows)} runs in {out.name})", flush=True)
    return rows


def load_runs(experiment: str, key: dict) -> list[dict]:
    """The stored runs; a missing or stale file is an error that gives the command that makes it."""
    path = results_path(key)
    command = f"FTLAB_PROFILE={key['profile']} python bench/stored_seeds.py {experiment}"
    if key["precision"] == "fp32":
        command = f"FTLAB_BF16=off {command}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `{command}`")
    saved = json.loads(path.read_text())
    if saved.get("key") != key:
        raise ValueError(f"{path} was made with other settings, data or code than the profile's now: re-run "
                         f"`{command}`")
    return saved["rows"]


def reproduction_gaps(live: list[dict], stored: list[dict], metrics: Iterable[str]) -> dict[str, float]:
    """Largest |live - stored| of each metric over the (arm, seed) runs found in both."""
    twins = {(r["arm"], r["seed"]): r for r in stored}
    pairs = [(r, twins[r["arm"], r["seed"]]) for r in live if (r["arm"], r["seed"]) in twins]
    if not pairs:
        raise ValueError("no live run has a stored twin to compare with")
    return {m: max(abs(a[m] - b[m]) for a, b in pairs) for m in metrics}


def live_and_stored(experiment: str, key: dict, arms: Iterable[str], seeds: Iterable[int],
                    live_seeds: Iterable[int] | None, run: Run, tolerance: dict[str, float]) -> list[dict]:
    """Every (arm, seed) result, arm by arm: the live seeds run now, the others come from the stored file after
    each live run has matched its stored twin within `tolerance` ({metric: largest allowed difference})."""
    arms, seeds = list(arms), list(seeds)
    live_seeds = [s for s in seeds if live_seeds is None or s in set(live_seeds)]
    live = [{**run(arm, seed), "arm": arm, "seed": seed} for arm in arms for seed in live_seeds]
    if len(live_seeds) == len(seeds):
        return live
    stored = load_runs(experiment, key)
    gaps = reproduction_gaps(live, stored, tolerance)
    print(f"{len(live)} runs live (seeds {live_seeds}); each matches its stored twin within "
          + ", ".join(f"{m} {gap:.2g} (allowed {tolerance[m]:g})" for m, gap in gaps.items()))
    stale = {m: g for m, g in gaps.items() if g > tolerance[m]}
    if stale:
        raise AssertionError(f"live runs differ from {results_path(key).name} by {stale}: "
                             f"the stored file is stale (re-run `python bench/stored_seeds.py {experiment}`) or this "
                             "machine computes differently (another CPU); FTLAB_LIVE_SEEDS=all trains every seed live")
    by_job = {(r["arm"], r["seed"]): r for r in stored}
    missing = [(a, s) for a in arms for s in seeds if s not in live_seeds and (a, s) not in by_job]
    if missing:
        raise ValueError(f"{results_path(key).name} lacks runs {missing}: re-run "
                         f"`python bench/stored_seeds.py {experiment}`")
    live_by_job = {(r["arm"], r["seed"]): r for r in live}
    return [live_by_job.get((a, s)) or by_job[a, s] for a in arms for s in seeds]
