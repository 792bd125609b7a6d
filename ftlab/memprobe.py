"""Measure the real peak memory of one training step, in a fresh process (`python -m ftlab.memprobe '<json>'`).

What is measured: the peak of live tensor bytes during the second training step (forward, backward, optimizer
step), the CPU counterpart of CUDA's `max_memory_allocated`. On CUDA that counter is read directly. On CPU there
is no allocator peak, so: bytes of every live tensor before the step (each storage counted once, found through
the garbage collector) + the highest rise in allocated bytes during the step, from the torch profiler's memory
events. The process's peak RSS is reported beside it (it also holds libraries, the allocator's free lists and
Python objects). The first step runs unmeasured so that optimizer states already exist, as in every later step.
"""
from __future__ import annotations

import gc
import json
import resource
import sys
import tempfile

import torch

from .memory import TrainSetup, model_config
from .peft_methods import PeftOptions, wrap


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
    from transformers import AutoModelForCausalLM

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
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from .models import nf4_config

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


def measure_here(model_name: str, setup: TrainSetup) -> dict:
    """Run two training steps in this process and measure the second (call through `memory.measure`)."""
    torch.set_num_threads(2)
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


def main() -> None:
    request = json.loads(sys.argv[1])
    fields = dict(request["setup"])
    fields["peft"] = PeftOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields["peft"].items()})
    setup = TrainSetup(**fields)
    print(json.dumps(measure_here(request["model"], setup)))


if __name__ == "__main__":
    main()
