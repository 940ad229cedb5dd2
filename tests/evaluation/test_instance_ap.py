from pathlib import Path

import pytest

from openparts.data.dataset import PartDataset
from openparts.evaluation.instance_ap import PredictionError, evaluate_instances


def as_predictions(dataset: PartDataset, category: int = 1) -> list[dict]:
    return [
        {"image_id": a["image_id"], "category_id": category, "segmentation": a["segmentation"], "score": 1.0} for a in dataset.annotations
    ]


def test_ground_truth_as_predictions_scores_100(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    metrics = evaluate_instances(dataset, as_predictions(dataset))
    assert metrics["AP"] == pytest.approx(100.0) and metrics["AP50"] == pytest.approx(100.0)


def test_class_aware_labels_are_ignored(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    assert evaluate_instances(dataset, as_predictions(dataset, category=7))["AP"] == pytest.approx(100.0)


def test_empty_predictions_score_zero(tiny_dataset: Path) -> None:
    assert evaluate_instances(PartDataset.open(tiny_dataset), [])["AP"] == 0.0


def test_predictions_for_unknown_images_are_rejected(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    bad = [{**as_predictions(dataset)[0], "image_id": 999}]
    with pytest.raises(PredictionError, match=r"image id\(s\) not in .*\[999\]"):
        evaluate_instances(dataset, bad)
