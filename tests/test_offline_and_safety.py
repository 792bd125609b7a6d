"""Nothing phones home, nothing unpickles untrusted files, nothing runs remote code, run output stays in its folder.

The SQL side (model-written queries run read-only, writes and escapes refused, the database unchanged) is
tested in tests/lessons/test_domain_tuning.py (test_writes_and_escapes_are_refused_and_the_database_is_unchanged,
test_the_authorizer_refuses_writes_even_past_the_statement_check, test_endless_recursive_query_is_stopped...).
"""
import ast
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import netguard
from ftlab.core import models
from ftlab.core.paths import REPO_ROOT

HERE = Path(__file__).parent
SOURCES = sorted([*(REPO_ROOT / "ftlab").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py"),
                  *(REPO_ROOT / "scripts").rglob("*.py")])


@pytest.fixture
def no_network():
    """Every network access in this test is refused and recorded; the test sees the list."""
    attempts = netguard.install()
    yield attempts
    netguard.uninstall()


def test_the_guard_catches_what_a_download_would_do(no_network):
    with pytest.raises(OSError):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(OSError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))
    assert len(no_network) == 3 and "huggingface.co" in no_network[0]


def test_a_model_that_is_not_here_says_how_to_get_it_without_trying_the_network(no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelNotAvailable, match=r"huggingface-cli download no-org/no-model.*FTLAB_PROFILE=tiny"):
        models.load("no-org/no-model")
    assert no_network == []


def test_importing_ftlab_turns_hub_telemetry_off_even_after_huggingface_hub(monkeypatch):
    import importlib

    import huggingface_hub.constants as hub
    import ftlab

    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_DISABLE_TELEMETRY", False)
    importlib.reload(ftlab)
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1" and hub.HF_HUB_DISABLE_TELEMETRY is True


def _files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_loading_and_training_never_touch_the_network_and_write_only_the_run_folder(tmp_path):
    """A fresh process with the network blocked from its first line and HF_HUB_OFFLINE *unset*: loading the
    tiny base and 3 SFT steps (one checkpoint) make no network attempt, and write nothing outside the run folder:
    not in the working directory, HOME, the caches, TMPDIR, nor the repository's models/ and data/.
    (Before ftlab opted out of TRL's telemetry, this found two connections to huggingface.co per SFTTrainer.)"""
    sandbox = {name: tmp_path / name for name in ("home", "cwd", "tmp", "cache", "runs")}
    for folder in sandbox.values():
        folder.mkdir()
    run = sandbox["runs"] / "offline-run"
    env = {k: v for k, v in os.environ.items()  # no offline flag, no telemetry opt-out, not "CI" (TRL checks it)
           if not k.startswith(("HF_", "TRANSFORMERS_", "XDG_")) and k not in ("CI", "DO_NOT_TRACK",
                                                                              "DISABLE_TELEMETRY")}
    env.update(HOME=str(sandbox["home"]), TMPDIR=str(sandbox["tmp"]), FTLAB_CACHE=str(sandbox["cache"]),
               FTLAB_RUNS=str(sandbox["runs"]), PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(HERE)]),
               PYTHONDONTWRITEBYTECODE="1")
    repo_before = {**_fingerprint(REPO_ROOT / "models"), **_fingerprint(REPO_ROOT / "data")}
    proc = subprocess.run([sys.executable, str(HERE / "tiny_sft_run.py"), str(run), "--steps", "3",
                           "--block-network"], cwd=sandbox["cwd"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run / "result.json").read_text())
    assert result["network_attempts"] == []
    assert len(result["losses"]) == 3
    assert {"runcard.json", "final.safetensors", "checkpoint-3/model.safetensors",
            "checkpoint-3/ftlab-complete.json"} <= _files_under(run)
    outside = {name: _files_under(folder) for name, folder in sandbox.items() if name != "runs"}
    assert outside == {name: set() for name in outside}
    assert _files_under(sandbox["runs"]) == {f"offline-run/{f}" for f in _files_under(run)}
    assert {**_fingerprint(REPO_ROOT / "models"), **_fingerprint(REPO_ROOT / "data")} == repo_before


def _calls(tree: ast.AST, attribute: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute:
            yield node


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else kw.value
    return None


def test_no_source_enables_trust_remote_code():
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.value.lineno}")
    assert offenders == []


def test_every_torch_load_is_weights_only():
    loads, offenders = 0, []
    for path in SOURCES + sorted(HERE.rglob("*.py")):
        for call in _calls(ast.parse(path.read_text()), "load"):
            if isinstance(call.func.value, ast.Name) and call.func.value.id == "torch":
                loads += 1
                if _keyword(call, "weights_only") is not True:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno}")
    assert loads >= 2 and offenders == []  # ftlab.lessons.pretraining's resume and ftlab.lessons.curation's embedding cache


def test_every_model_weight_load_in_ftlab_is_safetensors():
    """from_pretrained on a model class must ask for safetensors (or read a GGUF, which holds no code)."""
    offenders = []
    for path in sorted((REPO_ROOT / "ftlab").rglob("*.py")):
        for call in _calls(ast.parse(path.read_text()), "from_pretrained"):
            owner = getattr(call.func.value, "id", "")
            if "Tokenizer" in owner or "Config" in owner:
                continue
            if _keyword(call, "use_safetensors") is not True and _keyword(call, "gguf_file") is None:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno} {owner}.from_pretrained")
    assert offenders == []


class _Tripwire:
    """A pickle that, if anything unpickled it, would create a file: the proof that nothing did."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_beside_the_safetensors_is_never_unpickled(tmp_path):
    folder = tmp_path / "tiny-with-a-trap"
    shutil.copytree(models.TINY_DIR, folder)
    marker = tmp_path / "the-pickle-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Tripwire(marker), protocol=2))
    (folder / "training_args.bin").write_bytes(pickle.dumps(_Tripwire(marker), protocol=2))
    model, _ = models.load(str(folder))
    reference, _ = models.load("tiny")
    assert not marker.exists()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    with pytest.raises(pickle.UnpicklingError):  # and torch itself refuses it when asked for weights only
        torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert not marker.exists()
