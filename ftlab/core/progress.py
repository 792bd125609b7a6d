"""Progress on long waits, and the library progress settings ftlab changes and then puts back.

Three rules, in one place so every lesson follows them:
- a wait that can pass `WAIT_S` seconds draws a tqdm.auto bar (`bar`): a widget in Jupyter, a text bar in a
  terminal. tqdm's own `delay` keeps a wait shorter than that silent, so quick calls (tests, small sets) print
  nothing; a bar that never showed is never drawn at its end either.
- library bars that say nothing to a learner are off while ftlab runs the call that draws them, and come back as
  they were afterwards (`quiet_library_bars`): datasets' bar per tokenizing pass of TRL's trainers, and
  transformers' "Loading weights" bar, which a stored notebook shows stuck at 0 % (its widget state is not saved).
- a model load prints one line instead (`loaded_line`): what was loaded and how big it is.

Nothing here changes a number: bars and lines are output only (tests/core/test_progress.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import datasets
from tqdm.auto import tqdm
from transformers import PrinterCallback
from transformers.utils import logging as transformers_logging

WAIT_S = 5.0  # a bar appears once a wait has lasted this long (tqdm's `delay`)


def bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None, unit: str = "it",
        enabled: bool = True) -> tqdm:
    """A tqdm.auto bar over `iterable` (or one to `update` by hand with `total`) that shows only once the wait
    passes WAIT_S seconds; `enabled=False` draws nothing (a caller's own `progress` switch)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, delay=WAIT_S, disable=not enabled, dynamic_ncols=True)


@contextmanager
def quiet_library_bars() -> Iterator[None]:
    """datasets' and transformers' progress bars off inside the block, and afterwards as they were before it
    (a learner who turned them on, or off, keeps that setting), also when the block raises."""
    datasets_on = datasets.is_progress_bar_enabled()
    transformers_on = transformers_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if datasets_on:
            datasets.enable_progress_bars()
        if transformers_on:
            transformers_logging.enable_progress_bar()


def without_log_printing(trainer, progress: bool):
    """The trainer without transformers' PrinterCallback when its bar is off (`disable_tqdm`): that callback
    prints every log dict as a line, a wall of numbers where a quiet run was asked for (the run card keeps them)."""
    if not progress:
        trainer.remove_callback(PrinterCallback)
    return trainer


def loaded_line(name: str, model, seconds: float) -> str:
    """The one line a model load prints: its name, parameters and dtype, and how long loading took."""
    params = sum(p.numel() for p in model.parameters())
    size = f"{params / 1e9:.2f} B" if params >= 1e9 else f"{params / 1e6:.1f} M"
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return f"loaded {name}: {size} parameters, {dtype}, {seconds:.1f} s"
