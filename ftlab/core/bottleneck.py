"""Bottleneck adapters (Houlsby et al. 2019), the one PEFT method ftlab writes itself.

peft has none, and the `adapters` package that does pins transformers 4.57 while ftlab runs on 5.x, so this is
a small hand-written version: after the attention block's output projection and after the MLP, a residual
bottleneck h + W_up·act(W_down·h) with W_up starting at zero (the model starts out unchanged). The adapters are
extra layers with a non-linearity between them, so unlike LoRA they cannot be folded into the base weights:
every generated token pays for them (notebook 05 measures how much).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

ADAPTED = ("self_attn.o_proj", "mlp.down_proj")  # sublayer outputs that get an adapter, in every decoder layer


class Bottleneck(nn.Module):
    """h + up(gelu(down(h))): a residual two-layer MLP through `size` hidden units."""

    def __init__(self, hidden: int, size: int):
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(nn.functional.gelu(self.down(h)))


def _apply_adapter(adapter: Bottleneck):
    """A forward hook that replaces a sublayer's output with the adapter's."""
    return lambda module, args, output: adapter(output)


def add_adapters(model, size: int = 16):
    """Freeze `model` and insert a trainable bottleneck after each attention and MLP block (in place)."""
    for p in model.parameters():
        p.requires_grad_(False)
    layers = model.model.layers
    adapters = nn.ModuleList(Bottleneck(model.config.hidden_size, size) for _ in range(len(layers) * len(ADAPTED)))
    adapters.to(next(model.parameters()).device)
    model.add_module("bottleneck_adapters", adapters)  # so optimizers, .to() and state_dict see them
    for i, layer in enumerate(layers):
        for j, path in enumerate(ADAPTED):
            layer.get_submodule(path).register_forward_hook(_apply_adapter(adapters[i * len(ADAPTED) + j]))
    return model


def save_adapters(model, folder: Path) -> Path:
    """Only the adapters' weights, as safetensors: what a user would ship for this method."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bottleneck_adapters.safetensors"
    save_file({k: v.contiguous() for k, v in model.bottleneck_adapters.state_dict().items()}, str(path))
    return path
