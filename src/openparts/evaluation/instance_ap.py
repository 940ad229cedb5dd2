"""Class-agnostic instance metrics: COCO segm AP with every part as one class.

The paper evaluates every model this way (Sec. 4.1), whether it was trained with part
classes or not: ground-truth and predicted `category_id`s are all set to 1 before matching.
pycocotools is the reference implementation.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from openparts.data.dataset import PartDataset

log = logging.getLogger(__name__)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


class PredictionError(ValueError):
    """Predictions that cannot be scored against the ground truth (e.g. unknown image ids)."""


def ground_truth(dataset: PartDataset) -> dict[str, Any]:
    """The dataset as a class-agnostic COCO ground truth."""
    annotations = []
    for annotation in dataset.annotations:
        entry = {key: annotation[key] for key in ("id", "image_id", "segmentation", "area", "bbox")}
        annotations.append({**entry, "category_id": 1, "iscrowd": 0})
    images = [{key: record[key] for key in ("id", "file_name", "width", "height")} for record in dataset.images]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "part"}]}


def check_predictions(dataset: PartDataset, predictions: list[dict[str, Any]]) -> None:
    known = {record["id"] for record in dataset.images}
    unknown = sorted({p["image_id"] for p in predictions} - known)
    if unknown:
        raise PredictionError(f"predictions for {len(unknown)} image id(s) not in {dataset.root}: {unknown[:10]}")


def evaluate_instances(dataset: PartDataset, predictions: list[dict[str, Any]], image_ids: list[int] | None = None) -> dict[str, float]:
    """COCO segm metrics in percent (AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l), class-agnostic.

    `image_ids` restricts scoring to those images (e.g. a dev subset); by default all count.
    """
    check_predictions(dataset, predictions)
    if not predictions:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = ground_truth(dataset)
        coco_gt.createIndex()
        relabelled = [{**copy.copy(p), "category_id": 1} for p in predictions]
        coco_dt = coco_gt.loadRes(relabelled)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        if image_ids is not None:
            evaluator.params.imgIds = sorted(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.maximum(evaluator.stats, 0.0) * 100.0  # pycocotools reports -1 where nothing applies
    return {name: round(float(value), 4) for name, value in zip(METRIC_NAMES, stats, strict=True)}
