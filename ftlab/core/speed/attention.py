"""Attention that stays inside each row of a padding-free batch.

TRL's padding-free batches put a step's rows end to end in one sequence and mark where each row starts by
restarting `position_ids` at 0. Under transformers' SDPA that sequence gets a block-diagonal mask, so the
kernel still computes every query against every key of the whole step (~900 x 900 for notebook 01's batches)
and throws most of it away: 41 % of a tiny-model training step on a 2-core CPU (torch.profiler, 2026-11-30).
`packed_sdpa` runs SDPA once per row instead (causal, the row's own tokens only), which computes the same
attention over ~1/16 of the pairs. Anything that is not a packed batch goes to transformers' own SDPA.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "ftlab_packed_sdpa"


def row_bounds(position_ids: torch.Tensor | None, length: int) -> list[tuple[int, int]] | None:
    """(start, end) of each row packed into a one-sequence batch, read from where `position_ids` restart;
    None when the batch is not packed (several sequences, no position ids, or a single row)."""
    if position_ids is None or position_ids.shape[0] != 1 or position_ids.shape[-1] != length:
        return None
    ids = position_ids[0]
    restarts = (torch.diff(ids, prepend=ids[:1] - 1) != 1).nonzero().flatten().tolist()  # never index 0
    if not restarts:
        return None
    starts = [0, *restarts]
    return list(zip(starts, [*restarts, length]))


def packed_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                **kwargs):
    """transformers' attention-function signature: causal SDPA row by row for a packed batch, else plain SDPA.
    Returns (batch, tokens, heads, head_dim) and no attention weights, as transformers expects."""
    bounds = row_bounds(kwargs.get("position_ids"), query.shape[2]) if query.shape[2] == key.shape[2] else None
    if bounds is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    gqa = key.shape[1] != query.shape[1]
    rows = [F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                                           dropout_p=dropout, scale=scaling, enable_gqa=gqa)
            for s, e in bounds]
    return torch.cat(rows, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, packed_sdpa)


ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # unpacked batches get the mask SDPA would get


@contextmanager
def within_rows(model, enabled: bool = True):
    """Inside the block, a model on SDPA attends within each packed row (`packed_sdpa`); its own
    implementation comes back afterwards, so saved configs and later generation are unchanged."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if not enabled or current != "sdpa":
        yield
        return
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = current
