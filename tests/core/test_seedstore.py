"""ftlab.core.seedstore: live seeds shown beside their stored twins, stale files refused, resumable storing,
certification after a code change."""
import json

import pytest

import ftlab.core.paths
import ftlab.core.provenance as provenance
from ftlab.core.profiles import active
from ftlab.core.provenance import Reference, StaleReference
from ftlab.core.seedstore import Experiment, reproduction_gaps


def make_experiment(calls, inputs="data-v1", noise=0.0):
    def run(arm, seed):
        calls.append((arm, seed))
        return {"score": {"a": 0.1, "b": 0.2}[arm] * (seed + 1) + noise, "model": object()}
    return Experiment("t", active("tiny"), ("a", "b"), run, inputs, tolerance={"score": 0.01})


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setattr(ftlab.core.paths, "REPO_ROOT", tmp_path)
    (tmp_path / "bench" / "results").mkdir(parents=True)
    # the test experiment "t": its code fingerprint is that of ftlab.core.stats (faked below where it changes)
    monkeypatch.setattr(provenance, "REFERENCES", (Reference("seeds_t_*.json", ("ftlab.core.stats",), "remake t"),))
    return tmp_path


def edit_code(monkeypatch):
    """Pretend ftlab.core.stats changed since the file was made."""
    real = provenance.code_fingerprint
    monkeypatch.setattr(provenance, "code_fingerprint",
                        lambda roots, profile=None: {k: v + "-edited" for k, v in real(roots, profile).items()})


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


def test_a_live_run_that_computes_differently_is_shown_beside_its_twin_not_refused(repo, capsys):
    make_experiment([]).store()
    rows = make_experiment([], noise=0.05).results(live_seeds=(0,))  # another machine: the reference is current
    shown = capsys.readouterr().out
    assert "differ from their stored twins beyond the tolerance" in shown and "score 0.05" in shown
    assert rows[0]["live"] and not rows[1]["live"] and rows[0]["score"] == pytest.approx(0.15)
    make_experiment([], noise=0.005).results(live_seeds=(0,))
    assert "every live run matches its stored twin: largest gaps score 0.005" in capsys.readouterr().out


def test_a_code_change_makes_the_file_stale_before_anything_trains(repo, monkeypatch):
    make_experiment([]).store()
    edit_code(monkeypatch)
    calls = []
    with pytest.raises(StaleReference, match="ftlab/core/stats.py changed.*certify seeds_t_tiny_fp32.json"):
        make_experiment(calls).results(live_seeds=(0,))
    assert calls == []  # refused before training


def test_certification_records_the_new_fingerprint_only_when_the_rerun_reproduces(repo, monkeypatch):
    make_experiment([]).store()
    edit_code(monkeypatch)
    with pytest.raises(StaleReference, match="score by 0.05"):
        make_experiment([], noise=0.05).certify()  # the change moved a number: remake
    record = make_experiment([], noise=1e-4).certify()
    assert record["checked"] == [["a", 0], ["b", 0]] and record["largest_gap"][1] == pytest.approx(1e-4)
    saved = json.loads((repo / "bench/results/seeds_t_tiny_fp32.json").read_text())
    assert saved["certifications"][-1]["checked"] == record["checked"]
    assert len(make_experiment([]).results(live_seeds=(0,))) == 6  # current again


def test_storing_starts_over_when_the_code_changed_so_a_file_never_mixes_versions(repo, monkeypatch):
    calls = []
    make_experiment(calls).store()
    edit_code(monkeypatch)
    make_experiment(calls).store()
    assert len(calls) == 12


def test_changed_inputs_or_a_missing_file_are_refused_with_the_command(repo):
    with pytest.raises(FileNotFoundError, match="bench/stored_seeds.py t"):
        make_experiment([]).results(live_seeds=(0,))
    make_experiment([]).store()
    with pytest.raises(StaleReference, match="re-run"):
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
    from ftlab.tools.experiments import EXPERIMENTS, experiment

    for name, build in EXPERIMENTS.items():
        assert build.__module__.startswith("ftlab.lessons."), name
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
    from ftlab.core.seedstore import settings_key
    from ftlab.core.settings import SFTSettings

    assert settings_key(SFTSettings()) == {}
    assert settings_key(SFTSettings(learning_rate=1e-3, bf16=True)) == {"learning_rate": 1e-3, "bf16": True}


def test_recorded_numbers_leave_out_what_the_machine_measured():
    from ftlab.core.seedstore import recorded_numbers

    row = {"accuracy": 0.4, "wall_time_s": 61.2, "tokens_per_s": 1300.0, "card": {"tokens": 5},
           "scores": {"overall": {"accuracy": 0.4}}, "history": [{"loss": 2.5, "train_runtime": 3.0}],
           "seconds_per_question": {"a": 0.1}, "answers": ["x"], "live": True, "arm": "a"}
    assert recorded_numbers(row) == {"accuracy": 0.4, "scores.overall.accuracy": 0.4, "history.0.loss": 2.5}


def test_certification_allows_each_metric_its_tolerance_and_every_other_number_the_largest():
    from ftlab.core.seedstore import certification_gaps

    stored = [{"arm": "a", "seed": 0, "accuracy": 0.40, "loss": 1.00, "per_task": {"t": 0.50}}]
    live = [{"arm": "a", "seed": 0, "accuracy": 0.41, "loss": 1.03, "per_task": {"t": 0.52}}]
    gaps = certification_gaps(live, stored, {"accuracy": 0.01, "loss": 0.02})
    assert gaps["accuracy"] == pytest.approx((0.01, 0.01))
    assert gaps["loss"] == pytest.approx((0.03, 0.02))  # over its tolerance: this change moved a number
    assert gaps["per_task.t"] == pytest.approx((0.02, 0.02))  # no tolerance of its own: the largest one


def test_a_stored_file_names_its_experiment_and_starts_with_no_certification(repo, capsys):
    make_experiment([]).store()
    assert "t: a seed 0 stored (1 runs in seeds_t_tiny_fp32.json)" in capsys.readouterr().out
    saved = json.loads((repo / "bench/results/seeds_t_tiny_fp32.json").read_text())
    assert saved["certifications"] == [] and saved["provenance"]["precision"] == "fp32"


def test_a_certification_keeps_the_precision_and_the_fingerprint_it_replaced(repo, monkeypatch):
    make_experiment([]).store()
    path = repo / "bench/results/seeds_t_tiny_fp32.json"
    before = json.loads(path.read_text())["fingerprint"]["code"]
    edit_code(monkeypatch)
    record = make_experiment([]).certify()
    assert record["precision"] == "fp32" and record["previous_fingerprint_code"] == before
    assert json.loads(path.read_text())["fingerprint"]["code"] != before


def test_the_comparison_table_heads_its_columns_and_survives_a_reference_without_provenance():
    from ftlab.core.seedstore import compare_with_reference

    stored = [{"arm": "a", "seed": s, "score": 0.1 * (s + 1)} for s in (0, 1)]
    live = [{"arm": "a", "seed": 0, "score": 0.5}]
    report = compare_with_reference(live, stored, {"score": 0.01}, {}, "fp32")
    header = report.splitlines()[1].split()
    assert header[:4] == ["arm", "metric", "live", "twin"]
    assert "trains in fp32 where the reference was made in ?" in report  # gap 0.4 > 0.01, no provenance known


def test_the_stored_key_does_not_depend_on_the_order_of_the_inputs():
    from ftlab.core.seedstore import experiment_key

    profile = active("tiny")
    one = experiment_key("t", profile, {"steps": 10, "rows": "v1"})
    assert experiment_key("t", profile, {"rows": "v1", "steps": 10}) == one


def test_two_processes_storing_other_seeds_into_one_file_keep_each_others_runs(repo):
    """One process per seed (bench/stored_seeds.py --seeds): while this one trains, the other saves its runs;
    every save merges what is in the file, so no run is lost and none is trained twice."""
    calls, other = [], []

    def run(arm, seed):
        if not other:  # mid-run, "the other process" stores seed 1 of every arm
            other.append(make_experiment(other).store(seeds=(1,)))
        calls.append((arm, seed))
        return {"score": 1.0}

    mine = Experiment("t", active("tiny"), ("a", "b"), run, "data-v1", tolerance={"score": 0.01})
    rows = mine.store(seeds=(0,))
    assert calls == [("a", 0), ("b", 0)]
    assert sorted((r["arm"], r["seed"]) for r in rows) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    saved = json.loads(mine.path.read_text())
    assert len(saved["rows"]) == 4 and not list(repo.rglob("*.lock"))
    calls.clear()
    assert len(mine.store()) == 6 and calls == [("a", 2), ("b", 2)]  # only the missing seed trains
