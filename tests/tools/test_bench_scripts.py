"""Every bench script is a command: an option it does not know stops it with argparse's exit 2 and message before it
starts any work (a typo must not launch an hour of training with the defaults)."""
import subprocess
import sys

import pytest

from ftlab.core.paths import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_bench_script_rejects_an_unknown_option(script):
    done = subprocess.run([sys.executable, str(script), "--no-such-option"], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 2, f"{script.name} exit {done.returncode}: {done.stdout[-300:]} {done.stderr[-300:]}"
    assert "unrecognized arguments: --no-such-option" in done.stderr, done.stderr[-300:]
