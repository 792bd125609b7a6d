"""bench/ci_time.py reads where CI's time went from pytest's JUnit report: seconds summed per test module and per
notebook, a test class's cases counted in its module."""
import importlib.util
import subprocess
import sys

from ftlab.core.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "ci_time.py"


def _ci_time():
    spec = importlib.util.spec_from_file_location("ci_time", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seconds_are_summed_per_module_and_per_notebook_from_a_real_report(tmp_path):
    (tmp_path / "test_timed.py").write_text(
        "import time\n"
        "def test_sleeps():\n    time.sleep(0.3)\n"
        "class TestGroup:\n    def test_one(self):\n        time.sleep(0.2)\n"
        "    def test_two(self):\n        time.sleep(0.2)\n")
    report = tmp_path / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path / "test_timed.py"),
                           f"--junitxml={report}"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    ci_time = _ci_time()
    per_file = ci_time.seconds_per_file(ci_time.read_suite(str(report)))
    assert list(per_file) == ["test_timed.py"]  # the class's two cases counted in their module
    assert 0.7 <= per_file["test_timed.py"] < 2.0


def test_a_notebooks_cells_are_named_as_the_notebook():
    ci_time = _ci_time()
    assert ci_time.file_of("notebooks.01_sft.ipynb") == "notebooks/01_sft.ipynb"
    assert ci_time.file_of("tests.core.test_jsonl.TestRead") == "tests/core/test_jsonl.py"
