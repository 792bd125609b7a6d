"""Repeated seeds on a small machine: train some seeds live, take the others from a stored reference, and show
each live run beside its stored twin.

A notebook needs several seeds to tell an effect from seed-to-seed noise, but on 2 CPU cores every extra seed
of every arm costs the learner minutes. So the profile names the seeds trained live (`Profile.live_seeds`);
`python bench/stored_seeds.py <experiment>` runs every seed of every arm with the same function the notebook
calls and stores the results in `bench/results/seeds_<experiment>_<profile>_<precision>.json`, with its
provenance and a fingerprint of the code and data it depends on (`ftlab.core.provenance`).

Whether a reference may be used is decided by what it was made from, never by how a learner's machine computes:
a file whose settings, rows, code or data differ from today's is stale and stops the notebook with the command
that re-certifies or remakes it. A live run that differs from its twin only because this machine computes
differently (another CPU's kernels, a GPU, bf16) is shown beside the reference — the twin, the reference's
mean and spread, and where the live run falls — and the notebook goes on.

Certifying after a code change (`python bench/references.py certify`): the live seeds of every arm are re-run
and every recorded number (times excepted) must match the stored run within the experiment's tolerance; then
the new fingerprint is recorded with the certification. A change that moves any number needs a remake.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.core import paths
from ftlab.core.jsonl import atomic_write_text, update_json
from ftlab.core.profiles import Profile
from ftlab.core.provenance import (
    StaleReference,
    changes,
    describe,
    fingerprint_of,
    provenance,
    reference_for,
    require_current,
    stamp,
)
from ftlab.core.stats import mean_std

Run = Callable[[str, int], dict]  # (arm, seed) -> a result row




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

    @property
    def path(self) -> Path:
        return results_path(self.key)

    def results(self, live_seeds: Iterable[int] | None = None) -> list[dict]:
        """Every arm x every profile seed: `live_seeds` run now (None: the profile's `live_seeds`), the rest
        from the stored reference, after printing each live run beside its twin (`compare_with_reference`).
        Rows say where they come from (`live`: True or False)."""
        seeds = list(self.profile.seeds)
        chosen = live_seeds if live_seeds is not None else env_live_seeds(self.profile.live_seeds)
        live_seeds = [s for s in seeds if chosen is None or s in set(chosen)]
        stored = load_runs(self.name, self.key) if len(live_seeds) < len(seeds) else None
        live = [{**self.run(arm, seed), "arm": arm, "seed": seed, "live": True}
                for arm in self.arms for seed in live_seeds]
        if stored is None:
            return live
        print(compare_with_reference(live, stored["rows"], self.tolerance, stored, self.profile.precision))
        by_job = {(r["arm"], r["seed"]): {**r, "live": False} for r in stored["rows"]}
        missing = [(a, s) for a in self.arms for s in seeds if s not in live_seeds and (a, s) not in by_job]
        if missing:
            raise ValueError(f"{self.path.name} lacks runs {missing}: re-run "
                             f"`python bench/stored_seeds.py {self.name}`")
        live_by_job = {(r["arm"], r["seed"]): r for r in live}
        return [live_by_job.get((a, s)) or by_job[a, s] for a in self.arms for s in seeds]

    def store(self, seeds: Iterable[int] | None = None) -> list[dict]:
        """Run and store every arm x seed not stored yet (bench/stored_seeds.py); `seeds`: only those of the
        profile's seeds (one process per seed fills one file in parallel)."""
        jobs = [(a, s) for a in self.arms for s in self.profile.seeds if seeds is None or s in set(seeds)]
        return store_runs(self.name, self.key, jobs, self.run, self.path, self.profile.precision)

    def certify(self) -> dict:
        """Re-run the live seeds of every arm and, when every recorded number matches its stored twin within
        the tolerance (`certification_gaps`), record today's fingerprint in the file; else raise with the gaps
        (the file must be remade). Returns the certification record."""
        saved = json.loads(self.path.read_text())
        if saved.get("key") != self.key:
            raise StaleReference(f"{self.path.name} was made with other settings or rows: certification re-checks "
                                 f"code only; remake it with `python bench/stored_seeds.py {self.name}`")
        seeds = [s for s in self.profile.seeds if s in set(self.profile.live_seeds or self.profile.seeds[:1])]
        live = [{**stored_row(self.run(arm, seed)), "arm": arm, "seed": seed} for arm in self.arms for seed in seeds]
        gaps = certification_gaps(live, saved["rows"], self.tolerance)
        return record_certification(saved, self.path, gaps, [[r["arm"], r["seed"]] for r in live])


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
    name = f"seeds_{key['experiment']}_{key['profile']}_{key['precision']}.json"
    return paths.REPO_ROOT / "bench" / "results" / name


def experiment_key(experiment: str, profile: Profile, inputs) -> dict:
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


def extras_key(extras: dict) -> dict:
    """{"library_arguments": extras} for an experiment's inputs when a learner's config sets more than ftlab's
    settings hold; {} otherwise, so that the key of the profile's own experiment stays what it was."""
    return {"library_arguments": extras} if extras else {}


def stored_row(row: dict) -> dict:
    """The JSON-able part of a result row: trained models, other live objects and local paths stay out."""
    def plain(value) -> bool:
        try:
            json.dumps(value)
            return True
        except (TypeError, ValueError):
            return False
    return {k: v for k, v in row.items() if k not in LOCAL_KEYS and plain(v)}


def store_runs(experiment: str, key: dict, jobs: Iterable[tuple[str, int]], run: Run, out: Path,
               precision: str) -> list[dict]:
    """Run every (arm, seed) job not yet in `out` and save after each one (a kill loses one run at most). A file
    made with other settings, rows, code or data starts over, so one file never mixes code versions. Several
    processes may store into one file at once (say one seed each, one per core): each save merges the rows the
    others saved meanwhile (`jsonl.update_json`)."""
    today = fingerprint_of(out)

    def current(saved: dict | None) -> dict:
        """The file's record if it was made with today's key and code, else a new empty one."""
        if saved and saved.get("key") == key and not changes(saved.get("fingerprint"), today):
            return saved
        if saved:
            print(f"{Path(out).name}: made from other settings, rows, code or data; starting over", flush=True)
        return {"key": key, **stamp({}, out, precision), "certifications": [], "rows": []}

    saved = json.loads(Path(out).read_text()) if Path(out).exists() else None
    record = current(saved)
    if record is not saved:
        record = update_json(Path(out), current)
    for arm, seed in jobs:
        if (arm, seed) in {(r["arm"], r["seed"]) for r in record["rows"]}:
            continue
        row = {**stored_row(run(arm, seed)), "arm": arm, "seed": seed}

        def add(saved: dict | None, row=row) -> dict:
            mine = current(saved)
            if (row["arm"], row["seed"]) not in {(r["arm"], r["seed"]) for r in mine["rows"]}:
                mine["rows"].append(row)
            return mine

        record = update_json(Path(out), add)
        print(f"{experiment}: {arm} seed {seed} stored ({len(record['rows'])} runs in {Path(out).name})", flush=True)
    return record["rows"]


def load_runs(experiment: str, key: dict) -> dict:
    """The stored reference (its rows, provenance and fingerprint); a missing or stale file is an error that
    gives the command that makes it."""
    path = results_path(key)
    command = f"FTLAB_PROFILE={key['profile']} python bench/stored_seeds.py {experiment}"
    if key["precision"] != "fp32":
        command = f"FTLAB_BF16=on {command}"
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `{command}`")
    saved = json.loads(path.read_text())
    if saved.get("key") != key:
        raise StaleReference(f"{path.name} was made with other settings or rows than the profile's now: re-run "
                             f"`{command}`")
    return require_current(saved, path)


# Numbers that measure the machine, not the experiment: never compared between twins.
MACHINE_KEYS = ("card", "card_path", "peak_memory", "mfu")


MACHINE_SUFFIXES = ("_s", "per_s", "per_second", "runtime", "seconds", "seconds_per_question", "time")


def recorded_numbers(row: dict, prefix: str = "") -> dict[str, float]:
    """Every number a row records, by path ('scores.overall.accuracy', 'history.3.loss'), except times and
    the run card (what the machine measured, not what the experiment did)."""
    out: dict[str, float] = {}
    items = row.items() if isinstance(row, dict) else enumerate(row)
    for key, value in items:
        name = str(key)
        if name in MACHINE_KEYS or name.endswith(MACHINE_SUFFIXES):
            continue
        path = f"{prefix}{name}"
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, (int, float)):
            out[path] = float(value)
        elif isinstance(value, (dict, list, tuple)):
            out |= recorded_numbers(value, f"{path}.")
    return out


def twins(live: list[dict], stored: list[dict]) -> list[tuple[dict, dict]]:
    """(live, stored) pairs of the same (arm, seed)."""
    by_job = {(r["arm"], r["seed"]): r for r in stored}
    pairs = [(r, by_job[r["arm"], r["seed"]]) for r in live if (r["arm"], r["seed"]) in by_job]
    if not pairs:
        raise ValueError("no live run has a stored twin to compare with")
    return pairs


def reproduction_gaps(live: list[dict], stored: list[dict], metrics: Iterable[str]) -> dict[str, float]:
    """Largest |live - stored| of each metric over the (arm, seed) runs found in both."""
    pairs = twins(live, stored)
    return {m: max(abs(a[m] - b[m]) for a, b in pairs) for m in metrics}


def certification_gaps(live: list[dict], stored: list[dict], tolerance: dict[str, float]) -> dict[str, tuple]:
    """{path: (largest gap, allowed)} over every number the twins both record (`recorded_numbers`); a path
    whose last part names a metric of `tolerance` is allowed that, any other the largest tolerance."""
    default = max(tolerance.values())
    gaps: dict[str, tuple[float, float]] = {}
    for a, b in twins(live, stored):
        mine, theirs = recorded_numbers(a), recorded_numbers(b)
        for path in sorted(set(mine) & set(theirs)):
            allowed = tolerance.get(path.rsplit(".", 1)[-1], default)
            gap = abs(mine[path] - theirs[path])
            if path not in gaps or gap > gaps[path][0]:
                gaps[path] = (gap, allowed)
    return gaps


def record_certification(saved: dict, path: Path, gaps: dict[str, tuple], checked: list) -> dict:
    """Write today's fingerprint into `saved` (at `path`) with a certification record, if every gap is within
    what it is allowed; else StaleReference naming the numbers that moved."""
    moved = {p: g for p, (g, allowed) in gaps.items() if g > allowed}
    if moved:
        worst = sorted(moved.items(), key=lambda kv: -kv[1])[:8]
        raise StaleReference(f"{path.name}: re-running {len(checked)} run(s) moved "
                             + ", ".join(f"{p} by {g:.3g}" for p, g in worst)
                             + f" beyond the tolerance: the code change changed results; remake the file with "
                             f"`{reference_for(path).remake}`")
    largest = max(gaps.items(), key=lambda kv: kv[1][0], default=(None, (0.0, 0.0)))
    certification = {**provenance(saved["provenance"]["precision"]), "checked": checked,
                     "numbers_compared": len(gaps), "largest_gap": [largest[0], largest[1][0]],
                     "previous_fingerprint_code": saved.get("fingerprint", {}).get("code")}
    saved = {**saved, "fingerprint": fingerprint_of(path),
             "certifications": [*saved.get("certifications", []), certification]}
    atomic_write_text(path, json.dumps(saved, indent=1) + "\n")
    return certification


def compare_with_reference(live: list[dict], stored: list[dict], tolerance: dict[str, float], reference: dict,
                           precision: str) -> str:
    """A short report for the learner: each live run's headline metrics beside its stored twin and the
    reference's mean ± sd over the stored seeds, and whether the twins agree within the tolerance. A gap
    beyond it is explained (this machine computes differently), never an error: the reference is current."""
    lines = [f"reference: {describe(reference)}",
             f"{'arm':>14s} {'metric':>20s} {'live':>9s} {'twin':>9s}   reference (all stored seeds)"]
    pairs, worst = twins(live, stored), {}
    for run, twin in pairs:
        for metric in tolerance:
            values = [r[metric] for r in stored if r["arm"] == run["arm"]]
            mean, sd = mean_std(values)
            where = "within" if min(values) <= run[metric] <= max(values) else "outside"
            lines.append(f"{run['arm']:>14s} {metric:>20s} {run[metric]:9.4g} {twin[metric]:9.4g}   "
                         f"{mean:.4g} ± {sd:.2g} over {len(values)} seeds (live run {where} their range)")
            worst[metric] = max(worst.get(metric, 0.0), abs(run[metric] - twin[metric]))
    beyond = {m: g for m, g in worst.items() if g > tolerance[m]}
    gaps = ", ".join(f"{m} {g:.2g} (tolerance {tolerance[m]:g})" for m, g in worst.items())
    if not beyond:
        lines.append(f"every live run matches its stored twin: largest gaps {gaps}")
    else:
        made = reference.get("provenance", {}).get("precision", "?")
        lines.append(f"note: live runs differ from their stored twins beyond the tolerance ({gaps}). The reference "
                     f"is current (its fingerprint matches this code and data), so the difference comes from this "
                     f"machine: it trains in {precision} where the reference was made in {made}, or its kernels "
                     f"compute differently. The results below use your live runs and the stored other seeds.")
    return "\n".join(lines)
