from pathlib import Path

import numpy as np
import pytest
import torch

from openparts.config import resolve
from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.engine.pieces import split_part, split_results
from openparts.engine.predict import Predictor
from openparts.model import build_model


def two_wheels() -> tuple[np.ndarray, np.ndarray]:
    """A part whose segment is two wheels (the right one larger) and whose mask also covers the
    axle between them, which another part owns in the part map."""
    segment = np.zeros((20, 40), bool)
    segment[5:15, 2:10] = True  # 80 pixels
    segment[4:16, 26:36] = True  # 120 pixels
    mask = segment.copy()
    mask[9:11, 10:26] = True  # the axle
    return mask, segment


def test_a_part_in_two_pieces_becomes_two_parts_sharing_its_mask_out() -> None:
    mask, segment = two_wheels()
    (first_mask, first_segment), (second_mask, second_segment) = split_part(mask, segment, 0.1)
    np.testing.assert_array_equal(first_segment, segment & (np.arange(40) >= 20))  # the larger wheel first
    np.testing.assert_array_equal(second_segment, segment & (np.arange(40) < 20))
    assert not (first_mask & second_mask).any()
    np.testing.assert_array_equal(first_mask | second_mask, mask)
    # each half of the axle goes to the nearer wheel
    assert first_mask[9:11, 19:26].all() and second_mask[9:11, 10:17].all()


def test_pieces_under_the_fraction_stay_with_the_largest() -> None:
    mask, segment = two_wheels()
    speck = np.zeros_like(segment)
    speck[0, 39] = True
    pieces = split_part(mask | speck, segment | speck, 0.1)
    assert len(pieces) == 2
    assert pieces[0][1][0, 39]  # the speck (1 of 201 pixels) joins the largest piece
    whole = split_part(mask, segment, 0.45)  # the smaller wheel is 40 % of the part
    assert len(whole) == 1 and whole[0][0] is mask and whole[0][1] is segment


def test_without_a_part_map_the_mask_itself_is_split() -> None:
    _, segment = two_wheels()
    pieces = split_part(segment, None, 0.0)
    assert [piece_segment for _, piece_segment in pieces] == [None, None]
    assert [int(piece_mask.sum()) for piece_mask, _ in pieces] == [120, 80]


def test_a_piece_outside_the_mask_keeps_its_segment_as_mask() -> None:
    """The part map can give a part pixels where its own mask is under 0.5."""
    mask, segment = two_wheels()
    mask[:, :20] = False
    pieces = split_part(mask, segment, 0.1)
    np.testing.assert_array_equal(pieces[1][0], pieces[1][1])


def test_splitting_stored_results_gives_what_the_predictor_gives(tmp_path: Path) -> None:
    """bench-quality chooses the fraction on stored predictions: they must split as prediction does."""
    rng = np.random.default_rng(1)
    with DatasetWriter(tmp_path / "set", source="test") as writer:
        for index in range(2):
            image = rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)
            obj = np.zeros((70, 90), bool)  # an object in two pieces: a part on both falls apart
            obj[5:-5, 5:40] = True
            obj[5:-5, 50:-5] = True
            writer.add(image, f"{index}.png", [Part(obj)], object_mask=obj, object_mask_source="gt")
    dataset = PartDataset.open(tmp_path / "set")
    torch.manual_seed(0)
    model = build_model(resolve("tiny")["model"])
    config = {**resolve("tiny")["predict"], "post_aware": True}
    whole = Predictor(model, config, "cpu").predict_dataset(dataset, progress=False)
    split = Predictor(model, {**config, "split_min_fraction": 0.05}, "cpu").predict_dataset(dataset, progress=False)
    assert len(split) > len(whole)
    assert split_results(whole, 0.05) == split
    assert split_results(whole, None) is whole
    for record in dataset.images:  # still a partition of the object
        segments = np.stack([mask_io.decode(r["partition"]) for r in split if r["image_id"] == record["id"]])
        assert segments.sum(axis=0).max() == 1


def test_the_predictor_refuses_a_bad_fraction_before_predicting() -> None:
    torch.manual_seed(0)
    model = build_model(resolve("tiny")["model"])
    with pytest.raises(ValueError, match="split_min_fraction"):
        Predictor(model, {**resolve("tiny")["predict"], "split_min_fraction": 2}, "cpu")
