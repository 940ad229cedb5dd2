"""The transformer decoder's intermediate masks at the size its attention reads them.

transformers' Mask2Former decoder predicts masks after every layer (`Mask2FormerMaskPredictor`):
each query's embedding times the mask features at 1/4 of the input, then the masks shrunk to
the next layer's attention resolution (1/32, 1/16 or 1/8), where a pixel whose logit is below
zero is masked out. Only the last layer's masks leave the network; the others serve the
attention and, in training, the auxiliary losses. Shrinking (bilinear, no antialiasing) is
linear, and so is the product with the embeddings: shrinking the mask features once per
resolution and multiplying there gives the same attention masks (to float rounding) for a
fraction of the products, and only the last call multiplies at full size. Per batch of 4 with
the cpu preset on 2 cores, the decoder took 175-199 ms at 512 px with transformers' predictor
(85-99 of them in it) and 108-127 with this one (20-26); 60-70 and 40-50 ms at 256 px
(`benchmarks/results/prediction-avx512bf16/micro.py decoder-masks`).

This module's predictor does that when no gradient is recorded (prediction, pseudo labels,
feature clustering) and behaves exactly as transformers' otherwise, so training and the
auxiliary losses are untouched. Without autograd, the intermediate masks it returns are at the
attention's resolution, not 1/4: nothing reads them there. `unoptimised()` restores
transformers' predictor in every model: the baseline of the speed benchmarks. A model that
computes losses, whose auxiliary terms read every layer's masks, switches only its own
predictor (`AttentionSizeMaskPredictor.every_layer_at_full_size`), so a model predicting in
another thread keeps its speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional
from transformers.models.mask2former.modeling_mask2former import Mask2FormerMaskPredictor

_enabled = True


class AttentionSizeMaskPredictor(Mask2FormerMaskPredictor):
    """transformers' mask predictor (same weights, same state-dict keys) that, without autograd,
    multiplies at the attention's resolution and at full size only in the decoder's last call.

    The decoder calls it once before its layers and once after each: `start_forward` (a forward
    pre-hook of the decoder) tells it a new pass begins, so the call count, not the caller,
    says which call is the last. It keeps that count, so one model instance runs one forward
    pass at a time, as any module with state."""

    def __init__(self, trained: Mask2FormerMaskPredictor, decoder_layers: int) -> None:
        nn.Module.__init__(self)
        self.hidden_size = trained.hidden_size
        self.num_heads = trained.num_heads
        self.mask_embedder = trained.mask_embedder
        self.calls_per_forward = decoder_layers + 1
        self.calls = 0
        self.shrunk: dict[tuple[int, ...], torch.Tensor] = {}
        self.full_size_masks = False

    @contextmanager
    def every_layer_at_full_size(self) -> Iterator[None]:
        """transformers' predictor, for this model only, inside the block: every layer's masks at 1/4."""
        previous, self.full_size_masks = self.full_size_masks, True
        try:
            yield
        finally:
            self.full_size_masks = previous

    def start_forward(self) -> None:
        self.calls = 0
        self.shrunk = {}

    def forward(
        self, outputs: torch.Tensor, pixel_embeddings: torch.Tensor, attention_mask_target_size: tuple[int, int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled() or not _enabled or self.training or self.full_size_masks:
            return super().forward(outputs, pixel_embeddings, attention_mask_target_size)
        self.calls += 1
        mask_embeddings = self.mask_embedder(outputs.transpose(0, 1))
        size = tuple(attention_mask_target_size)
        if size not in self.shrunk:
            self.shrunk[size] = shrink(pixel_embeddings, size)
        shrunk_masks = torch.einsum("bqc, bchw -> bqhw", mask_embeddings, self.shrunk[size])
        batch, queries = shrunk_masks.shape[:2]
        masked = shrunk_masks.sigmoid().flatten(2) < 0.5  # as transformers compares, rounding included
        per_head = masked.unsqueeze(1).expand(batch, self.num_heads, queries, masked.shape[-1])
        attention_mask = per_head.reshape(batch * self.num_heads, queries, -1)
        if self.calls >= self.calls_per_forward:  # the last call: these masks leave the network
            self.shrunk = {}
            return torch.einsum("bqc, bchw -> bqhw", mask_embeddings, pixel_embeddings), attention_mask
        return shrunk_masks, attention_mask


def shrink(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear shrinking (align_corners=False, no antialiasing) of [B, C, H, W] to `size`.

    torch's bilinear kernel is fast on channels-last maps (prediction's layout) and slow on
    channels-first ones; there, where each side shrinks by a whole factor, as the decoder's do
    (1/4 to 1/8, 1/16, 1/32 of an input padded to a multiple of 32), bilinear reads the one or
    two middle pixels of each block, and slicing those out is the same sums. 4 bf16 maps of
    256 x 128 x 128 to 64, 32 and 16 px on 2 cores: channels-first, interpolate 46 / 27 / 27 ms,
    slices 5.4 / 4.4 / 2.3; channels-last, interpolate 2.6 / 0.9 / 0.1, slices 5.1 / 1.3 / 0.6
    (`benchmarks/results/prediction-avx512bf16/micro.py decoder-masks`)."""
    height, width = features.shape[-2:]
    whole = height % size[0] == 0 and width % size[1] == 0
    if features.is_contiguous(memory_format=torch.channels_last) or not whole:
        return functional.interpolate(features, size=size, mode="bilinear", align_corners=False)
    return sliced_shrink(features, size)


def sliced_shrink(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`shrink` where each side of [B, C, H, W] divides by `size`'s, by slicing out middle pixels."""
    height, width = features.shape[-2:]
    if height % size[0] or width % size[1]:
        raise ValueError(f"{height} x {width} does not shrink to {size[0]} x {size[1]} by whole factors")
    return _middle_of_blocks(_middle_of_blocks(features, -2, height // size[0]), -1, width // size[1])


def _middle_of_blocks(features: torch.Tensor, dim: int, factor: int) -> torch.Tensor:
    """Along `dim`, each block of `factor` pixels' middle pixel, or the mean of its middle two."""
    if factor == 1:
        return features
    index = [slice(None)] * features.dim()
    if factor % 2:
        index[dim] = slice((factor - 1) // 2, None, factor)
        return features[tuple(index)]
    index[dim] = slice(factor // 2 - 1, None, factor)
    before = features[tuple(index)]
    index[dim] = slice(factor // 2, None, factor)
    return (before + features[tuple(index)]) * 0.5


def install(decoder: nn.Module) -> AttentionSizeMaskPredictor:
    """Give a Mask2Former transformer decoder the predictor above, keeping its weights."""
    predictor = AttentionSizeMaskPredictor(decoder.mask_predictor, len(decoder.layers))
    decoder.mask_predictor = predictor
    decoder.register_forward_pre_hook(lambda module, args: predictor.start_forward())
    return predictor


@contextmanager
def unoptimised() -> Iterator[None]:
    """transformers' own mask prediction in every model inside the block: the baseline that speed
    benchmarks compare with."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous
