"""Measure the real peak memory of one training step, in a fresh process (`measure`, `measure_all`, or from a
shell `python -m ftlab.core.memprobe '<json>'`); ftlab.core.memory predicts the same peak.

What is measured: the peak of live tensor bytes during the second training step (forward, backward, optimizer
step), the CPU counterpart of CUDA's `max_memory_allocated`. On CUDA that counter is read directly. On CPU there
is no allocator peak, so: bytes of every live tensor before the step (each storage counted once, found through
the garbage collector) + the highest rise in allocated bytes during the step, from the torch profiler's memory
events. The process's peak RSS is reported beside it (it also holds libraries, the allocator's free lists and
Python objects). The first step runs unmeasured so that optimizer states already exist, as in every later step.

Each probe is a process of its own, forked from a server process (`serve`) that has imported this module, and
with it torch, transformers and peft, once: a cold Python start and those imports take ~11 s on a 2-core CPU,
a tiny probe itself ~4 s. The server never builds a tensor, so every probe still starts clean.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import asdict

import torch
from peft import prepare_model_for_kbit_training  # at module level: the probe server holds them
from transformers import AutoModelForCausalLM, LlamaForCausalLM  # noqa: F401

from ftlab.core.memory import model_config
from ftlab.core.models import nf4_config
from ftlab.core.paths import REPO_ROOT
from ftlab.core.peft_methods import wrap
from ftlab.core.settings import PeftOptions, TrainSetup


def measure(model: str, setup: TrainSetup, timeout_s: float = 600) -> dict:
    """The real peak of one training step, in a fresh process (so nothing earlier inflates it)."""
    return measure_all(model, [setup], workers=1, timeout_s=timeout_s)[0]


def measure_all(model: str, setups: list[TrainSetup], workers: int = 1, timeout_s: float = 600) -> list[dict]:
    """`measure` of every setup, in order, each in a fresh process forked from a server that has imported
    torch, transformers and peft once (`ftlab.core.memprobe.run_probes`). Once imports are paid, a probe keeps 2
    cores busy, so `workers` > 1 only helps on a bigger machine; each peak is its own process's, whatever runs
    beside it."""
    return run_probes(model, setups, workers, timeout_s)


def live_tensor_bytes() -> int:
    """Bytes of all live CPU/CUDA tensor storages reachable from Python, each storage once."""
    seen: dict[int, int] = {}
    for obj in gc.get_objects():
        try:
            if isinstance(obj, torch.Tensor) and obj.device.type != "meta":
                storage = obj.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, ReferenceError):
            continue
    return sum(seen.values())


def profiled_rise(step) -> int:
    """Highest rise in allocated CPU bytes while `step()` runs, from the profiler's allocation events."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    allocations = sorted((node.start_time_ns, node.extra_fields.alloc_size)
                         for node in _walk(prof.profiler.kineto_results.experimental_event_tree())
                         if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu")
    level = peak = 0
    for _, size in allocations:
        level += size
        peak = max(peak, level)
    return peak


def _walk(nodes):
    for node in nodes:
        yield node
        yield from _walk(node.children)


def build_model(model_name: str, setup: TrainSetup):
    """A randomly initialised model of the named config, prepared for `setup.method` (weights do not change
    memory, so none are downloaded)."""
    torch.manual_seed(0)
    config = model_config(model_name)
    config._attn_implementation = setup.attention
    dtype = torch.bfloat16 if setup.precision == "bf16" else torch.float32
    if setup.method == "qlora":
        model = _load_4bit(config, setup)
    else:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.config.use_cache = False
    if setup.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if setup.method != "full":
        model = wrap(model, setup.method, setup.peft)
    model.train()
    return model.to(setup.device)


def _load_4bit(config, setup: TrainSetup):
    """NF4 weights the way QLoRA loads them: save the random model, reload it through bitsandbytes."""
    compute = torch.bfloat16 if setup.precision in ("bf16", "mixed") else torch.float32
    with tempfile.TemporaryDirectory() as folder:
        AutoModelForCausalLM.from_config(config, dtype=compute).save_pretrained(folder)
        quant = nf4_config(compute, setup.double_quant)
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, dtype=compute,
                                                     device_map={"": setup.device},
                                                     attn_implementation=setup.attention, use_safetensors=True)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=setup.gradient_checkpointing,
                                           gradient_checkpointing_kwargs={"use_reentrant": False})


def make_optimizer(params, name: str):
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-4)
    if name == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-4)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-4)
    raise ValueError(f"unknown optimizer {name!r}")


def measure_here(model_name: str, setup: TrainSetup, threads: int = 2) -> dict:
    """Run two training steps in this process and measure the second (call through `measure`)."""
    torch.set_num_threads(threads)
    model = build_model(model_name, setup)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, setup.optimizer)
    ids = torch.randint(0, model.config.vocab_size, (setup.batch_size, setup.seq_len), device=setup.device)
    autocast = torch.autocast(setup.device, dtype=torch.bfloat16, enabled=setup.precision == "mixed")

    def step():
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    gc.collect()
    if setup.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        before = live_tensor_bytes()
        peak = before + profiled_rise(step)
    return {"peak_bytes": peak, "before_step_bytes": before,
            "trainable_params": sum(p.numel() for p in trainable),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_probes(model_name: str, setups: list[TrainSetup], workers: int, timeout_s: float) -> list[dict]:
    """`measure_here` of every setup, in order, each in a fresh process forked from this process's warm probe
    server, `workers` at a time. A probe that raises, crashes or runs past `timeout_s` is an error naming its
    setup, with the end of its output."""
    with _SERVER_LOCK, tempfile.TemporaryDirectory() as folder:
        server = _warm_server()
        request = {"model": model_name, "setups": [asdict(s) for s in setups], "workers": workers,
                   "threads": max(1, torch.get_num_threads() // workers), "timeout_s": timeout_s, "folder": folder}
        try:
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
        except BaseException:  # e.g. an interrupted notebook cell: a late reply must never answer the next request
            server.kill()
            raise
        if not reply:
            raise RuntimeError(f"the memory probe server stopped:\n{_tail(_SERVER_LOG)}")
        results = []
        for i, (setup, code) in enumerate(zip(setups, json.loads(reply))):
            out = os.path.join(folder, f"probe{i}.json")
            if code != 0 or not os.path.exists(out):
                why = f"killed after {timeout_s:g} s" if code == -signal.SIGALRM else f"exit status {code}"
                raise RuntimeError(f"measuring {model_name} {setup} failed ({why}):\n"
                                   f"{_tail(os.path.join(folder, f'probe{i}.log'))}")
            with open(out) as f:
                results.append(json.load(f))
        return results


_SERVER: subprocess.Popen | None = None


_SERVER_OWNER = 0  # the process that started _SERVER


_SERVER_LOCK = threading.Lock()


_SERVER_LOG = ""  # its stderr: a crash of the server itself is reported from here


def _warm_server() -> subprocess.Popen:
    """This process's probe server (`serve`), started on first use and kept until this process exits."""
    global _SERVER, _SERVER_OWNER, _SERVER_LOG
    if _SERVER is None or _SERVER.poll() is not None or _SERVER_OWNER != os.getpid():  # a forked child gets its own

        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        _SERVER_LOG = os.path.join(tempfile.gettempdir(), f"ftlab-memprobe-{os.getpid()}.log")
        with open(_SERVER_LOG, "w") as log:
            _SERVER = subprocess.Popen([sys.executable, "-m", "ftlab.core.memprobe", "--serve"], cwd=REPO_ROOT, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        _SERVER_OWNER = os.getpid()
    return _SERVER


def serve() -> None:
    """The probe server: one JSON request per line on stdin (a model, setups, workers, a timeout and a folder),
    answered with one line of exit codes once every probe has run in a child forked from here. Probe i writes
    `probe{i}.json` and its output to `probe{i}.log` in the folder."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints goes to the log, never into the replies
    while line := sys.stdin.readline():
        request = json.loads(line)
        pending, running, codes = list(range(len(request["setups"]))), {}, [None] * len(request["setups"])
        while pending or running:
            while pending and len(running) < request["workers"]:
                i = pending.pop(0)
                running[_fork_probe(request, i)] = i
            pid, status = os.wait()
            codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
        replies.write(json.dumps(codes) + "\n")
        replies.flush()


def _fork_probe(request: dict, i: int) -> int:
    """Fork probe i of the request; the child writes its result and output into the request's folder and never
    returns (so nothing a probe does, not even a bad setup, can stop the server)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        log = os.open(os.path.join(request["folder"], f"probe{i}.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        signal.alarm(max(1, int(request["timeout_s"])))
        result = measure_here(request["model"], setup_from_dict(request["setups"][i]), request["threads"])
        with open(os.path.join(request["folder"], f"probe{i}.json"), "w") as f:
            json.dump(result, f)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _tail(path: str, chars: int = 3000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-chars:]
    except OSError:
        return ""


def setup_from_dict(fields: dict) -> TrainSetup:
    """A TrainSetup back from `dataclasses.asdict` (JSON turns tuples into lists)."""
    fields = dict(fields)
    fields["peft"] = PeftOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields["peft"].items()})
    return TrainSetup(**fields)


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    request = json.loads(sys.argv[1])
    print(json.dumps(measure_here(request["model"], setup_from_dict(request["setup"]))))


if __name__ == "__main__":
    main()
