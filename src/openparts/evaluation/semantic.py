"""Oracle semantic metrics (Sec. 4.5 of the paper): mIoU, fwIoU and mACC inside the object.

A class-agnostic prediction has no part classes, so an oracle names them. Exact definitions:

1. Region: the pixels of the image's object mask (ground-truth object). Nothing outside it
   counts, for predictions or ground truth.
2. Ground-truth map: each object pixel takes the `part_class` of the ground-truth part that
   covers it; object pixels no part covers (a car's unannotated roof) take the class
   `background`. Where ground-truth parts overlap, the later annotation wins.
3. Prediction map: a prediction's `partition` (its segment of the model's part map, see
   `openparts.engine.predict`: each pixel to the part of the largest class probability x mask
   probability) when it has one, which makes the segments disjoint; else its mask. They are
   painted in increasing score order, so where masks overlap the higher score wins (baselines
   give disjoint segments already). Each predicted part is named by the oracle after the
   ground-truth class it overlaps most inside the object (in pixels of its painted, visible
   area; `background` included). A part overlapping no object pixel is unmatched and paints
   nothing. Object pixels no prediction covers are `background`.
4. Confusion over all images of the set, over the classes present in the ground truth of the
   set (`background` included). IoU_c = TP / (TP + FP + FN); mIoU = mean IoU_c; fwIoU =
   sum_c (pixels of c / all pixels) x IoU_c; mACC = mean over c of TP / (TP + FN).
   Pixels predicted as a class absent from the set's ground truth cannot occur (the oracle
   only names ground-truth classes).

The oracle rewards over-segmentation: in the limit of one part per pixel every pixel is
named correctly and mIoU is 100. Report the number of segments per object beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from openparts.data import masks as mask_io
from openparts.data.dataset import PartDataset

BACKGROUND = "background"


def ground_truth_map(part_masks: np.ndarray, part_classes: list[str], class_index: dict[str, int]) -> np.ndarray:
    label_map = np.full(part_masks.shape[1:], class_index[BACKGROUND], dtype=np.int64)
    for mask, name in zip(part_masks, part_classes, strict=True):
        label_map[mask] = class_index[name]
    return label_map


def prediction_map(predicted: list[tuple[np.ndarray, float]], object_mask: np.ndarray, truth: np.ndarray, background: int) -> np.ndarray:
    """Paint predictions by increasing score, then name each by its largest ground-truth overlap."""
    owner = np.full(object_mask.shape, -1, dtype=np.int64)
    order = sorted(range(len(predicted)), key=lambda i: predicted[i][1])
    for index in order:
        owner[predicted[index][0] & object_mask] = index
    label_map = np.full(object_mask.shape, background, dtype=np.int64)
    inside = owner >= 0
    if not inside.any():
        return label_map
    owners, truths = owner[inside], truth[inside]
    number_of_classes = int(truth.max()) + 1
    votes = np.zeros((len(predicted), number_of_classes), dtype=np.int64)
    np.add.at(votes, (owners, truths), 1)
    named = votes.argmax(axis=1)
    label_map[inside] = named[owners]
    return label_map


def count_segments(segments: Iterable[np.ndarray], object_mask: np.ndarray) -> int:
    """The segments the oracle sees in an object: those with a pixel inside it. The one rule for
    `segments_per_object` and for cutting a baseline to the model's count (`@matched`)."""
    return sum(1 for segment in segments if (segment & object_mask).any())


class SemanticAccumulator:
    """Accumulates the confusion matrix over images; `metrics()` gives mIoU, fwIoU and mACC."""

    def __init__(self, class_names: Iterable[str]) -> None:
        names = sorted(set(class_names) - {BACKGROUND})
        self.class_names = [BACKGROUND, *names]
        self.class_index = {name: index for index, name in enumerate(self.class_names)}
        self.confusion = np.zeros((len(self.class_names),) * 2, dtype=np.int64)
        self.segments: list[int] = []

    def add(
        self, object_mask: np.ndarray, part_masks: np.ndarray, part_classes: list[str], predicted: list[tuple[np.ndarray, float]]
    ) -> None:
        truth = ground_truth_map(part_masks, part_classes, self.class_index)
        guess = prediction_map(predicted, object_mask, truth, self.class_index[BACKGROUND])
        size = len(self.class_names)
        self.confusion += np.bincount(truth[object_mask] * size + guess[object_mask], minlength=size * size).reshape(size, size)
        self.segments.append(count_segments([mask for mask, _ in predicted], object_mask))

    def class_iou(self) -> np.ndarray:
        """IoU of each of `class_names` (0 where a class is in neither map): which parts a
        method loses, behind the one mean."""
        true_positive = np.diag(self.confusion).astype(float)
        union = self.confusion.sum(axis=0) + self.confusion.sum(axis=1) - true_positive
        return np.divide(true_positive, union, out=np.zeros_like(true_positive), where=union > 0)

    def metrics(self) -> dict[str, float]:
        true_positive = np.diag(self.confusion).astype(float)
        truth_pixels = self.confusion.sum(axis=1).astype(float)
        present = truth_pixels > 0
        iou = self.class_iou()
        accuracy = np.divide(true_positive, truth_pixels, out=np.zeros_like(true_positive), where=truth_pixels > 0)
        frequency = truth_pixels / max(truth_pixels.sum(), 1.0)
        return {
            "mIoU": round(100 * float(iou[present].mean()) if present.any() else 0.0, 4),
            "fwIoU": round(100 * float((frequency * iou)[present].sum()), 4),
            "mACC": round(100 * float(accuracy[present].mean()) if present.any() else 0.0, 4),
            "segments_per_object": round(float(np.mean(self.segments)) if self.segments else 0.0, 2),
        }


def evaluate_semantic(dataset: PartDataset, predictions: list[dict[str, Any]]) -> dict[str, float]:
    """Oracle mIoU, fwIoU, mACC (percent) and segments per object for COCO-style predictions."""
    return accumulate_semantic(dataset, predictions).metrics()


def accumulate_semantic(dataset: PartDataset, predictions: list[dict[str, Any]]) -> SemanticAccumulator:
    """The confusion over every image of `dataset`, for analyses beyond the three means
    (`class_iou`, where each class's pixels went)."""
    by_image = _by_image(predictions)
    accumulator = SemanticAccumulator(dataset.part_classes)
    for index, record in enumerate(dataset.images):
        object_mask = _object_mask(dataset, index)
        parts = dataset.parts(record["id"])
        part_masks = np.stack([mask_io.decode(p["segmentation"]) for p in parts]) if parts else np.zeros((0, *object_mask.shape), bool)
        predicted = [(mask_io.map_segment(p), float(p["score"])) for p in by_image.get(record["id"], [])]
        accumulator.add(object_mask, part_masks, [p.get("part_class", "part") for p in parts], predicted)
    return accumulator


def segments_per_image(dataset: PartDataset, predictions: list[dict[str, Any]]) -> dict[int, int]:
    """Each image's number of predicted segments in its object, as `segments_per_object` counts
    them (part-map segments where the predictor made a part map): every image of the set, 0 where
    nothing was predicted."""
    by_image = _by_image(predictions)
    counts = {}
    for index, record in enumerate(dataset.images):
        object_mask = _object_mask(dataset, index)
        counts[record["id"]] = count_segments((mask_io.map_segment(p) for p in by_image.get(record["id"], [])), object_mask)
    return counts


def _by_image(predictions: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    by_image: dict[int, list[dict[str, Any]]] = {}
    for prediction in predictions:
        by_image.setdefault(prediction["image_id"], []).append(prediction)
    return by_image


def _object_mask(dataset: PartDataset, index: int) -> np.ndarray:
    object_mask = dataset.object_mask(index)
    if object_mask is None:
        image_id = dataset.images[index]["id"]
        raise ValueError(f"{dataset.root}: image {image_id} has no object mask; oracle metrics and segment counts are computed inside it")
    return object_mask
