"""ftlab.core.progress: library bars come back as the learner had them, a quiet run prints no log dicts, a
model load is one line, and a bar never changes a result."""
from __future__ import annotations

import contextlib
import io

import datasets
import pytest
from transformers.utils import logging as transformers_logging

from ftlab.core.instructions import load_instructions
from ftlab.core.models import load
from ftlab.core.progress import quiet_library_bars
from ftlab.core.settings import SFTSettings
from ftlab.core.train import run_sft


def _state() -> tuple[bool, bool]:
    return datasets.is_progress_bar_enabled(), transformers_logging.is_progress_bar_enabled()


def _set(on: bool) -> None:
    (datasets.enable_progress_bars if on else datasets.disable_progress_bars)()
    (transformers_logging.enable_progress_bar if on else transformers_logging.disable_progress_bar)()


@pytest.mark.parametrize("before", [True, False])
def test_library_bars_are_off_inside_and_as_before_afterwards_even_on_error(before):
    _set(before)
    try:
        with quiet_library_bars():
            assert _state() == (False, False)
        assert _state() == (before, before)
        with pytest.raises(KeyError), quiet_library_bars():
            raise KeyError("a failing cell")
        assert _state() == (before, before)
    finally:
        _set(True)


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    """A 3-step tiny SFT run with progress off, its stdout+stderr, and the library bars' state after it."""
    _set(True)
    model, tokenizer = load("tiny")
    rows = load_instructions("train", ("title",), limit_per_task=24)
    out = io.StringIO()  # capfd is function-scoped: a module fixture captures by hand
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = run_sft(model, tokenizer, rows, SFTSettings(max_steps=3, batch_size=8, logging_steps=1,
                                                             progress=False), tmp_path_factory.mktemp("run"))
    return result, out.getvalue(), _state()


def test_a_quiet_run_prints_no_log_dicts_and_leaves_the_learners_bars_on(quiet_run):
    result, printed, after = quiet_run
    assert len([row for row in result.history if "loss" in row]) == 3, "the run logged no loss: nothing to hide"
    assert "'loss'" not in printed and "{'train_runtime'" not in printed, f"log dicts were printed:\n{printed[:500]}"
    assert after == (True, True), "ftlab left a library's progress bars switched off"


def test_a_model_load_is_one_line_without_a_loading_bar(capfd):
    model, _ = load("tiny")
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err
    lines = [line for line in out.splitlines() if line.strip()]
    params = sum(p.numel() for p in model.parameters())
    assert lines == [lines[0]] and lines[0].startswith(f"loaded tiny: {params / 1e6:.1f} M parameters, float32"), out
