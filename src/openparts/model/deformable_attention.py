"""Multi-scale deformable attention without the all-levels stack, for CPU speed and memory.

transformers' pure-PyTorch `multi_scale_deformable_attention` (Mask2Former's pixel decoder;
no compiled kernel is installable here) samples every level, stacks the samples of all levels
and points into one tensor, multiplies it by the attention weights and sums. At 512 px, batch 4,
that stack is 32 heads-x-images x 32 channels x 5,376 queries x 12 samples: 264 MB written,
then read twice, in each encoder layer. With it, the deformable attention layers took 34 % of
prediction at 512 px on a 2-core CPU, 1.83 s per batch of 4; with this version, 1.14 s
(`benchmarks/model_speed.py --sizes 512 --profile [--transformers-attention]`).
Here each level's samples are weighted and summed as soon as they are drawn: the largest
temporary is one level's samples (a third of the stack with three levels), and the stack's copy
is gone. The same sums in another order, so outputs and gradients agree to float rounding
(tests/model/test_deformable_attention.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.nn import functional
from transformers.models.mask2former import modeling_mask2former

log = logging.getLogger(__name__)

transformers_attention = getattr(modeling_mask2former, "multi_scale_deformable_attention", None)


def multi_scale_deformable_attention(
    value: torch.Tensor,
    value_spatial_shapes: torch.Tensor | list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """value: [batch, sum of H*W, heads, channels]; sampling_locations: [batch, queries, heads,
    levels, points, 2] in [0, 1]; attention_weights: [batch, queries, heads, levels, points].
    Returns [batch, queries, heads * channels], as transformers' function."""
    batch, _, heads, channels = value.shape
    queries = sampling_locations.shape[1]
    shapes = [(int(height), int(width)) for height, width in value_spatial_shapes]
    level_values = value.split([height * width for height, width in shapes], dim=1)
    # level-major, so that each level's grid and weights are contiguous: [levels, batch * heads, queries, points, ...]
    grids = (2 * sampling_locations - 1).permute(3, 0, 2, 1, 4, 5).flatten(1, 2).contiguous()
    weights = attention_weights.permute(3, 0, 2, 1, 4).flatten(1, 2).unsqueeze(2).contiguous()
    output = None
    for level, (height, width) in enumerate(shapes):
        level_value = level_values[level].permute(0, 2, 3, 1).reshape(batch * heads, channels, height, width)
        sampled = functional.grid_sample(level_value, grids[level], mode="bilinear", padding_mode="zeros", align_corners=False)
        weighted = (sampled * weights[level]).sum(-1)  # [batch * heads, channels, queries]
        output = weighted if output is None else output + weighted
    return output.view(batch, heads * channels, queries).transpose(1, 2).contiguous()


def install() -> None:
    """Make Mask2Former's pixel decoder call the function above (it looks the name up at each call)."""
    if transformers_attention is None:
        log.warning("transformers' Mask2Former has no multi_scale_deformable_attention: its own attention runs, unoptimised")
        return
    modeling_mask2former.multi_scale_deformable_attention = multi_scale_deformable_attention


@contextmanager
def unoptimised() -> Iterator[None]:
    """transformers' own attention inside the block: the baseline that speed benchmarks compare with."""
    current = getattr(modeling_mask2former, "multi_scale_deformable_attention", None)
    if transformers_attention is not None:
        modeling_mask2former.multi_scale_deformable_attention = transformers_attention
    try:
        yield
    finally:
        if current is not None:
            modeling_mask2former.multi_scale_deformable_attention = current
