"""ftlab.core.progress: library bars come back as the learner had them, and an export's check reload draws no
loading bar."""
from __future__ import annotations

import datasets
import pytest
from transformers.utils import logging as transformers_logging

from ftlab.core.export import round_trip_gap
from ftlab.core.models import TINY_DIR, load
from ftlab.core.progress import quiet_library_bars


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


def test_an_exports_check_reload_draws_no_loading_bar_and_leaves_the_bars_on(capfd):
    _set(True)
    model, tokenizer = load("tiny")
    capfd.readouterr()
    assert round_trip_gap(model, TINY_DIR, tokenizer) == 0.0
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err
    assert _state() == (True, True)
