import numpy as np
from scipy import ndimage

from openparts.data.object_masks import close_and_fill, count_holes, object_mask_from_parts


def closing_by_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """The textbook closing, by a disk structuring element on a background margin, then hole filling."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = x**2 + y**2 <= radius**2
    padded = np.pad(mask, radius + 1)
    closed = ndimage.binary_erosion(ndimage.binary_dilation(padded, disk), disk, border_value=1) | padded
    inner = slice(radius + 1, -(radius + 1))
    return ndimage.binary_fill_holes(closed)[inner, inner]


def test_closing_equals_the_disk_closing_for_small_objects_and_objects_on_the_border() -> None:
    rng = np.random.default_rng(0)
    for corner in ((40, 50), (0, 0), (70, 0)):  # inside; touching two borders; touching the bottom and left
        mask = np.zeros((90, 120), bool)
        mask[corner[0] : corner[0] + 20, corner[1] : corner[1] + 30] = rng.random((20, 30)) > 0.3
        np.testing.assert_array_equal(close_and_fill(mask, 4), closing_by_disk(mask, 4))


def test_gaps_are_bridged_holes_filled_and_the_parts_kept() -> None:
    parts = np.zeros((2, 60, 60), bool)
    parts[0, 10:50, 10:28] = True
    parts[1, 10:50, 31:50] = True  # a 3-pixel gap between the two parts
    parts[1, 25:30, 36:42] = False  # a hole inside the second part
    obj = object_mask_from_parts(parts)
    assert obj[30, 29] and obj[27, 38]  # the gap and the hole
    assert not (parts.any(axis=0) & ~obj).any() and count_holes(obj) == 0
    assert not obj[:5].any()  # the silhouette is kept: nothing far from the parts


def test_an_empty_mask_stays_empty() -> None:
    assert not close_and_fill(np.zeros((8, 8), bool), 3).any()
