from pathlib import Path

import numpy as np
import pytest

from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, PartDataset
from openparts.evaluation.semantic import BACKGROUND, SemanticAccumulator, evaluate_semantic, segments_per_image
from tests.conftest import square_parts


def test_ground_truth_as_predictions_scores_100(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    predictions = [{"image_id": a["image_id"], "segmentation": a["segmentation"], "score": 1.0} for a in dataset.annotations]
    metrics = evaluate_semantic(dataset, predictions)
    # the object has unannotated pixels (background); predicting nothing there is also right
    assert metrics["mIoU"] == pytest.approx(100.0) and metrics["mACC"] == pytest.approx(100.0)
    assert metrics["fwIoU"] == pytest.approx(100.0) and metrics["segments_per_object"] == 2.0


def test_hand_computed_case_with_overlap_resolved_by_score() -> None:
    object_mask = np.zeros((1, 4), bool)
    object_mask[0, :] = True
    truth = np.zeros((2, 1, 4), bool)
    truth[0, 0, :2] = True  # class a: pixels 0-1
    truth[1, 0, 2:] = True  # class b: pixels 2-3
    low = np.zeros((1, 4), bool)
    low[0, :3] = True  # covers 0-2, score 0.2
    high = np.zeros((1, 4), bool)
    high[0, 2:] = True  # covers 2-3, score 0.9: wins pixel 2
    accumulator = SemanticAccumulator(["a", "b"])
    accumulator.add(object_mask, truth, ["a", "b"], [(low, 0.2), (high, 0.9)])
    # low keeps pixels 0-1 -> named a; high keeps 2-3 -> named b: a perfect map
    assert accumulator.metrics()["mIoU"] == pytest.approx(100.0 * 2 / 2)  # background absent from the truth


def test_one_segment_for_the_whole_object_scores_its_majority_class() -> None:
    object_mask = np.ones((1, 4), bool)
    truth = np.zeros((2, 1, 4), bool)
    truth[0, 0, :3] = True
    truth[1, 0, 3:] = True
    accumulator = SemanticAccumulator(["a", "b"])
    accumulator.add(object_mask, truth, ["a", "b"], [(np.ones((1, 4), bool), 1.0)])
    metrics = accumulator.metrics()
    assert metrics["mIoU"] == pytest.approx(100 * (3 / 4 + 0) / 2)  # a: 3/4, b: 0
    assert metrics["mACC"] == pytest.approx(100 * (1 + 0) / 2)
    assert metrics["fwIoU"] == pytest.approx(100 * 0.75 * 0.75)
    # per class, which the mean hides; background is in neither map: 0, not NaN
    assert accumulator.class_names == [BACKGROUND, "a", "b"]
    assert accumulator.class_iou() == pytest.approx([0.0, 3 / 4, 0.0])


def test_no_predictions_leave_everything_background() -> None:
    object_mask = np.ones((2, 2), bool)
    truth = np.ones((1, 2, 2), bool)
    accumulator = SemanticAccumulator(["a"])
    accumulator.add(object_mask, truth, ["a"], [])
    assert accumulator.metrics()["mIoU"] == 0.0
    assert accumulator.class_names[0] == BACKGROUND


def test_partition_is_scored_instead_of_the_mask_when_a_prediction_has_one(tiny_dataset: Path) -> None:
    """A model's part map decides the oracle map: a confident whole-object mask that would cover
    every part when painted keeps only the pixels of its partition segment (none here)."""
    dataset = PartDataset.open(tiny_dataset)
    predictions = []
    for index, record in enumerate(dataset.images):
        nothing = mask_io.encode(np.zeros_like(dataset.object_mask(index)))
        predictions.append(
            {"image_id": record["id"], "segmentation": mask_io.encode(dataset.object_mask(index)), "partition": nothing, "score": 0.9}
        )
        for part in dataset.parts(record["id"]):
            predictions.append(
                {"image_id": record["id"], "segmentation": part["segmentation"], "partition": part["segmentation"], "score": 0.5}
            )
    painted = [{key: value for key, value in p.items() if key != "partition"} for p in predictions]
    assert evaluate_semantic(dataset, predictions)["mIoU"] == pytest.approx(100.0)
    assert evaluate_semantic(dataset, painted)["mIoU"] < 100.0


def test_segments_per_image_counts_part_map_segments_inside_the_object(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    first, *others = dataset.images
    whole = dataset.object_mask(0)
    outside = ~whole
    predictions = [
        {"image_id": first["id"], "segmentation": mask_io.encode(whole), "partition": mask_io.encode(whole), "score": 0.9},
        {"image_id": first["id"], "segmentation": mask_io.encode(whole), "partition": mask_io.encode(np.zeros_like(whole)), "score": 0.5},
        {"image_id": first["id"], "segmentation": mask_io.encode(outside), "score": 0.4},  # no part map: its mask, outside the object
    ]
    counts = segments_per_image(dataset, predictions)
    assert counts == {first["id"]: 1, **{record["id"]: 0 for record in others}}
    assert evaluate_semantic(dataset, predictions)["segments_per_object"] == pytest.approx(sum(counts.values()) / len(counts), abs=0.005)


def test_an_image_without_an_object_mask_is_named(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "no-objects", source="test") as writer:
        image, parts, _ = square_parts()
        writer.add(image, "img0.png", parts)
    dataset = PartDataset.open(tmp_path / "no-objects")
    for measure in (evaluate_semantic, segments_per_image):
        with pytest.raises(ValueError, match=r"no-objects: image \d+ has no object mask"):
            measure(dataset, [])
