import numpy as np
import pytest

from openparts.data import masks as mask_io


def test_rle_round_trip_keeps_every_pixel() -> None:
    mask = np.random.default_rng(0).random((7, 9)) > 0.5
    rle = mask_io.encode(mask)
    assert rle["size"] == [7, 9] and isinstance(rle["counts"], str)
    decoded = mask_io.decode(rle)
    np.testing.assert_array_equal(decoded, mask)
    assert decoded.flags.c_contiguous  # row-major like the images, whatever order pycocotools decodes in
    assert mask_io.area(rle) == mask.sum()


def test_encoding_reads_any_layout_and_mask_type() -> None:
    """Column-major bool masks (the predictor's), row-major ones, strided views and 0/1 integers
    give the same RLE."""
    mask = np.random.default_rng(1).random((7, 9)) > 0.5
    expected = mask_io.encode(mask)
    assert mask_io.encode(np.asfortranarray(mask)) == expected
    assert mask_io.encode(np.pad(mask, 1)[1:-1, 1:-1]) == expected
    assert mask_io.encode(mask.astype(np.int64)) == expected


def test_encode_rejects_a_stack_of_masks() -> None:
    with pytest.raises(ValueError, match="HxW"):
        mask_io.encode(np.zeros((2, 4, 4), bool))


def test_map_segment_prefers_the_part_map_and_falls_back_to_the_mask() -> None:
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    segment = np.zeros((4, 4), bool)
    segment[0] = True
    result = {"segmentation": mask_io.encode(mask), "score": 0.9}
    np.testing.assert_array_equal(mask_io.map_segment(result), mask)
    np.testing.assert_array_equal(mask_io.map_segment({**result, "partition": mask_io.encode(segment)}), segment)


def test_iou_pairs_every_guess_with_every_truth() -> None:
    left = np.zeros((4, 4), bool)
    left[:, :2] = True
    top = np.zeros((4, 4), bool)
    top[:2] = True
    ious = mask_io.iou([mask_io.encode(left), mask_io.encode(top)], [mask_io.encode(left)])
    np.testing.assert_allclose(ious, [[1.0], [4 / 12]])
    assert mask_io.iou([], [mask_io.encode(left)]).shape == (0, 1)
