"""Class-agnostic instance metrics: COCO segm AP with every part as one class.

The paper evaluates every model this way (Sec. 4.1), whether it was trained with part
classes or not: ground-truth and predicted `category_id`s are all set to 1 before matching.
pycocotools is the reference implementation; faster-coco-eval (the same COCO protocol in
C++) is the default backend because it gives the same numbers (tested to 1e-4 on real
evaluations) several times faster (`benchmarks/evaluation_speed.py`). `backend="pycocotools"`
selects the reference.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import numpy as np

from openparts.data.dataset import PartDataset

log = logging.getLogger(__name__)

BACKENDS = ("faster-coco-eval", "pycocotools")
DEFAULT_BACKEND = "faster-coco-eval"
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


def evaluate_instances(
    dataset: PartDataset,
    predictions: list[dict[str, Any]],
    image_ids: list[int] | None = None,
    backend: str = DEFAULT_BACKEND,
) -> dict[str, float]:
    """COCO segm metrics in percent (AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l), class-agnostic.

    `image_ids` restricts scoring to those images (e.g. a dev subset); by default all count.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown evaluation backend {backend!r}; valid: {', '.join(BACKENDS)}")
    check_predictions(dataset, predictions)
    if not predictions:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    relabelled = [{**p, "category_id": 1} for p in predictions]
    with contextlib.redirect_stdout(io.StringIO()):
        stats = _coco_stats(ground_truth(dataset), relabelled, image_ids, backend)
    stats = np.maximum(stats[: len(METRIC_NAMES)], 0.0) * 100.0  # COCO reports -1 where nothing applies
    return {name: round(float(value), 4) for name, value in zip(METRIC_NAMES, stats, strict=True)}


def _coco_stats(truth: dict[str, Any], predictions: list[dict[str, Any]], image_ids: list[int] | None, backend: str) -> np.ndarray:
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Evaluator

        quiet = {}
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Evaluator

        quiet = {"print_function": log.debug}
    coco_gt = COCO(**quiet)
    coco_gt.dataset = truth
    coco_gt.createIndex()
    if backend == "pycocotools":
        coco_dt = coco_gt.loadRes(predictions)  # adds area, bbox and id to these copies
    else:
        coco_dt = _results(COCO(**quiet), truth, predictions)
    evaluator = Evaluator(coco_gt, coco_dt, iouType="segm", **quiet)
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return np.asarray(evaluator.stats, dtype=float)


def _results(coco_dt: Any, truth: dict[str, Any], predictions: list[dict[str, Any]]) -> Any:
    """What `COCO.loadRes` builds for segm results, with areas and boxes computed in one call each.

    loadRes computes them one annotation at a time, which is a third of the evaluation's time.
    """
    from faster_coco_eval.core import mask as coco_mask

    rles = [p["segmentation"] for p in predictions]
    areas = coco_mask.area(rles)
    boxes = coco_mask.toBbox(rles)
    annotations = [
        {**p, "area": float(area), "bbox": [float(v) for v in box], "id": index + 1, "iscrowd": 0}
        for index, (p, area, box) in enumerate(zip(predictions, areas, boxes, strict=True))
    ]
    coco_dt.dataset = {"images": truth["images"], "categories": truth["categories"], "annotations": annotations}
    coco_dt.createIndex()
    return coco_dt
