"""Library progress settings ftlab changes around a call and then puts back.

`quiet_library_bars` turns datasets' and transformers' own bars off inside a block and restores them as they were
(a learner who turned them on, or off, keeps that setting). Used where a library bar says nothing to a learner:
an export's check reload (ftlab.core.export), whose transformers "Loading weights" bar a stored notebook would show
stuck at 0 %. The course runner also drops such stuck bars from the outputs it stores
(ftlab.tools.course_runner.tidy_for_storage).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import datasets
from transformers.utils import logging as transformers_logging


@contextmanager
def quiet_library_bars() -> Iterator[None]:
    """datasets' and transformers' progress bars off inside the block, and afterwards as they were before it,
    also when the block raises."""
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
