"""Scale-out: the same SFT run on 1 process and on 2 CPU processes (gloo, through accelerate launch) gives the same
loss curve; the saved adapter loads back in one process; the FSDP memory split and the launch-command choice."""
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from ftlab.tools import cli
from ftlab.tools.launch import Hardware, plan
from ftlab.core.memory import ModelShape, _phases, estimate
from ftlab.core.settings import TrainSetup
from ftlab.core.paths import REPO_ROOT
from ftlab.tools.scale import (CONFIG_DIR, PROBE_FILE, load_trained, per_device_batch, probe_logits, probe_rows, read_result)

# Same global batches, fp32, no dropout: the two runs differ only in the order fp32 sums are taken (packed
# sequence lengths, the gloo all-reduce of two half-batch gradients vs one full-batch sum), ~1e-7 relative per
# operation. Measured here: max |difference| 9.5e-7 over 8 steps of LoRA and of full FT on the tiny model.
# 1e-4 leaves a 100x margin; a wrong split of the global batch moves the first loss by ~0.3.
LOSS_TOLERANCE = 1e-4
RUN = ["--profile", "tiny", "--steps", "8", "--global-batch", "8", "--precision", "fp32"]


def _env(tmp_path) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                FTLAB_DEVICE="cpu", FTLAB_RUNS=str(tmp_path / "runs"),
                PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return time.perf_counter() - start


@pytest.fixture(scope="module", params=["lora", "full"])
def runs(request, tmp_path_factory):
    """The run in one plain process and under accelerate launch on 2 CPU processes, with wall times."""
    tmp = tmp_path_factory.mktemp(f"scale-{request.param}")
    env, run = _env(tmp), [*RUN, "--method", request.param]
    one, two = tmp / "one", tmp / "two"
    wall_one = _run([sys.executable, "-m", "ftlab.tools.scale", *run, "--out", str(one)], env)
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]  # = `accelerate launch`, whatever the PATH
    wall_two = _run([*launcher, "--config_file", str(CONFIG_DIR / "cpu_2proc_gloo.yaml"),
                     "--main_process_port", str(_free_port()), "-m", "ftlab.tools.scale", *run, "--out", str(two)], env)
    return {"method": request.param, "one": one, "two": two, "wall_one": wall_one, "wall_two": wall_two}


def test_two_gloo_processes_give_the_one_process_loss_curve(runs):
    one, two = read_result(runs["one"]), read_result(runs["two"])
    assert (one["processes"], two["processes"]) == (1, 2)
    assert (one["per_device_batch"], two["per_device_batch"]) == (8, 4)  # same global batch of 8
    assert two["backend"] == "gloo"
    assert len(one["losses"]) == len(two["losses"]) == 8
    diff = max(abs(a - b) for a, b in zip(one["losses"], two["losses"]))
    print(f"\n{runs['method']}: max |loss difference| {diff:.2e} over {len(one['losses'])} steps; wall 1 process "
          f"{runs['wall_one']:.1f} s (train {one['train_wall_s']:.1f} s), 2 processes {runs['wall_two']:.1f} s "
          f"(train {two['train_wall_s']:.1f} s)")
    assert diff < LOSS_TOLERANCE
    assert one["losses"][-1] < one["losses"][0] - 1.0  # it trained: a flat curve would match trivially
    one, two = (torch.load(runs[k] / PROBE_FILE, weights_only=True) for k in ("one", "two"))
    probe_diff = (one - two).abs().max().item()
    assert probe_diff < 1e-3  # logits of size ~10: the trained models agree too


def test_the_saved_model_loads_back_in_one_process_with_the_same_logits(runs):
    from ftlab.core.models import load
    from ftlab.core.profiles import active

    rows = probe_rows(active("tiny"))
    model, tokenizer = load_trained(runs["two"])
    assert hasattr(model, "peft_config") == (runs["method"] == "lora")  # LoRA: base + the saved adapter
    reloaded = probe_logits(model, tokenizer, rows)
    trained = torch.load(runs["two"] / PROBE_FILE, weights_only=True)
    assert reloaded.shape == trained.shape
    assert (reloaded - trained).abs().max().item() < 1e-5
    base, _ = load("tiny")  # what was saved is the training: the untrained base gives other logits
    assert (probe_logits(base, tokenizer, rows) - trained).abs().max().item() > 0.1


def test_global_batch_splits_over_processes_and_accumulation():
    assert per_device_batch(16, 1) == 16
    assert per_device_batch(16, 2) == 8
    assert per_device_batch(16, 4, grad_accum=2) == 2
    with pytest.raises(ValueError, match="multiple of 3"):
        per_device_batch(16, 3)


def test_fsdp_splits_weights_grads_and_optimizer_states_not_activations():
    # 2 layers, hidden 8, MLP 16, vocab 100, untied: embeddings 2*100*8 = 1600, norms 5*8 = 40, projections
    # 4*8*8 + 3*8*16 = 640 per layer -> 2,920 parameters in 21 tensors.
    shape = ModelShape(vocab=100, hidden=8, intermediate=16, layers=2, heads=2, kv_heads=2, head_dim=4, tied=False)
    assert shape.params() == 2920
    setup = TrainSetup(method="full", batch_size=1, seq_len=4)
    whole, split = _phases(shape, setup), _phases(shape, TrainSetup(method="full", batch_size=1, seq_len=4, shards=4))
    step = split["optimizer step"]
    assert step["weights"] == 4 * 2920 // 4  # fp32 weights, a quarter each
    assert step["gradients"] == 4 * 2920 // 4
    assert step["optimizer_states"] == -(-(8 * 2920 + 4 * 21) // 4)  # two fp32 moments + a step count per tensor
    assert step["optimizer_temporaries"] == 2 * 4 * 800 // 4  # two copies of the largest tensor (embedding)
    for phase in whole:
        assert split[phase].get("activations") == whole[phase].get("activations")  # each GPU's own batch
        assert split[phase].get("logits_buffers") == whole[phase].get("logits_buffers")
    # gathered while computing: the root unit (embeddings + final norm) and two layers (projections + 2 norms)
    assert split["start of backward"]["gathered_params"] == 4 * (1600 + 8) + 2 * 4 * (640 + 16)
    assert "gathered_params" not in step
    e1 = estimate("llama-3.1-8b", TrainSetup(method="full", precision="mixed", seq_len=2048,
                                             gradient_checkpointing=True, device="cuda"))
    e8 = estimate("llama-3.1-8b", TrainSetup(method="full", precision="mixed", seq_len=2048,
                                             gradient_checkpointing=True, device="cuda", shards=8))
    assert e1.peak_phase == e8.peak_phase == "optimizer step"
    assert e8.total == pytest.approx(e1.total / 8, rel=1e-6)
    with pytest.raises(ValueError, match="shards"):
        TrainSetup(shards=0)


def _plan(method, hardware, model, **setup):
    return plan(method, hardware, model, TrainSetup(device="cuda", **setup), ["--method", method, "--out", "x"])


def test_launch_plan_for_faked_hardware():
    cpu = _plan("lora", Hardware(0), "tiny")
    assert cpu.config == "cpu_2proc_gloo.yaml" and cpu.command.startswith("OMP_NUM_THREADS=1 accelerate launch")
    one = _plan("lora", Hardware(1, 24 * 2**30), "smollm2-135m", batch_size=4, seq_len=512)
    assert one.config == "single_gpu.yaml" and "NOT" not in one.why
    ddp = _plan("lora", Hardware(4, 24 * 2**30), "smollm2-135m", batch_size=4, seq_len=512)
    assert ddp.config == "multi_gpu_ddp.yaml" and "--num_processes 4" in ddp.command
    big = dict(precision="mixed", batch_size=1, seq_len=2048, gradient_checkpointing=True)
    fsdp = _plan("full", Hardware(8, 80 * 2**30), "llama-3.1-8b", **big)
    assert fsdp.config == "multi_gpu_fsdp.yaml" and "--num_processes 8" in fsdp.command
    assert fsdp.per_gpu.total < 0.9 * 80 * 2**30 and "fits" in fsdp.why
    too_few = _plan("full", Hardware(2, 40 * 2**30), "llama-3.1-8b", **big)
    assert too_few.config == "multi_gpu_fsdp.yaml" and "NOT fit" in too_few.why
    qlora = _plan("qlora", Hardware(2, 10 * 2**30), "llama-3.1-8b", **big)
    assert qlora.config == "multi_gpu_fsdp_qlora.yaml"
    assert "-m ftlab.tools.scale --method full --out x" in fsdp.command


def test_launch_command_cli_prints_the_command_and_the_fsdp_table(capsys):
    assert cli.main(["launch-command", "--profile", "gpu", "--method", "full", "--memory-model", "llama-3.1-8b",
                     "--global-batch", "8", "--max-length", "2048", "--activation-checkpointing",
                     "--gpus", "8", "--gpu-memory-gib", "80"]) == 0
    out = capsys.readouterr().out
    assert "multi_gpu_fsdp.yaml --num_processes 8 -m ftlab.tools.scale --profile gpu --method full" in out
    assert "8 GPUs:" in out and "18.70 GiB per GPU" in out


def test_launch_configs_load_in_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = {p.name: load_config_from_file(str(p)) for p in CONFIG_DIR.glob("*.yaml")}
    assert set(configs) == {"cpu_2proc_gloo.yaml", "single_gpu.yaml", "multi_gpu_ddp.yaml", "multi_gpu_fsdp.yaml",
                            "multi_gpu_fsdp_qlora.yaml"}
    qlora = configs["multi_gpu_fsdp_qlora.yaml"].fsdp_config
    assert qlora["fsdp_use_orig_params"] is False and qlora["fsdp_cpu_ram_efficient_loading"] is True
    assert configs["multi_gpu_fsdp.yaml"].fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert configs["cpu_2proc_gloo.yaml"].num_processes == 2
