"""bench/gpu_check.py, the GPU issue's prepared run, rehearsed on this CPU as a GPU session would run it: the
environment and memory parts write one JSON with provenance, and the predictor's errors are the measured ones."""
import json
import subprocess
import sys

from ftlab.core.paths import REPO_ROOT


def test_the_rehearsal_writes_every_part_it_ran_with_measured_memory(tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--parts", "environment", "memory", "--out", str(tmp_path), "--tag", "t"],
                          capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads((tmp_path / "t.json").read_text())
    assert set(record["parts"]) == {"environment", "memory"} and record["provenance"]["commit"]
    assert record["parts"]["environment"]["matmul_peak_flops"]["float32"] > 1e8  # measured on this machine
    memory = record["parts"]["memory"]
    assert memory["failed"] == 0 and memory["measured"] == len(memory["rows"]) == 3
    assert all(row["measured"] > 0 for row in memory["rows"])
    assert memory["max_abs_error"] < 0.10  # the predictor's goal, against this machine's measured peaks
    assert "== memory: ok" in (tmp_path / "t.log").read_text()
