"""Test-run layout for parallel workers (pytest-xdist, `bash scripts/setup.sh test` starts one per core).

Why: on CI's 2-core machine the unit tests and eleven notebooks took 42 min one after another, each training run on
two threads. The model is small enough that two one-thread processes get more done than one two-thread process, so
each worker is pinned to its own share of the CPUs (its notebook kernels and helper processes inherit the pinning,
and `ftlab.course.notebook.kernel_threads` then gives each kernel one thread per CPU it may use).

Order: the notebooks that load notebook 01's SFT run from the run cache (`ftlab.core.speed.sftcache`) must run after
notebook 01 and never beside it (two processes must not store the same run at once), so they form one group that one
worker runs in order; every other notebook is a group of its own (its cells share one kernel); the longest work goes
first, then the unit tests fill whichever worker is free. Without xdist (`-n 0`, or a plain `pytest`) only the
order applies.
"""
from __future__ import annotations

import os

import torch
from xdist.scheduler import LoadScopeScheduling

# Notebooks that reuse notebook 01's cached SFT run (`reuse=True` in ftlab.lessons.sft, peft_comparison, alignment,
# course_sft): notebook 01 first, then the others, on one worker.
AFTER_01 = ("01_", "05_", "07_", "09_", "10_")
SFT_CHAIN = "after-notebook-01"


def worker_cpus(worker: str, count: int, cpus: list[int]) -> set[int]:
    """The CPUs worker `gwN` of `count` may use: the available CPUs dealt out in turn, at least one each (more
    workers than CPUs share them)."""
    index = int(worker.removeprefix("gw"))
    share = cpus[index::count] or [cpus[index % len(cpus)]]
    return set(share)


def pytest_configure(config):
    """Pin this xdist worker (and so every process it starts) to its share of the CPUs, one thread per CPU."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    mine = worker_cpus(worker, int(os.environ["PYTEST_XDIST_WORKER_COUNT"]), sorted(os.sched_getaffinity(0)))
    os.sched_setaffinity(0, mine)
    os.environ["OMP_NUM_THREADS"] = str(len(mine))  # for processes that size their own thread pool
    torch.set_num_threads(len(mine))  # this process's pool was sized before the pinning


def notebook_group(path: str) -> str | None:
    """The group of a notebook file's cells (None: not a notebook)."""
    name = os.path.basename(path)
    if not name.endswith(".ipynb"):
        return None
    return SFT_CHAIN if name.startswith(AFTER_01) else name


class NotebookGroups(LoadScopeScheduling):
    """xdist's scope scheduling with our scopes: a notebook's cells (notebook 01's dependants together) or a test
    file, each run whole by one worker, in collection order. (xdist's own `--dist loadgroup` renames node ids, which
    pytest 9.2 no longer allows: its groups silently fall apart, and a notebook's cells land on two kernels.)"""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return notebook_group(path) or path


def pytest_xdist_make_scheduler(config, log):
    """Schedule by `NotebookGroups`, keeping the collection order (`pytest_collection_modifyitems`) rather than
    xdist's largest-scope-first."""
    config.option.loadscopereorder = False
    return NotebookGroups(config, log)


def pytest_collection_modifyitems(config, items):
    """The notebooks first, the chain after notebook 01 before the others, so that the longest work starts at once
    and the unit tests fill the gaps."""
    def rank(item):
        group = notebook_group(str(item.path))
        return 0 if group == SFT_CHAIN else 1 if group else 2

    items.sort(key=rank)  # stable: collection order within each rank
