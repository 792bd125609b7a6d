"""Predicted vs measured peak memory on a CUDA GPU (torch.cuda.max_memory_allocated), the same grid as
bench/memory_cpu.py plus two larger sequence lengths.

    python bench/memory_gpu.py

Needs a CUDA build of torch and bitsandbytes with CUDA kernels. Not run in CI (there is no GPU there).
"""
from __future__ import annotations

import argparse
import sys

import torch

from ftlab.core.settings import TrainSetup

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from memory_cpu import grid, run  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: run bench/memory_cpu.py on this machine instead")
    rows = grid("cuda") + [
        ("smollm2-135m", TrainSetup(method="full", precision="bf16", batch_size=8, seq_len=1024, device="cuda")),
        ("smollm2-135m", TrainSetup(method="lora", precision="mixed", batch_size=8, seq_len=1024, device="cuda")),
    ]
    print(torch.cuda.get_device_name(0))
    run(rows, device="cuda")


if __name__ == "__main__":
    main()
