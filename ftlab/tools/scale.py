"""One SFT run on any number of processes: `accelerate launch` runs this module unchanged on one GPU, on N GPUs
(DDP or FSDP) or on several CPU processes (gloo); `python -m ftlab.tools.scale` runs it in one plain process.

The distribution is accelerate's and the Trainer's, not ftlab's. This module only splits a fixed global batch
over the processes (so runs on 1 and on N processes see the same global batches), trains with
`ftlab.core.train.run_sft`, and writes what a comparison needs: the loss curve, the wall time, the trained model's
logits on a probe conversation and the saved model or adapter. The launch configs are in launch_configs/;
`python -m ftlab launch-command` prints the command for this machine.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from ftlab.core.device import fsdp_enabled, pick_device
from ftlab.core.instructions import load_instructions
from ftlab.core.models import load, load_4bit
from ftlab.core.peft_methods import build
from ftlab.core.profiles import Profile, active
from ftlab.core.train import run_sft

CONFIG_DIR = Path(__file__).parent / "launch_configs"


RESULT_FILE = "scale_result.json"


PROBE_FILE = "probe_logits.pt"


SCALE_METHODS = ("full", "lora", "qlora")


def per_device_batch(global_batch: int, processes: int, grad_accum: int = 1) -> int:
    """Rows each process takes per micro-step so that processes x batch x accumulation = the global batch."""
    share = processes * grad_accum
    if global_batch % share:
        raise ValueError(f"global batch {global_batch} does not split evenly over {processes} process(es) x "
                         f"{grad_accum} accumulation step(s); choose a multiple of {share}")
    return global_batch // share


def training_rows(profile: Profile, rows: int) -> list[dict]:
    """The first `rows` training conversations of the profile's tasks (about equal numbers per task), the same
    in every process and every run."""
    per_task = math.ceil(rows / len(profile.sft_tasks))
    found = load_instructions("train", profile.sft_tasks, limit_per_task=per_task)
    if len(found) < rows:
        raise ValueError(f"profile {profile.name!r}: {rows} training rows wanted, the data has {len(found)}")
    return found[:rows]


def probe_rows(profile: Profile, count: int = 2) -> list[dict]:
    """A few validation conversations whose logits identify the trained model."""
    return load_instructions("val", profile.sft_tasks, limit_per_task=1)[:count]


@torch.no_grad()
def probe_logits(model, tokenizer, rows: list[dict]) -> torch.Tensor:
    """fp32 logits of each templated conversation (one at a time: no padding), concatenated along tokens.
    Every process must call it under FSDP (the forward gathers the shards)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for row in rows:
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"]
        out.append(model(input_ids=torch.tensor([ids], device=device)).logits[0].float().cpu())
    return torch.cat(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ftlab.tools.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default=None, help="ftlab profile (default: FTLAB_PROFILE or from the hardware)")
    p.add_argument("--model", default=None, help="base model instead of the profile's (tiny, smol, folder, hub id)")
    p.add_argument("--method", choices=SCALE_METHODS, default="lora")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--global-batch", type=int, default=None, help="rows per optimizer step over all processes "
                   "(default: the profile's batch size)")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-length", type=int, default=None, help="longest row in tokens (default: the profile's)")
    p.add_argument("--activation-checkpointing", action="store_true", help="recompute activations in backward")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="fp32, or bf16 autocast (default: the profile's)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the profile's rate for the method")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for the run card, the result, the probe and the model")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train once (in this process and, under accelerate launch, its peers) and write the result files."""
    from accelerate import PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedType


    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    # Join the process group accelerate launch set up: NCCL on GPUs, gloo on CPUs (without cpu=True a GPU-less
    # process would not see its peers; the Trainer makes the same choice from SFTConfig.use_cpu).
    state = PartialState(cpu=pick_device().type == "cpu")
    profile = active(args.profile)
    model_name = args.model or profile.model
    global_batch = args.global_batch or profile.sft.batch_size
    batch = per_device_batch(global_batch, state.num_processes, args.grad_accum)
    sharded = fsdp_enabled()
    place = None if sharded else str(state.device)  # FSDP places (and shards) the weights itself
    torch.manual_seed(args.seed)  # the same adapter initialisation in every process
    model, tokenizer = build(model_name, args.method, profile.peft, device=place, fsdp=sharded)
    lr = args.learning_rate or profile.peft_learning_rates.get(args.method, profile.sft.learning_rate)
    precision = args.precision or ("bf16" if profile.sft.bf16 else "fp32")
    settings = replace(profile.sft, learning_rate=lr, max_steps=args.steps, batch_size=batch,
                       grad_accum=args.grad_accum, bf16=precision == "bf16", logging_steps=1, seed=args.seed,
                       max_length=args.max_length or profile.sft.max_length, progress=state.is_main_process,
                       activation_checkpointing=args.activation_checkpointing or profile.sft.activation_checkpointing)
    out = Path(args.out)
    result = run_sft(model, tokenizer, training_rows(profile, args.steps * global_batch), settings, out / "run",
                     profile=profile.name, name="scale", save_to=out / "model")
    probe = probe_logits(result.model, tokenizer, probe_rows(profile))
    used = AcceleratorState().distributed_type  # what the Trainer ran: on CPUs accelerate turns FSDP into DDP
    if state.is_main_process:
        torch.save(probe, out / PROBE_FILE)
        summary = {"processes": state.num_processes, "distributed_type": str(used), "backend": state.backend,
                   "fsdp": used == DistributedType.FSDP, "profile": profile.name, "model": model_name,
                   "method": args.method, "precision": precision, "steps": args.steps,
                   "global_batch": global_batch, "per_device_batch": batch, "grad_accum": args.grad_accum,
                   "learning_rate": lr, "seed": args.seed,
                   "losses": [row["loss"] for row in result.history if "loss" in row],
                   "train_wall_s": result.card["wall_time_s"], "process_wall_s": time.perf_counter() - started}
        (out / RESULT_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{state.num_processes} process(es), {batch} rows each x {args.grad_accum} accumulation = global batch "
              f"{global_batch}; losses {', '.join(f'{x:.4f}' for x in summary['losses'])}; "
              f"train {summary['train_wall_s']:.1f} s")
    state.wait_for_everyone()
    state.destroy_process_group()
    return 0


def read_result(out_dir: Path) -> dict:
    """The summary a run of this module wrote into `out_dir`."""
    path = Path(out_dir) / RESULT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: did `python -m ftlab.tools.scale --out {out_dir}` finish?")
    return json.loads(path.read_text())


def load_trained(out_dir: Path, device: str = "cpu"):
    """(model, tokenizer) as the run in `out_dir` saved them, loaded in this one process: the full model, or
    the profile's base with the saved adapter on top."""
    out_dir = Path(out_dir)
    summary = read_result(out_dir)
    saved = out_dir / "model"
    if summary["method"] == "full":
        return load(str(saved), device=device)
    from peft import PeftModel

    if not (saved / "adapter_model.safetensors").exists():  # peft would fall back to a pickled .bin
        raise FileNotFoundError(f"{saved}: no adapter_model.safetensors (ftlab loads safetensors only)")
    base, tokenizer = (load_4bit if summary["method"] == "qlora" else load)(summary["model"], device=device)
    return PeftModel.from_pretrained(base, saved, use_safetensors=True), tokenizer


if __name__ == "__main__":
    raise SystemExit(main())
