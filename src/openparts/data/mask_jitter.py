"""Object-mask jitter: the pre-aware input channel as an object segmenter gives it.

Training reads each set's own object masks, while at test time the channel often comes from a
segmenter (the paper's "imperfect" masks): boundaries off by a few pixels, jagged at coarse
resolution, a region missed or a piece of background taken in. A model that only saw exact
masks can lean on the channel's edges as part edges. The jitter perturbs the input channel only:
the parts to learn, and the object mask the losses read, stay the set's own.
"""

from __future__ import annotations

import torch
from torch.nn import functional

MAX_SHIFT = 0.06
"""Largest boundary shift, as a share of the object's size (square root of its area)."""
COARSE_CELLS = (4, 16)
"""Smallest and largest cell, px, of the coarse grid a jagged boundary is drawn on."""
REGION_SIDES = (0.1, 0.4)
"""Smallest and largest side of a missed or added region, as a share of the object's box."""


class ObjectMaskJitter:
    """With probability `probability`, shifts the boundary of a float {0, 1} [H, W] mask in or
    out, and each with probability one half, coarsens it and cuts or adds a rectangle. Draws come
    from torch's generator, so a seeded run (and each seeded data-loader worker) repeats them."""

    def __init__(self, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"object-mask jitter probability must be from 0 to 1, got {probability}")
        self.probability = probability

    def __call__(self, mask: torch.Tensor) -> torch.Tensor:
        if self.probability == 0.0 or _uniform() >= self.probability or not mask.any():
            return mask
        # a step that wipes the object out (a thin object eroded, a small one coarsened away) is
        # left out: it would teach that objects can be absent from the channel
        jittered = _unless_empty(shift_boundary(mask), mask)
        if _uniform() < 0.5:
            jittered = _unless_empty(coarsen(jittered), jittered)
        if _uniform() < 0.5:
            jittered = _unless_empty(change_region(jittered), jittered)
        return jittered


def shift_boundary(mask: torch.Tensor) -> torch.Tensor:
    """Dilated or eroded (one half each) by 1 px up to MAX_SHIFT of the object's size."""
    largest = max(1, round(MAX_SHIFT * float(mask.sum()) ** 0.5))
    radius = int(torch.randint(1, largest + 1, ()))
    grow = _uniform() < 0.5
    source = mask if grow else 1.0 - mask
    spread = functional.max_pool2d(source[None, None], 2 * radius + 1, stride=1, padding=radius)[0, 0]
    return spread if grow else 1.0 - spread


def coarsen(mask: torch.Tensor) -> torch.Tensor:
    """Redrawn on a grid of square cells, each in where at least half of it is: a boundary as
    a low-resolution segmenter draws it."""
    cell = int(torch.randint(COARSE_CELLS[0], COARSE_CELLS[1] + 1, ()))
    height, width = mask.shape
    share = functional.avg_pool2d(mask[None, None], cell, stride=cell, ceil_mode=True, count_include_pad=False)
    return (functional.interpolate(share, scale_factor=cell, mode="nearest")[0, 0, :height, :width] >= 0.5).to(mask.dtype)


def change_region(mask: torch.Tensor) -> torch.Tensor:
    """A rectangle centred in the object's box, REGION_SIDES of its sides, cut out of the object or
    added to it (one half each): a missed part, or background taken in. An empty mask has no box
    and comes back as it is."""
    if not mask.any():
        return mask
    rows, columns = torch.nonzero(mask, as_tuple=True)
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(columns.min()), int(columns.max()) + 1
    low, high = REGION_SIDES
    box_height = max(1, round((bottom - top) * (low + (high - low) * _uniform())))
    box_width = max(1, round((right - left) * (low + (high - low) * _uniform())))
    centre_row = top + int(torch.randint(0, bottom - top, ()))
    centre_column = left + int(torch.randint(0, right - left, ()))
    changed = mask.clone()
    row_slice = slice(max(0, centre_row - box_height // 2), centre_row + (box_height + 1) // 2)
    column_slice = slice(max(0, centre_column - box_width // 2), centre_column + (box_width + 1) // 2)
    changed[row_slice, column_slice] = 0.0 if _uniform() < 0.5 else 1.0
    return changed


def _unless_empty(changed: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    return changed if changed.any() else before


def _uniform() -> float:
    return float(torch.rand(()))
