"""What the lessons' results say about the claims, at every scale: the numbers each claim's rule reads, taken the
same way from a notebook's live rows and from a profile's stored references.

A notebook trains its own profile live; the other scale's verdict (SmolLM2-135M beside ftlab's 3.4 M model, and
the other way round) comes from that profile's stored references alone, without training, so CI can enforce the
verdict of a scale it never trains (tests/test_two_scales.py). This module stays apart from the experiments, which
never import the claims registry: rewording a claim or its rule never makes a stored reference stale.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import torch

from ftlab.core.claims import (
    CLAIMS,
    SAME_ON_EVERY_PROFILE,
    SOURCE_QUALITY,
    check,
)
from ftlab.core.course_data import course_data
from ftlab.core.instructions import load_instructions
from ftlab.core.lr_sweeps import load_sweep, sweep_file
from ftlab.core.memory import ModelShape
from ftlab.core.models import ModelNotAvailable
from ftlab.core.profiles import PROFILES, Profile, for_this_machine
from ftlab.core.provenance import RESULTS_DIR, require_current
from ftlab.core.seedstore import load_runs, results_path
from ftlab.core.settings import ForgettingSettings
from ftlab.lessons import (
    alignment,
    curation,
    data_breadth,
    domain_tuning,
    failure_modes,
    forgetting,
    model_written,
    peft_comparison,
    sft,
)

# The two scales every verdict is read at: the live default, and the real model beside it.
SCALES = ("tiny", "smol")


@dataclass(frozen=True)
class Stored:
    """One claim's measured numbers for a profile, read from a stored reference (`source`: its file and
    provenance)."""

    measured: dict
    source: str


def brief(record: dict) -> str:
    """A stored reference's provenance in a few words (its file holds the rest): date, commit, precision."""
    p = record.get("provenance", {})
    commit = (p.get("commit") or "?")[:7] + ("+changes" if p.get("dirty") else "")
    return f"{str(p.get('date', '?'))[:10]}, commit {commit}, {p.get('precision', '?')}"


def scale_label(profile_name: str) -> str:
    """'3.4 M' / '135 M': a profile's model size, counted from its config (ftlab.core.memory)."""
    n = ModelShape.of(PROFILES[profile_name].memory_model).params()
    return f"{n / 1e6:.1f} M" if n < 1e7 else f"{n / 1e6:.0f} M"


def other_scale(profile_name: str) -> str | None:
    """The scale shown beside a profile's live run: smol beside tiny and tiny beside smol; None for others."""
    if profile_name not in SCALES:
        return None
    return SCALES[1 - SCALES.index(profile_name)]


# --- notebook 01: the numbers its claims read, from rows of `sft.sft_experiment` (arm per row) ----------------

def sft_measurements(rows: Sequence[dict], n_items: int, n_per_task: int, tuned_lr: float) -> dict[str, dict]:
    """Every notebook-01 claim, from the base row and the trained arms' rows per seed: {claim id: measured}."""
    base = next(r for r in rows if r["arm"] == sft.BASE_ARM)

    def arm(name: str, key: str = "accuracy") -> list:
        return [r[key] for r in rows if r["arm"] == name]
    tasks = [t for t in base["reworded_scores"] if t != "overall"]
    return {
        "01-sft-instruction-following": {
            "base_seen": base["accuracy"], "after_seen": arm("assistant-only"),
            "base_reworded": {t: base["reworded_scores"][t]["accuracy"] for t in tasks},
            "after_reworded": {t: [s[t]["accuracy"] for s in arm("assistant-only", "reworded_scores")] for t in tasks},
            "n_items": n_items, "n_per_task": n_per_task},
        "01-sft-recipe-lr": {"recipe": arm("recipe-lr"), "tuned": arm("assistant-only"), "n_items": n_items,
                             "recipe_lr": sft.RECIPE_LR, "tuned_lr": tuned_lr, "parameters": base["parameters"]},
        "01-assistant-only-loss": {"assistant_only": arm("assistant-only"), "whole_sequence": arm("whole-sequence"),
                                   "n_items": n_items},
    }


def _stored_rows(profile: Profile, experiment, arms: Sequence[str],
                 check_key: bool = True) -> tuple[list[dict], str] | None:
    """A stored experiment's rows and where they come from (file and provenance); None while the file is not
    made yet; an error naming the command when it lacks some of `arms` (made before they existed). Without
    `check_key` the file's fingerprint alone says whether it is current (see `_domain_rows`)."""
    path = results_path(experiment.key)
    if not path.exists():
        return None
    record = load_runs(experiment.name, experiment.key) if check_key else require_current(
        json.loads(path.read_text()), path)
    missing = set(arms) - {r["arm"] for r in record["rows"]}
    if missing:
        raise ValueError(f"{path.name} lacks the arms {sorted(missing)}: run "
                         f"`FTLAB_PROFILE={profile.name} python bench/stored_seeds.py {experiment.name}`")
    return record["rows"], f"{path.name}, {brief(record)}"


def _stored_claims(profile: Profile, experiment, arms: Sequence[str],
                   measure: Callable[[list[dict]], dict[str, dict]]) -> dict[str, Stored]:
    """{claim id: Stored} from a stored experiment's rows, measured as its notebook measures them; {} while the
    file is not made yet."""
    found = _stored_rows(profile, experiment, arms)
    if found is None:
        return {}
    rows, source = found
    return {claim: Stored(numbers, source) for claim, numbers in measure(rows).items()}


def _stored_sft(profile: Profile) -> dict[str, Stored]:
    return _stored_claims(profile, sft.experiment(profile), sft.ARMS, lambda rows: sft_measurements(
        rows, len(course_data(profile)[2]), profile.eval_per_task, profile.sft.learning_rate))


# --- notebook 02: the numbers its claims read, from rows of `curation.step_matched` (arm per row) and the stored
# epoch-matched comparison (bench/curation_epochs.py) --------------------------------------------------------------

def curation_measurements(rows: Sequence[dict], n_items: int, epoch: dict | None) -> dict[str, dict]:
    """Every notebook-02 claim, from the step-matched rows per seed (each carrying its arm's selection facts) and
    the epoch-matched comparison's record: {claim id: measured}. Without that record (not made at this scale)
    the 1k-vs-full claim is not measured."""
    def per_seed(runs: Sequence[dict], arm: str) -> list[float]:
        return [r["accuracy"] for r in runs if r["arm"] == arm]
    chosen = {arm: next(r["selection"] for r in rows if r["arm"] == arm) for arm in curation.ARMS}
    out = {
        "lima-quality-over-quantity": {
            "curated": per_seed(rows, "curated"), "other": per_seed(rows, "random"), "n_items": n_items,
            "other_name": "random",
            "note": f"clean rows {chosen['curated']['clean_share']:.0%} vs {chosen['random']['clean_share']:.0%}"},
        "lima-vs-longest": {"curated": per_seed(rows, "curated"), "other": per_seed(rows, "longest"),
                            "n_items": n_items, "other_name": "longest"},
        "lima-diversity": {"mean_cos_selected": chosen["curated"]["mean_cos_selected"],
                           "mean_cos_candidates": chosen["curated"]["mean_cos_candidates"]},
        "lima-no-contamination": {"leaks": {arm: facts["test_leaks"] for arm, facts in chosen.items()},
                                  "recall": chosen["curated"]["decontaminate_recall"],
                                  "removed": chosen["curated"]["decontaminate_removed"]},
    }
    if epoch is not None:
        cfg, runs = epoch["settings"], epoch["results"]
        out["lima-1k-competitive"] = {
            "step_curated": per_seed(rows, "curated"), "step_full": per_seed(rows, "full"),
            "epoch_curated": per_seed(runs, "curated"), "epoch_full": per_seed(runs, "full"), "n_items": n_items,
            "pool_rows": cfg["pool_size"], "k": cfg["k"],
            "epoch_steps": (cfg["steps"]["curated"], cfg["steps"]["full"])}
    return out


def epoch_comparison(profile_name: str) -> dict | None:
    """Notebook 02's epoch-matched comparison at a profile (bench/curation_epochs.py), refused when stale; None
    where it was never made (at 135 M the full pool's epoch is ~1,250 steps: a GPU's job)."""
    if not (RESULTS_DIR / f"curation_epochs_{profile_name}.json").exists():
        return None
    return curation.load_epoch_results(profile_name)


def _stored_curation(profile: Profile) -> dict[str, Stored]:
    """Notebook 02's claims from its stored step-matched file. Its key hashes the four training sets, which only
    the whole curation rebuilds (sentence embeddings of thousands of rows, and the profile's tokenizer, which CI
    lacks for SmolLM2): the file is read on its fingerprint alone (the code, data and profile entry the sets are
    made from), and its source says so."""
    unkeyed = curation.step_matched(profile, dict.fromkeys(curation.ARMS, []), [], [])
    found = _stored_rows(profile, unkeyed, curation.ARMS, check_key=False)
    if found is None:
        return {}
    rows, source = found
    n_items = len(load_instructions("test", profile.sft_tasks, limit_per_task=profile.eval_per_task))
    measured = curation_measurements(rows, n_items, epoch_comparison(profile.name))
    return {claim: Stored(numbers, f"{source}; key not re-hashed") for claim, numbers in measured.items()}


# --- notebook 03: the numbers its claims read, from rows of `forgetting.mitigation_experiment` (arm per row) ----

def forgetting_measurements(rows: Sequence[dict], fs: ForgettingSettings) -> dict[str, dict]:
    """Every notebook-03 claim, from the base row, the SQL arms' rows and the instruction-SFT rows per seed:
    {claim id: measured}."""
    base = next(r for r in rows if r["arm"] == forgetting.BASE_ARM)
    stats = forgetting.arm_statistics({a: [r for r in rows if r["arm"] == a] for a in forgetting.ARMS}, base)

    def rise(arm: str) -> list[float]:
        return [forgetting.forgetting(base, r)["loss_rise"] for r in rows if r["arm"] == arm]
    scores = {arm: forgetting.mitigation_score(stats, arm)[2] for arm in forgetting.ARMS[1:]}
    return {
        "03-narrow-finetuning-forgets": {"rise": rise("full"),
                                         "what": f"{fs.steps} steps of SQL-only full fine-tuning"},
        "03-lora-forgets-less": {"lora_rise": rise("lora"), "full_rise": rise("full"),
                                 "kept_gain": forgetting.mitigation_score(stats, "lora")[1]},
        "03-mitigation-stars": {"scores": scores, "stars": {a: forgetting.STARS[a] for a in scores}},
        "03-alignment-tax": {"rise": rise(forgetting.TAX_ARM),
                             "what": f"instruction SFT at the same budget ({fs.steps} steps x {fs.batch_size})"},
    }


def _stored_forgetting(profile: Profile) -> dict[str, Stored]:
    return _stored_claims(profile, forgetting.experiment(profile), forgetting.EXPERIMENT_ARMS,
                          lambda rows: forgetting_measurements(rows, profile.forgetting))


# --- notebook 05: the numbers its claims read, from rows of `peft_comparison.run_method` -----------------------

def peft_quality(rows: Sequence[dict], n_items: int, method: str) -> dict:
    """05-<method>-quality: the method's and full fine-tuning's exact match per seed, the test size, the model's
    parameter count."""
    per_seed = {m: [r["accuracy"] for r in rows if r["method"] == m] for m in (method, "full")}
    total = next(r["total"] for r in rows if r["method"] == "full")
    return {"method": per_seed[method], "full": per_seed["full"], "n_items": n_items, "name": method,
            "parameters": total}


def qlora_vs_lora(rows: Sequence[dict], n_items: int) -> dict:
    """05-qlora-matches-lora: QLoRA's and LoRA's exact match per seed."""
    return {m: [r["accuracy"] for r in rows if r["method"] == m] for m in ("qlora", "lora")} | {"n_items": n_items}


def peft_measurements(rows: Sequence[dict], n_items: int) -> dict[str, dict]:
    """Every notebook-05 claim that reads the comparison's rows: {claim id: measured numbers}."""
    out = {f"05-{m}-quality": peft_quality(rows, n_items, m) for m in SOURCE_QUALITY}
    return out | {"05-qlora-matches-lora": qlora_vs_lora(rows, n_items)}


def _stored_peft(profile: Profile) -> dict[str, Stored]:
    if not profile.peft_learning_rates and not _sweep_path(profile).exists():
        return {}  # its learning rates come from a sweep not made yet, so no comparison can have run
    return _stored_claims(profile, peft_comparison.experiment(profile), peft_comparison.COMPARED,
                          lambda rows: peft_measurements(rows, len(peft_comparison.comparison_data(profile)[1])))


def _sweep_path(profile: Profile):
    return RESULTS_DIR / sweep_file(profile.name)


def _stored_sweep(profile: Profile) -> dict[str, Stored]:
    if not _sweep_path(profile).exists():
        return {}
    sweep = load_sweep(profile.name)
    if not {"lora", "full"} <= set(sweep["best"]):
        return {}  # the claim compares the two: a sweep that has not reached both yet measures nothing
    return {"05-lora-learning-rate": Stored({"best": sweep["best"]}, f"{_sweep_path(profile).name}, {brief(sweep)}")}


# --- notebook 07: the numbers its claims read, from rows of `alignment.alignment_experiment` (arm per row) ------

def dpo_measurements(rows: Sequence[dict]) -> dict[str, dict]:
    """Both notebook-07 claims, from the SFT arm's rows (the starting point) and each beta's DPO rows per seed:
    {claim id: measured}. Every seed's DPO run is compared with the SFT model's measurement."""
    start = next(r for r in rows if r["arm"] == alignment.SFT_ARM)
    runs: dict[str, list[dict]] = {}
    for r in rows:
        if r["arm"] != alignment.SFT_ARM:
            runs.setdefault(r["arm"], []).append(r)
    exact = ", ".join(f"β={b} {sum(r['exact_match'] for r in rs) / len(rs):.1%}" for b, rs in runs.items())
    return {
        "07-dpo-prefers-better-answer": {
            "sft_accuracy": start["pairs"]["all"]["accuracy"], "n_pairs": start["pairs"]["all"]["n"],
            "accuracy": {b: [r["pairs"]["all"]["accuracy"] for r in rs] for b, rs in runs.items()},
            "reward_accuracy": {b: [r["pairs"]["all"]["reward_accuracy"] for r in rs] for b, rs in runs.items()}},
        "07-alignment-tax": {
            "rise": {b: [r["general_loss"] - start["general_loss"] for r in rs] for b, rs in runs.items()},
            "note": f"exact match SFT {start['exact_match']:.1%} -> {exact}"},
    }


def _stored_dpo(profile: Profile) -> dict[str, Stored]:
    experiment = alignment.experiment(profile)
    return _stored_claims(profile, experiment, experiment.arms, dpo_measurements)


# --- notebook 06: the numbers its claims read, from rows of `domain_tuning.specialist_experiment` (arm per row) ---

def generalist_best(generalist: dict, tests: dict[str, list[dict]]) -> dict[str, float]:
    """SmolLM2-135M-Instruct's best prompt (zero- or few-shot) per test split, on exactly these test rows, from
    its stored record (`domain_tuning.load_generalist`)."""
    return {s: max(domain_tuning.accuracy_on(generalist["results"][mode][s]["outcomes"], rows)["overall"]
                   for mode in ("zero_shot", "few_shot")) for s, rows in tests.items()}


def domain_measurements(rows: Sequence[dict], generalist: dict, tests: dict[str, list[dict]],
                        profile: Profile) -> dict[str, dict]:
    """Every notebook-06 claim, from the base row (the 'before'), the specialist's and the few-examples
    specialist's rows per seed, and the generalist's stored record: {claim id: measured}. Compute per question
    is 2 x parameters x prompt tokens, the generalist's few-shot prompt against the specialist's, on the unseen
    phrasings."""
    base = domain_tuning.arm_rows(rows, domain_tuning.BASE_ARM)[0]
    specialist = domain_tuning.arm_rows(rows, domain_tuning.SPECIALIST_ARM)
    few = domain_tuning.arm_rows(rows, domain_tuning.FEW_ARM)
    split = "test_unseen_phrasings"
    generalist_flop = generalist["parameters"] * generalist["results"]["few_shot"][split]["mean_prompt_tokens"]
    per_seed = lambda runs: {s: [r["scores"][s]["overall"] for r in runs] for s in tests}  # noqa: E731
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return {
        "06-specialist-beats-generalist": {
            "specialist": per_seed(specialist), "generalist": generalist_best(generalist, tests),
            "n_items": len(tests[split]), "parameters": (base["parameters"], generalist["parameters"]),
            "compute_ratio": generalist_flop / (base["parameters"] * base["mean_prompt_tokens"][split])},
        "06-domain-tuning-forgets": {"rise": [r["general_loss"] - base["general_loss"] for r in specialist],
                                     "what": f"{profile.domain_steps} steps of domain SFT"},
        "06-few-examples-worse-than-base": {
            "small": per_seed(few), "base": {s: base["scores"][s]["overall"] for s in tests},
            "n_items": len(tests[split]), "rows": few[0]["train_rows"],
            "epochs": profile.domain_steps * profile.sft.effective_batch / few[0]["train_rows"],
            "general": (mean([r["general_loss"] for r in few]), base["general_loss"])},
    }


def _domain_rows(profile: Profile) -> tuple[list[dict], str] | None:
    """Notebook 06's stored rows at a profile and their source. Its key hashes the held-out general blocks'
    tokens, which only the profile's tokenizer can recompute: where that model is not installed (SmolLM2 without
    FTLAB_EXTRAS=smol, as in CI) the file is read on its fingerprint alone (code, data and the profile's entry:
    all the key hashes but the tokenizer's output), and its source says so."""
    try:
        return _stored_rows(profile, (experiment := domain_tuning.experiment(profile)), experiment.arms)
    except ModelNotAvailable:
        train, tests = domain_tuning.notebook_data(profile)
        unkeyed = domain_tuning.specialist_experiment(profile, train, tests, torch.zeros(0, dtype=torch.long))
        found = _stored_rows(profile, unkeyed, unkeyed.arms, check_key=False)
        return found and (found[0], f"{found[1]}; key not re-hashed: {profile.model}'s tokenizer is not installed")


def _stored_domain(profile: Profile) -> dict[str, Stored]:
    found = _domain_rows(profile)
    if found is None:
        return {}
    rows, source = found
    measured = domain_measurements(rows, domain_tuning.load_generalist(), domain_tuning.notebook_data(profile)[1],
                                   profile)
    return {claim: Stored(numbers, source) for claim, numbers in measured.items()}


@cache
def stored_specialists(profile_name: str) -> tuple[list[dict], str]:
    """Notebook 06's domain specialist at one scale, one row per seed, from that profile's stored reference, and
    where it comes from: what lets a notebook put the other scale's answers beside its own."""
    found = _domain_rows(for_this_machine(PROFILES[profile_name]))
    if found is None:
        raise FileNotFoundError(f"notebook 06's reference for {profile_name} is missing: run "
                                f"`FTLAB_PROFILE={profile_name} python bench/stored_seeds.py 06-domain`")
    rows, source = found
    return domain_tuning.arm_rows(rows, domain_tuning.SPECIALIST_ARM), source


# --- notebook 08: the numbers its claims read, from rows of `data_breadth.breadth_experiment` (arm per row) -------

def breadth_measurements(rows: Sequence[dict], n_per_task: int) -> dict[str, dict]:
    """Both notebook-08 claims from the two arms' rows per seed: {claim id: measured}."""
    broad = data_breadth.per_task(rows, data_breadth.INSTRUCTION_ARM)
    narrow = data_breadth.per_task(rows, data_breadth.TASK_ARM)
    overall = {arm: [r["accuracy"] for r in rows if r["arm"] == arm] for arm in data_breadth.ARMS}
    own, unseen = data_breadth.SPECIALTY, data_breadth.UNSEEN
    return {
        "08-task-vs-instruction": {"specialist_own": narrow[own], "generalist_own": broad[own],
                                   "specialist_unseen": narrow[unseen], "generalist_unseen": broad[unseen],
                                   "n_per_task": n_per_task, "own": own, "unseen": unseen},
        "08-diversity-trains-better": {
            "broad": overall[data_breadth.INSTRUCTION_ARM], "narrow": overall[data_breadth.TASK_ARM],
            "n_items": n_per_task * len(data_breadth.TEST_TASKS),
            "note": f"on {unseen} alone (in neither set) {sum(broad[unseen]) / len(broad[unseen]):.1%} vs "
                    f"{sum(narrow[unseen]) / len(narrow[unseen]):.1%}"},
    }


def model_written_measurements(rows: Sequence[dict], n_items: int, teacher_right: float,
                               teacher_test: float) -> dict[str, dict]:
    """The notebook-09 claim from both student arms' rows per seed and the teacher's two scores: {claim id:
    measured}."""
    accuracy = {arm: [r["accuracy"] for r in rows if r["arm"] == arm] for arm in model_written.ARMS}
    return {"09-human-beats-model-written": {
        "human": accuracy[model_written.HUMAN_ARM], "model_written": accuracy[model_written.MODEL_ARM],
        "n_items": n_items, "teacher_right": teacher_right, "teacher_test": teacher_test}}


def failure_measurements(rows: Sequence[dict], start: dict, n_per_task: int) -> dict[str, dict]:
    """The notebook-10 claim from the trained arms' rows per seed and the starting model's row: {claim id:
    measured}. The shifted test and its in-distribution twin count only the tasks the shifted test asks."""
    pairs = {cause: failure_modes.cause_accuracy(rows, cause) for cause in failure_modes.CAUSES}
    n_all = len(start["answers"])
    n_items = {cause: n_per_task * len(failure_modes.SHIFTED_TASKS) if cause == failure_modes.SHIFTED else n_all
               for cause in failure_modes.CAUSES}
    general = {"start": start["general_loss"], **{
        arm: statistics.fmean(r["general_loss"] for r in rows if r["arm"] == arm) for arm in failure_modes.ARMS}}
    return {"10-why-worse": {"cause": {c: got for c, (got, _) in pairs.items()},
                             "well_tuned": {c: ref for c, (_, ref) in pairs.items()}, "n_items": n_items,
                             "start": start["accuracy"], "general_loss": general}}


# Where each profile's stored numbers come from, per experiment (each returns {} while its file is not made yet).
STORED_SOURCES: tuple[Callable[[Profile], dict[str, Stored]], ...] = (_stored_sft, _stored_curation,
                                                                     _stored_forgetting, _stored_peft,
                                                                     _stored_sweep, _stored_domain,
                                                                     _stored_dpo)


@cache
def stored(profile_name: str) -> dict[str, Stored]:
    """{claim id: Stored} for every claim a profile's stored references measure (read once per process);
    a stale reference is an error (ftlab.core.provenance), a missing one measures nothing."""
    profile = for_this_machine(PROFILES[profile_name])
    found: dict[str, Stored] = {}
    for source in STORED_SOURCES:
        found |= source(profile)
    unknown = set(found) - set(CLAIMS)
    assert not unknown, f"stored measurements for claims the registry does not hold: {sorted(unknown)}"
    return found


def stored_line(claim_id: str, profile_name: str) -> str:
    """The claim judged at `profile_name`'s scale from its stored references, checked against the registry
    (a verdict other than the expected one raises ClaimMismatch), as one indented line; or what is missing."""
    label = f"at {scale_label(profile_name)} ({profile_name}"
    if claim_id not in stored(profile_name):
        if claim_id in SAME_ON_EVERY_PROFILE:
            return f"    {label}): {SAME_ON_EVERY_PROFILE[claim_id]} — computed from the same figures at every scale"
        return f"    {label}): not measured at this scale yet"
    entry = stored(profile_name)[claim_id]
    line = check(claim_id, profile_name, **entry.measured).removeprefix(f"CLAIM {claim_id}: ")
    return f"    {label}, stored: {entry.source}): {line}"

