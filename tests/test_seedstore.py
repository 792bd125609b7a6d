"""ftlab.seedstore: live seeds checked against stored twins, stale files refused, resumable storing."""
import pytest

import ftlab.paths
from ftlab.profiles import active
from ftlab.seedstore import Experiment, reproduction_gaps


def make_experiment(calls, inputs="data-v1", noise=0.0):
    def run(arm, seed):
        calls.append((arm, seed))
        return {"score": {"a": 0.1, "b": 0.2}[arm] * (seed + 1) + noise, "model": object()}
    return Experiment("t", active("tiny"), ("a", "b"), run, inputs, tolerance={"score": 0.01})


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setattr(ftlab.paths, "REPO_ROOT", tmp_path)
    (tmp_path / "bench" / "results").mkdir(parents=True)
    return tmp_path


def test_store_then_live_seed_reuses_stored_seeds(repo):
    calls = []
    stored = make_experiment(calls).store()
    assert len(stored) == 6 and all("model" not in r for r in stored)  # live objects stay out of the file
    assert make_experiment(calls).store() == stored and len(calls) == 6  # resumes: nothing re-run
    calls.clear()
    rows = make_experiment(calls).results(live_seeds=(0,))
    assert calls == [("a", 0), ("b", 0)]  # only the live seed trained
    assert [(r["arm"], r["seed"]) for r in rows] == [(a, s) for a in "ab" for s in (0, 1, 2)]
    assert "model" in rows[0] and rows[1]["score"] == pytest.approx(0.2)


def test_a_live_run_that_disagrees_with_its_twin_stops_the_notebook(repo):
    make_experiment([]).store()
    with pytest.raises(AssertionError, match="stale"):
        make_experiment([], noise=0.05).results(live_seeds=(0,))
    make_experiment([], noise=0.005).results(live_seeds=(0,))  # within tolerance


def test_changed_inputs_or_a_missing_file_are_refused_with_the_command(repo):
    with pytest.raises(FileNotFoundError, match="bench/stored_seeds.py t"):
        make_experiment([]).results(live_seeds=(0,))
    make_experiment([]).store()
    with pytest.raises(ValueError, match="re-run"):
        make_experiment([], inputs="data-v2").results(live_seeds=(0,))


def test_all_seeds_live_needs_no_file(repo):
    calls = []
    rows = make_experiment(calls).results(live_seeds=(0, 1, 2))
    assert len(rows) == 6 == len(calls)


def test_reproduction_gaps_compare_only_runs_with_a_twin():
    live = [{"arm": "a", "seed": 0, "score": 0.30}]
    stored = [{"arm": "a", "seed": 0, "score": 0.32}, {"arm": "a", "seed": 1, "score": 0.9}]
    assert reproduction_gaps(live, stored, ["score"])["score"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="no live run"):
        reproduction_gaps(live, stored[1:], ["score"])


def test_every_registered_experiment_names_a_builder():
    import importlib

    from ftlab.seedstore import EXPERIMENTS, experiment

    for name, target in EXPERIMENTS.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
    with pytest.raises(KeyError, match="unknown experiment"):
        experiment("99-nothing", active("tiny"))


def test_ftlab_live_seeds_overrides_the_profile(repo, monkeypatch):
    calls = []
    monkeypatch.setenv("FTLAB_LIVE_SEEDS", "all")
    assert len(make_experiment(calls).results()) == 6 == len(calls)  # no stored file needed
    monkeypatch.setenv("FTLAB_LIVE_SEEDS", "zero")
    with pytest.raises(ValueError, match="FTLAB_LIVE_SEEDS"):
        make_experiment([]).results()


def test_settings_key_keeps_only_changed_fields():
    from ftlab.seedstore import settings_key
    from ftlab.sft import SFTSettings

    assert settings_key(SFTSettings()) == {}
    assert settings_key(SFTSettings(learning_rate=1e-3, bf16=True)) == {"learning_rate": 1e-3, "bf16": True}


@pytest.mark.parametrize("precision", ["bf16", "fp32"])  # CI's CPU may or may not have bf16 in hardware
@pytest.mark.parametrize("name", ["01-sft", "03-forgetting", "05-peft", "06-domain"])  # 02 needs embeddings: nb02
def test_committed_stored_seeds_are_current_and_hold_the_checked_metrics(name, precision):
    """A stale key or a row without a metric its twin check compares would stop the notebook in CI."""
    import json

    from ftlab.profiles import PROFILES, in_fp32
    from ftlab.seedstore import experiment, results_path

    profile = PROFILES["tiny"] if precision == "bf16" else in_fp32(PROFILES["tiny"])
    exp = experiment(name, profile)
    assert exp.key["precision"] == precision
    saved = json.loads(results_path(exp.key).read_text())
    assert saved["key"] == exp.key, f"stale: python bench/stored_seeds.py {name}"
    assert {(r["arm"], r["seed"]) for r in saved["rows"]} == {(a, s) for a in exp.arms for s in profile.seeds}
    for row in saved["rows"]:
        assert all(isinstance(row[m], (int, float)) for m in exp.tolerance), row["arm"]
