"""Does ftlab's bf16 rule (`ftlab.core.device.bf16_is_fast`: CPU flags avx512_bf16 / amx_bf16, or a CUDA GPU with bf16)
agree with this machine's own matmuls? Formerly a test; it times the machine, so it is a benchmark now.

    python bench/bf16_rule.py        # ~2 s; run it on an idle machine
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("FTLAB_BF16", "auto")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ftlab.core.device import bf16_is_fast, cpu_flags, pick_device
from ftlab.core.throughput import matmul_peak_flops


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    device = pick_device()
    n = 8192 if device.type == "cuda" else 512
    bf16 = matmul_peak_flops(torch.bfloat16, n=n, seconds=0.5, device=device)
    fp32 = matmul_peak_flops(torch.float32, n=n, seconds=0.5, device=device)
    rule = bf16_is_fast(device)
    print(f"{device.type}: bf16 {bf16 / 1e9:.1f} GFLOP/s, fp32 {fp32 / 1e9:.1f} GFLOP/s; "
          f"bf16 flags {sorted(cpu_flags() & {'avx512_bf16', 'amx_bf16'}) or 'none'}; rule says bf16 is "
          f"{'fast' if rule else 'slow'}: {'agrees' if rule == (bf16 > fp32) else 'DISAGREES'} with the timing")
    return 0 if rule == (bf16 > fp32) else 1


if __name__ == "__main__":
    sys.exit(main())
