"""bench/run_times.py: the cost of a profile's runs, read from the run cards they wrote."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("run_times", ROOT / "bench" / "run_times.py")
run_times = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_times)


def _card(root, folder, profile, seconds, speed, created="2026-12-02T01:00:00+0000"):
    (root / folder).mkdir(parents=True)
    (root / folder / "runcard.json").write_text(json.dumps(
        {"profile": profile, "wall_time_s": seconds, "tokens_per_s": speed, "device": "cpu", "created": created}))


def test_runs_are_grouped_by_profile_and_name_with_their_medians(tmp_path):
    _card(tmp_path, "05-sweep-lora-seed0-20261202-010000", "smol", 100, 40)
    _card(tmp_path, "05-sweep-lora-seed0-20261202-011000", "smol", 300, 20)
    _card(tmp_path, "05-sweep-lora-seed0-20261202-012000", "smol", 200, 30)
    _card(tmp_path, "05-lora-seed1-20261202-010000", "tiny", 5, 900)
    _card(tmp_path, "05-lora-seed1-20261201-010000", "tiny", 7, 800, created="2026-12-01T01:00:00+0000")
    (tmp_path / "not-a-run").mkdir()
    lines = run_times.table(run_times.cards(tmp_path, None, "2026-12-02"))
    assert [ln.split()[:5] for ln in lines[1:]] == [["smol", "05-sweep-lora", "3", "200", "30"],
                                                    ["tiny", "05-lora", "1", "5", "900"]]
    assert len(run_times.cards(tmp_path, "tiny", None)) == 2


def test_stored_references_are_read_as_runs_per_experiment_and_arm(tmp_path):
    def reference(name, profile, rows):
        (tmp_path / name).write_text(json.dumps({"key": {"experiment": "05-peft", "profile": profile},
                                                 "provenance": {"hardware": "CPU X"}, "rows": rows}))
    reference("seeds_05-peft_smol_fp32.json", "smol", [
        {"arm": "lora", "wall_time_s": 60, "tokens_per_s": 110}, {"arm": "lora", "wall_time_s": 64, "tokens_per_s": 100},
        {"arm": "full", "wall_time_s": 125, "tokens_per_s": 56}, {"arm": "full", "accuracy": 0.4},
        {"arm": "0.1", "train_s": 183, "tokens_per_s": 40}])  # a DPO row of notebook 07 names its time train_s
    reference("seeds_05-peft_tiny_fp32.json", "tiny", [{"arm": "lora", "wall_time_s": 5, "tokens_per_s": 900}])
    lines = run_times.table(run_times.stored_rows(tmp_path, "smol"))
    assert [ln.split()[:5] for ln in lines[1:]] == [["smol", "05-peft-0.1", "1", "183", "40"],
                                                    ["smol", "05-peft-full", "1", "125", "56"],
                                                    ["smol", "05-peft-lora", "2", "62", "105"]]
    assert lines[1].endswith("CPU X")
