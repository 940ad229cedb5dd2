from pathlib import Path

import numpy as np
import pytest

from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.evaluation.instance_ap import BACKENDS, PredictionError, evaluate_instances

backends = pytest.mark.parametrize("backend", BACKENDS)


def as_predictions(dataset: PartDataset, category: int = 1) -> list[dict]:
    return [
        {"image_id": a["image_id"], "category_id": category, "segmentation": a["segmentation"], "score": 1.0} for a in dataset.annotations
    ]


def rows_and_columns(rows: slice, columns: slice) -> np.ndarray:
    mask = np.zeros((100, 100), bool)
    mask[rows, columns] = True
    return mask


@pytest.fixture
def two_bands(tmp_path: Path) -> PartDataset:
    """One image, two ground-truth parts of 4000 pixels each: rows 0-39 and rows 40-79."""
    image = np.full((100, 100, 3), 128, np.uint8)
    parts = [Part(rows_and_columns(slice(0, 40), slice(None))), Part(rows_and_columns(slice(40, 80), slice(None)))]
    with DatasetWriter(tmp_path / "bands", source="test") as writer:
        writer.add(image, "bands.png", parts, object_mask=rows_and_columns(slice(0, 80), slice(None)), object_mask_source="gt")
    return PartDataset.open(tmp_path / "bands")


@backends
def test_hand_computed_true_and_false_positives(two_bands: PartDataset, backend: str) -> None:
    # p1 equals part 1 (IoU 1); p2 covers 68 of part 2's 100 columns (IoU 0.68); p3 lies on background (IoU 0).
    # IoU thresholds 0.50-0.65: p1, p2 true positives, p3 false: precision 1 up to recall 1, AP 1.
    # IoU thresholds 0.70-0.95: only p1: precision 1 up to recall 0.5, i.e. 51 of COCO's 101 recall points.
    masks = [
        rows_and_columns(slice(0, 40), slice(None)),
        rows_and_columns(slice(40, 80), slice(0, 68)),
        rows_and_columns(slice(80, 100), slice(None)),
    ]
    predictions = [{"image_id": 1, "segmentation": mask_io.encode(m), "score": s} for m, s in zip(masks, (0.9, 0.8, 0.7), strict=True)]
    metrics = evaluate_instances(two_bands, predictions, backend=backend)
    assert metrics["AP50"] == pytest.approx(100.0)
    assert metrics["AP75"] == pytest.approx(100 * 51 / 101, abs=1e-3)
    assert metrics["AP"] == pytest.approx(100 * (4 + 6 * 51 / 101) / 10, abs=1e-3)


@backends
def test_ground_truth_as_predictions_scores_100(tiny_dataset: Path, backend: str) -> None:
    dataset = PartDataset.open(tiny_dataset)
    metrics = evaluate_instances(dataset, as_predictions(dataset), backend=backend)
    assert metrics["AP"] == pytest.approx(100.0) and metrics["AP50"] == pytest.approx(100.0)


@backends
def test_class_aware_labels_are_ignored(tiny_dataset: Path, backend: str) -> None:
    dataset = PartDataset.open(tiny_dataset)
    assert evaluate_instances(dataset, as_predictions(dataset, category=7), backend=backend)["AP"] == pytest.approx(100.0)


@backends
def test_empty_predictions_score_zero(tiny_dataset: Path, backend: str) -> None:
    assert evaluate_instances(PartDataset.open(tiny_dataset), [], backend=backend)["AP"] == 0.0


def test_predictions_for_unknown_images_are_rejected(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    bad = [{**as_predictions(dataset)[0], "image_id": 999}]
    with pytest.raises(PredictionError, match=r"image id\(s\) not in .*\[999\]"):
        evaluate_instances(dataset, bad)


def test_unknown_backend_is_rejected(tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="unknown evaluation backend 'detectron2'; valid: faster-coco-eval, pycocotools"):
        evaluate_instances(PartDataset.open(tiny_dataset), [], backend="detectron2")


def test_backends_agree_on_a_real_evaluation(car_parts: dict[str, Path]) -> None:
    """Imperfect predictions (shifted, eroded, merged and spurious parts) on real car-parts annotations."""
    from scipy import ndimage

    dataset = PartDataset.open(car_parts["test"])
    rng = np.random.default_rng(0)
    predictions = []
    for record in dataset.images[:40]:
        truths = [mask_io.decode(p["segmentation"]) for p in dataset.parts(record["id"])]
        for mask in truths:
            variants = [np.roll(mask, rng.integers(-15, 15, 2), axis=(0, 1)), ndimage.binary_erosion(mask, iterations=3), mask]
            predictions += [{"image_id": record["id"], "segmentation": mask_io.encode(v), "score": float(rng.uniform())} for v in variants]
        if len(truths) > 1:
            merged = truths[0] | truths[1]
            predictions.append({"image_id": record["id"], "segmentation": mask_io.encode(merged), "score": float(rng.uniform())})
    subset = [record["id"] for record in dataset.images[:25]]
    for image_ids in (None, subset):
        reference = evaluate_instances(dataset, predictions, image_ids, backend="pycocotools")
        fast = evaluate_instances(dataset, predictions, image_ids, backend="faster-coco-eval")
        assert 0 < reference["AP"] < 100
        assert fast == pytest.approx(reference, abs=1e-4)
