"""An SFT run SIGKILLed while saving a checkpoint resumes from the last complete one and ends bit-for-bit where
an uninterrupted run ends; two runs with the same seed give the same loss curve. CPU, the committed tiny base."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers.trainer_utils import get_last_checkpoint

import tiny_sft_run
from ftlab.core.checkpoints import MARKER, is_complete, last_complete_checkpoint, mark_complete, prepare_resume

HERE = Path(__file__).resolve().parents[1]  # tests/: the helper scripts live there


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its loss curve and final weights."""
    out = tmp_path_factory.mktemp("reference")
    result = tiny_sft_run.train(out, seed=0)
    return result, load_file(str(out / "final.safetensors"))


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((x - b[k]).abs().max().item() for k, x in a.items())


def test_same_seed_gives_the_same_loss_curve_and_weights(reference, tmp_path):
    ref, ref_weights = reference
    again = tiny_sft_run.train(tmp_path, seed=0)
    assert len(again["losses"]) == tiny_sft_run.STEPS
    assert again["losses"] == ref["losses"]  # exact float equality, step by step
    assert max_abs_diff(load_file(str(tmp_path / "final.safetensors")), ref_weights) == 0.0


def _kill_while_saving(out: Path, step: int) -> None:
    """Start the run in a subprocess, wait until it is inside the saving of checkpoint-<step>, SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.Popen([sys.executable, str(HERE / "tiny_sft_run.py"), str(out), "--hang-at-save", str(step)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (out / "hanging-in-save").exists():
            assert proc.poll() is None, f"the run ended before checkpoint-{step}: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, f"checkpoint-{step} never started"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def test_run_killed_mid_checkpoint_resumes_to_the_same_loss_and_weights(reference, tmp_path):
    ref, ref_weights = reference
    killed_at = 2 * tiny_sft_run.SAVE_STEPS
    _kill_while_saving(tmp_path, killed_at)
    half = tmp_path / f"checkpoint-{killed_at}"
    assert (half / "model.safetensors").exists() and not (half / "trainer_state.json").exists()
    assert get_last_checkpoint(str(tmp_path)) == str(half)  # what the Trainer alone would have resumed from
    assert last_complete_checkpoint(tmp_path) == tmp_path / f"checkpoint-{tiny_sft_run.SAVE_STEPS}"
    assert not (tmp_path / "result.json").exists() and not (tmp_path / "runcard.json").exists()

    with pytest.warns(RuntimeWarning, match="not completely written"):
        resumed = tiny_sft_run.train(tmp_path, seed=0, resume=True)
    assert resumed["resumed_from"].endswith(f"checkpoint-{tiny_sft_run.SAVE_STEPS}")
    assert (tmp_path / f"checkpoint-{killed_at}.incomplete").is_dir() and is_complete(half)
    assert resumed["losses"] == ref["losses"]  # steps 1-3 from the checkpoint's log, 4-9 trained again
    assert max_abs_diff(load_file(str(tmp_path / "final.safetensors")), ref_weights) == 0.0
    card = json.loads((tmp_path / "runcard.json").read_text())
    assert card["resumed_from"] == resumed["resumed_from"]


def _fake_checkpoint(folder: Path, complete: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    (folder / "trainer_state.json").write_text("{}")
    if complete:
        mark_complete(folder)
    return folder


def test_only_checkpoints_marked_complete_and_unchanged_are_trusted(tmp_path):
    good = _fake_checkpoint(tmp_path / "checkpoint-3", complete=True)
    truncated = _fake_checkpoint(tmp_path / "checkpoint-6", complete=True)
    (truncated / "model.safetensors").write_bytes(b"x" * 4)  # a file changed after it was marked
    unmarked = _fake_checkpoint(tmp_path / "checkpoint-9", complete=False)
    torn = _fake_checkpoint(tmp_path / "checkpoint-12", complete=True)
    (torn / MARKER).write_text('{"files": {"model.safe')  # a half-written marker (cannot happen: atomic)
    assert [is_complete(p) for p in (good, truncated, unmarked, torn)] == [True, False, False, False]
    assert last_complete_checkpoint(tmp_path) == good
    with pytest.warns(RuntimeWarning):
        assert prepare_resume(tmp_path) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-12.incomplete", "checkpoint-3", "checkpoint-6.incomplete", "checkpoint-9.incomplete"]


def test_resume_without_any_checkpoint_starts_afresh(tmp_path, capsys):
    assert prepare_resume(tmp_path / "new-run") is None
    assert "training from the start" in capsys.readouterr().out


def test_seed_everything_seeds_python_numpy_and_torch_in_one_call_and_notebooks_use_it(capsys):
    import random

    import numpy as np

    from ftlab.course.notebook import seed_everything, start

    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(8)
    assert all(a != b for a, b in zip(draw(), first))
    start(seed=7)  # every notebook's first cell
    assert draw() == first
    assert "ftlab profile: " in capsys.readouterr().out


def test_a_run_card_write_killed_before_the_rename_leaves_the_previous_card_whole(tmp_path, monkeypatch):
    from ftlab.core.runcard import read_card, write_card

    path = write_card({"kind": "sft", "step": 3}, "runcard", tmp_path)

    def killed(*args):
        raise KeyboardInterrupt  # stands for a kill between writing the temporary file and renaming it

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_card({"kind": "sft", "step": 6, "big": "x" * 100_000}, "runcard", tmp_path)
    assert read_card(path) == {"kind": "sft", "step": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["runcard.json"]  # no temporary file left behind
