from __future__ import annotations

from pathlib import Path

import pytest
import torch

from openparts.data.mask_jitter import COARSE_CELLS, MAX_SHIFT, ObjectMaskJitter, change_region, coarsen, shift_boundary
from openparts.data.torch_dataset import PartSegmentationDataset


def object_mask(height: int = 96, width: int = 128) -> torch.Tensor:
    mask = torch.zeros(height, width)
    mask[20:76, 30:100] = 1.0
    return mask


def iou(first: torch.Tensor, second: torch.Tensor) -> float:
    return float((first.bool() & second.bool()).sum() / (first.bool() | second.bool()).sum())


def test_off_and_empty_masks_pass_through() -> None:
    mask = object_mask()
    assert ObjectMaskJitter(0.0)(mask) is mask
    empty = torch.zeros(32, 32)
    assert ObjectMaskJitter(1.0)(empty) is empty


@pytest.mark.parametrize("probability", [-0.1, 1.5])
def test_probability_outside_zero_to_one_is_refused(probability: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        ObjectMaskJitter(probability)


@pytest.mark.parametrize("seed", range(20))
def test_jittered_mask_is_binary_near_the_object_and_never_empty(seed: int) -> None:
    torch.manual_seed(seed)
    mask = object_mask()
    jittered = ObjectMaskJitter(1.0)(mask)
    assert jittered.shape == mask.shape and jittered.dtype == mask.dtype
    assert set(jittered.unique().tolist()) <= {0.0, 1.0}
    assert jittered.any()
    assert 0.3 < iou(jittered, mask) < 1.0


@pytest.mark.parametrize("seed", range(40))
def test_a_thin_object_that_a_step_would_wipe_out_keeps_a_mask(seed: int) -> None:
    """A two-pixel line erodes to nothing; the steps after the erosion must still get an object
    (this crashed fine-tuning on a pseudo-labelled image once)."""
    torch.manual_seed(seed)
    mask = torch.zeros(64, 64)
    mask[30:32, 4:60] = 1.0
    assert ObjectMaskJitter(1.0)(mask).any()


def test_region_change_leaves_an_empty_mask_alone() -> None:
    empty = torch.zeros(16, 16)
    assert change_region(empty) is empty


def test_boundary_shift_grows_or_shrinks_by_at_most_the_largest_radius() -> None:
    mask = object_mask()
    largest = round(MAX_SHIFT * float(mask.sum()) ** 0.5)
    grown = shrunk = 0
    for seed in range(30):
        torch.manual_seed(seed)
        shifted = shift_boundary(mask)
        rows, columns = torch.nonzero(shifted, as_tuple=True)
        if shifted.sum() > mask.sum():
            grown += 1
            assert (mask.bool() <= shifted.bool()).all()
            assert int(rows.min()) >= 20 - largest and int(columns.max()) <= 99 + largest
        else:
            shrunk += 1
            assert (shifted.bool() <= mask.bool()).all()
            assert int(rows.min()) <= 20 + largest
    assert grown and shrunk


@pytest.mark.parametrize("seed", range(5))
def test_coarsened_boundary_follows_the_grid_and_keeps_the_object(seed: int) -> None:
    mask = torch.zeros(64, 64)
    mask[10:50, 5:60] = 1.0
    mask[30:50, 40:60] = 0.0  # a notch the grid blurs, not a missing object
    torch.manual_seed(seed)
    cell = int(torch.randint(COARSE_CELLS[0], COARSE_CELLS[1] + 1, ()))  # the draw coarsen makes first
    torch.manual_seed(seed)
    coarse = coarsen(mask)
    assert coarse.shape == mask.shape
    for top in range(0, 64, cell):
        for left in range(0, 64, cell):
            assert coarse[top : top + cell, left : left + cell].unique().numel() == 1
    assert iou(coarse, mask) > 0.6


def test_region_change_cuts_or_adds_one_rectangle_inside_the_box() -> None:
    mask = object_mask()
    cut = added = 0
    for seed in range(30):
        torch.manual_seed(seed)
        changed = change_region(mask)
        difference = changed != mask
        if not difference.any():
            continue
        rows, columns = torch.nonzero(difference, as_tuple=True)
        box_height, box_width = int(rows.max() - rows.min()) + 1, int(columns.max() - columns.min()) + 1
        assert box_height <= round(0.4 * 56) + 1 and box_width <= round(0.4 * 70) + 1
        if changed.sum() < mask.sum():
            cut += 1
        else:
            added += 1
    assert cut and added


def test_a_seeded_jitter_repeats() -> None:
    torch.manual_seed(3)
    first = ObjectMaskJitter(1.0)(object_mask())
    torch.manual_seed(3)
    assert torch.equal(first, ObjectMaskJitter(1.0)(object_mask()))


def test_dataset_jitters_the_input_channel_only(tiny_dataset: Path) -> None:
    plain = PartSegmentationDataset(tiny_dataset)
    jittered = PartSegmentationDataset(tiny_dataset, object_mask_jitter=ObjectMaskJitter(1.0))
    torch.manual_seed(0)
    inputs, target = jittered[0]
    plain_inputs, plain_target = plain[0]
    assert torch.equal(inputs[:3], plain_inputs[:3])
    assert not torch.equal(inputs[3], plain_inputs[3])
    assert torch.equal(target["object_mask"], plain_target["object_mask"])
    assert torch.equal(target["masks"], plain_target["masks"])
