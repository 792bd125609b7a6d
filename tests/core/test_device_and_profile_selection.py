"""Which profile and precision a machine gets, with CUDA and the CPU's flags faked, so that the GPU branch runs
on a CPU-only CI machine and no answer depends on the machine the tests run on."""
from types import SimpleNamespace

import pytest
import torch

from ftlab.core import device, profiles
from ftlab.core.errors import ConfigError


@pytest.fixture
def machine(monkeypatch):
    """Fake the hardware: set(cuda=..., bf16_gpu=..., flags={...})."""
    monkeypatch.delenv("FTLAB_BF16", raising=False)
    monkeypatch.delenv("FTLAB_DEVICE", raising=False)
    monkeypatch.delenv("FTLAB_PROFILE", raising=False)
    asked = []

    def fake(cuda=False, bf16_gpu=False, flags=()):
        def supported(including_emulation=True):
            asked.append(including_emulation)
            return bf16_gpu
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
        monkeypatch.setattr(device, "cpu_flags", lambda: frozenset(flags))
        return asked
    return fake


@pytest.mark.parametrize("cuda", [True, False])
def test_the_default_profile_is_tiny_with_or_without_cuda(machine, cuda):
    """The README's commands must pass on any machine: tiny (whose references are fp32) is the default on a GPU
    too; the gpu profile is chosen by name."""
    machine(cuda=cuda)
    assert profiles.default_profile_name() == "tiny"


@pytest.mark.parametrize("cuda", [True, False])
def test_ftlab_profile_wins_over_the_hardware(machine, monkeypatch, cuda):
    machine(cuda=cuda)
    monkeypatch.setenv("FTLAB_PROFILE", "smol")
    assert profiles.default_profile_name() == "smol"
    monkeypatch.setenv("FTLAB_PROFILE", "")  # set but empty: as if unset
    assert profiles.default_profile_name() == "tiny"


@pytest.mark.parametrize("cuda, bf16_gpu, fast", [(True, True, True), (True, False, False), (False, True, False)])
def test_bf16_on_cuda_needs_a_gpu_with_bf16_in_hardware(machine, cuda, bf16_gpu, fast):
    asked = machine(cuda=cuda, bf16_gpu=bf16_gpu, flags={"avx512_bf16"})
    assert device.bf16_is_fast("cuda") is fast
    assert device.bf16_is_fast(torch.device("cuda", 0)) is fast
    assert all(a is False for a in asked)  # emulated bf16 does not count


@pytest.mark.parametrize("flags, fast", [
    ({"avx2", "fma"}, False), ({"avx512f", "avx512bw"}, False), (set(), False),
    ({"avx512_bf16"}, True), ({"amx_bf16"}, True), ({"avx2", "amx_bf16", "amx_tile"}, True),
])
def test_bf16_on_a_cpu_follows_its_flags(machine, flags, fast):
    machine(cuda=True, bf16_gpu=True, flags=flags)  # a GPU beside it changes nothing for the CPU
    assert device.bf16_is_fast("cpu") is fast
    assert device.bf16_is_fast("meta") is False  # neither a CPU nor a GPU


@pytest.mark.parametrize("value, fast", [("on", True), (" ON ", True), ("off", False), ("auto", None), ("", None)])
def test_ftlab_bf16_overrides_the_hardware_both_ways(machine, monkeypatch, value, fast):
    monkeypatch.setenv("FTLAB_BF16", value)
    for cuda, flags in ((False, ()), (True, {"amx_bf16"})):
        machine(cuda=cuda, bf16_gpu=cuda, flags=flags)
        auto = bool(flags)
        assert device.bf16_is_fast("cpu") is (auto if fast is None else fast)
        assert device.bf16_is_fast("cuda") is (cuda if fast is None else fast)


def test_a_bad_ftlab_bf16_is_a_config_error(machine, monkeypatch):
    machine()
    monkeypatch.setenv("FTLAB_BF16", "yes")
    with pytest.raises(ConfigError, match="FTLAB_BF16='yes': expected auto, on or off"):
        device.bf16_is_fast("cpu")


def test_pick_device_follows_cuda_unless_told(machine, monkeypatch):
    machine(cuda=True)
    assert device.pick_device() == torch.device("cuda")
    monkeypatch.setenv("FTLAB_DEVICE", "cpu")
    assert device.pick_device() == torch.device("cpu")
    machine(cuda=False)
    monkeypatch.delenv("FTLAB_DEVICE")
    assert device.pick_device() == torch.device("cpu")


def test_cpu_flags_and_model_come_from_cpuinfo(monkeypatch):
    text = "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"

    class FakePath:
        def __init__(self, path):
            assert path == "/proc/cpuinfo"

        def read_text(self):
            return text

    monkeypatch.setattr(device, "Path", FakePath)
    device.cpu_flags.cache_clear()
    try:
        assert device.cpu_flags() == frozenset({"fpu", "avx2", "avx512_bf16"})
        assert device.cpu_model() == "Test CPU 9000" and device.cpuinfo_field("nothing") == ""
    finally:
        device.cpu_flags.cache_clear()


def test_no_cpuinfo_means_no_flags(monkeypatch):
    class Missing:
        def __init__(self, path):
            pass

        def read_text(self):
            raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr(device, "Path", Missing)
    assert device.cpuinfo_field("flags") == ""


def test_hardware_and_precision_summaries_name_the_gpu_or_the_cpu_and_why(machine, monkeypatch):
    machine(cuda=True, bf16_gpu=True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(name="NVIDIA H200", total_memory=141 * 2**30))
    assert device.hardware_summary() == "CUDA NVIDIA H200, 141 GiB"
    assert device.precision_summary(bf16_profile=False).startswith("fp32 — this profile's stored references")
    assert device.precision_summary(bf16_profile=True).startswith("bf16 — a CUDA GPU with bf16")
    machine(cuda=False, flags={"avx2"})
    monkeypatch.setattr(device, "cpu_model", lambda: "Test CPU")
    assert device.hardware_summary().startswith("CPU Test CPU, ")
    assert device.precision_summary().startswith("fp32 — every CPU trains in fp32")
    assert "has no bf16 in hardware" in device.precision_summary()
    machine(cuda=False, flags={"amx_bf16"})
    assert "has bf16 in hardware" in device.precision_summary(bf16_profile=True)
    assert device.precision_summary(bf16_profile=True).startswith("fp32")


