"""A kernel uses the cores it is given: FTLAB_THREADS when set, else the fewest of torch's default, the process's
CPU affinity and its cgroup quota (a lab server's per-student limit), so students on one machine do not each start
a thread per core of the whole machine."""
from __future__ import annotations

import os

import pytest
import torch

from ftlab.core.errors import ConfigError
from ftlab.course import notebook


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("cpu_max", "cpus"), [("max 100000\n", None), ("150000 100000\n", 1),
                                               ("200000 100000\n", 2), ("50000 100000\n", 1), ("garbage", None)])
def test_the_cgroup_quota_is_read_as_whole_cpus(tmp_path, cpu_max, cpus):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert notebook.cgroup_cpus(path) == cpus
    assert notebook.cgroup_cpus(tmp_path / "absent") is None


def test_the_first_cell_gives_torch_the_threads_ftlab_threads_names(monkeypatch, capsys, restore_threads):
    monkeypatch.setenv("FTLAB_THREADS", "1")
    notebook.start()
    assert torch.get_num_threads() == 1
    assert "torch threads 1 (FTLAB_THREADS)" in capsys.readouterr().out


def test_a_quota_below_the_cores_lowers_the_threads(monkeypatch, tmp_path, restore_threads):
    monkeypatch.delenv("FTLAB_THREADS", raising=False)
    torch.set_num_threads(4)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})  # as if not pinned (a test worker is)
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # one CPU
    monkeypatch.setattr(notebook, "CPU_MAX", quota)
    assert notebook.kernel_threads() == (1, "cgroup CPU quota")


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_a_bad_thread_count_is_refused(monkeypatch, bad):
    monkeypatch.setenv("FTLAB_THREADS", bad)
    with pytest.raises(ConfigError, match=f"FTLAB_THREADS='{bad}': expected a whole number"):
        notebook.kernel_threads()
