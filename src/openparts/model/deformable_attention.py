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

Without autograd (prediction, pseudo labels, feature clustering) the samples are gathered
instead: each query's bag of levels x points x 4 bilinear neighbours, weighted by bilinear
weight x attention weight, is one row of `embedding_bag`, a fused gather and weighted sum, over
each level's values bordered by zeros (a neighbour outside the map reads the border). Per layer
on a 2-core AVX-512 CPU: 17-42 ms against 33-54 at 512 px, 16-18 against 31-32 at 256 px in
batches of 4; forward and backward, 184-217 ms against 91-148, so training keeps the path above
(benchmarks/results/prediction-avx512bf16/micro.py, three runs). Without autograd the attention
layers also place their samples in pixels themselves (`attention_layer_forward`), skipping
transformers' normalised sampling locations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional
from transformers.models.mask2former import modeling_mask2former

log = logging.getLogger(__name__)

transformers_attention = getattr(modeling_mask2former, "multi_scale_deformable_attention", None)
AttentionLayer = modeling_mask2former.Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention
transformers_layer_forward = AttentionLayer.forward
_enabled = True


def multi_scale_deformable_attention(
    value: torch.Tensor,
    value_spatial_shapes: torch.Tensor | list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """value: [batch, sum of H*W, heads, channels]; sampling_locations: [batch, queries, heads,
    levels, points, 2] in [0, 1]; attention_weights: [batch, queries, heads, levels, points].
    Returns [batch, queries, heads * channels], as transformers' function."""
    if torch.is_grad_enabled() and any(tensor.requires_grad for tensor in (value, sampling_locations, attention_weights)):
        return sampled_attention(value, value_spatial_shapes, sampling_locations, attention_weights)
    return gathered_attention(value, value_spatial_shapes, sampling_locations, attention_weights)


def sampled_attention(
    value: torch.Tensor,
    value_spatial_shapes: torch.Tensor | list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """grid_sample per level, each level's samples weighted and summed at once: the training path."""
    batch, _, heads, channels = value.shape
    queries = sampling_locations.shape[1]
    shapes, level_values = split_levels(value, value_spatial_shapes)
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


def gathered_attention(
    value: torch.Tensor,
    value_spatial_shapes: torch.Tensor | list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """One `embedding_bag` over all levels: the inference path (same arguments and result)."""
    shapes = [(int(height), int(width)) for height, width in value_spatial_shapes]
    columns = [bordered_pixels(sampling_locations[:, :, :, level, :, 0], width) for level, (_, width) in enumerate(shapes)]
    lines = [bordered_pixels(sampling_locations[:, :, :, level, :, 1], height) for level, (height, _) in enumerate(shapes)]
    return gather_at(value, shapes, columns, lines, attention_weights)


def bordered_pixels(normalised: torch.Tensor, size: int) -> torch.Tensor:
    """A position in [0, 1] of a side of `size` pixels, in pixels of the map `gather_at` reads:
    + 1 for its border, - 0.5 from pixel corners to centres."""
    return normalised * size + 0.5


def gather_at(
    value: torch.Tensor,
    shapes: list[tuple[int, int]],
    columns: list[torch.Tensor],
    lines: list[torch.Tensor],
    attention_weights: torch.Tensor,
    index_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """`gathered_attention` from each level's sample positions, [batch, queries, heads, points]
    each, in pixels of that level bordered by one zero pixel on every side. The table's rows are
    numbered in int32 where they fit (`index_dtype` None), else in int64."""
    batch, _, heads, channels = value.shape
    queries = attention_weights.shape[1]
    _, level_values = split_levels(value, shapes)
    if index_dtype is None:
        index_dtype = row_index_dtype(sum(batch * (height + 2) * (width + 2) * heads for height, width in shapes))
    head = torch.arange(heads, device=value.device, dtype=index_dtype).view(heads, 1)
    item = torch.arange(batch, device=value.device, dtype=index_dtype).view(batch, 1, 1, 1)
    tables: list[torch.Tensor] = []
    rows: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    first_row = 0
    for level, (height, width) in enumerate(shapes):
        bordered = functional.pad(level_values[level].reshape(batch, height, width, heads * channels), (0, 0, 1, 1, 1, 1))
        tables.append(bordered.reshape(-1, channels))  # row ((item * (height + 2) + y) * (width + 2) + x) * heads + head
        x, y = columns[level], lines[level]
        left, top = x.floor(), y.floor()
        right_weight, bottom_weight = x - left, y - top
        left_weight, top_weight = 1 - right_weight, 1 - bottom_weight
        neighbour_columns = [side.clamp(0, width + 1).to(index_dtype) for side in (left, left + 1)]
        neighbour_lines = [side.clamp(0, height + 1).to(index_dtype) for side in (top, top + 1)]
        start = first_row + item * ((height + 2) * (width + 2) * heads) + head
        level_attention = attention_weights[:, :, :, level]
        rows.append(
            torch.stack([start + (line * (width + 2) + column) * heads for line in neighbour_lines for column in neighbour_columns], -1)
        )
        weights.append(
            torch.stack(
                [
                    level_attention * vertical * horizontal
                    for vertical in (top_weight, bottom_weight)
                    for horizontal in (left_weight, right_weight)
                ],
                -1,
            )
        )
        first_row += len(tables[-1])
    bags = batch * queries * heads
    table = torch.cat(tables)
    output = functional.embedding_bag(
        torch.stack(rows, 3).view(bags, -1), table, per_sample_weights=torch.stack(weights, 3).view(bags, -1).to(table.dtype), mode="sum"
    )
    return output.view(batch, queries, heads * channels)


def row_index_dtype(table_rows: int) -> torch.dtype:
    """int32 where every row number fits: half the bytes to build and stack, and embedding_bag
    takes them. The whole gather took 22.9-23.8 ms against 30.5-36.4 in int64 at 512 px for two
    images on 2 cores (`benchmarks/results/prediction-avx512bf16/micro.py index-width`)."""
    return torch.int32 if table_rows <= torch.iinfo(torch.int32).max else torch.int64


def attention_layer_forward(
    self: nn.Module,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    encoder_hidden_states: torch.Tensor | None = None,
    encoder_attention_mask: torch.Tensor | None = None,
    position_embeddings: torch.Tensor | None = None,
    reference_points: torch.Tensor | None = None,
    spatial_shapes_list: list[tuple[int, int]] | None = None,
    level_start_index: torch.Tensor | None = None,
    output_attentions: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel decoder's attention layer without autograd: its projections as transformers',
    then `gather_at` the pixels `reference x size + offset` of each level. transformers first
    divides the offsets by the level's size and adds the reference points, in tensors broadcast
    over their last two dimensions, and the attention multiplies by the size again: at 512 px,
    for a group of two images on 2 cores, transformers' two steps took 9.5-21 ms per layer and
    ours 1.1-2.1 (`benchmarks/results/prediction-avx512bf16/micro.py offsets`, four runs), and
    dividing the bf16 offsets rounded them.
    With autograd (training) or box-shaped reference points, transformers' forward runs."""
    if torch.is_grad_enabled() or not _enabled or reference_points.shape[-1] != 2:
        return transformers_layer_forward(
            self,
            hidden_states,
            attention_mask,
            encoder_hidden_states,
            encoder_attention_mask,
            position_embeddings,
            reference_points,
            spatial_shapes_list,
            level_start_index,
            output_attentions,
        )
    if position_embeddings is not None:
        hidden_states = hidden_states + position_embeddings
    batch, queries, _ = hidden_states.shape
    value = self.value_proj(encoder_hidden_states)
    if attention_mask is not None:
        value = value.masked_fill(attention_mask[..., None], 0.0)
    value = value.view(batch, -1, self.n_heads, self.d_model // self.n_heads)
    offsets = self.sampling_offsets(hidden_states).view(batch, queries, self.n_heads, self.n_levels, self.n_points, 2)
    logits = self.attention_weights(hidden_states).view(batch, queries, self.n_heads, self.n_levels * self.n_points)
    attention_weights = functional.softmax(logits, -1).view(batch, queries, self.n_heads, self.n_levels, self.n_points)
    shapes = [(int(height), int(width)) for height, width in spatial_shapes_list]
    columns = [
        offsets[:, :, :, level, :, 0] + bordered_pixels(reference_points[:, :, level, 0, None, None], width)
        for level, (_, width) in enumerate(shapes)
    ]
    lines = [
        offsets[:, :, :, level, :, 1] + bordered_pixels(reference_points[:, :, level, 1, None, None], height)
        for level, (height, _) in enumerate(shapes)
    ]
    output = gather_at(value, shapes, columns, lines, attention_weights)
    return self.output_proj(output), attention_weights


def split_levels(
    value: torch.Tensor, value_spatial_shapes: torch.Tensor | list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], tuple[torch.Tensor, ...]]:
    """Each level's (height, width) as Python ints, and its slice of `value`'s tokens."""
    shapes = [(int(height), int(width)) for height, width in value_spatial_shapes]
    return shapes, value.split([height * width for height, width in shapes], dim=1)


def install() -> None:
    """Make Mask2Former's pixel decoder call the function above (it looks the name up at each
    call), and its attention layers take `attention_layer_forward` without autograd."""
    if transformers_attention is None:
        log.warning("transformers' Mask2Former has no multi_scale_deformable_attention: its own attention runs, unoptimised")
        return
    modeling_mask2former.multi_scale_deformable_attention = multi_scale_deformable_attention
    AttentionLayer.forward = attention_layer_forward


@contextmanager
def unoptimised() -> Iterator[None]:
    """transformers' own attention inside the block: the baseline that speed benchmarks compare with."""
    global _enabled
    current = getattr(modeling_mask2former, "multi_scale_deformable_attention", None)
    if transformers_attention is not None:
        modeling_mask2former.multi_scale_deformable_attention = transformers_attention
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous
        if current is not None:
            modeling_mask2former.multi_scale_deformable_attention = current
