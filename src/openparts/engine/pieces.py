"""One part per connected piece, for parts whose segment falls apart (`predict.split_min_fraction`).

A query of a young model often takes two regions of one kind at once: both wheels of a car, both
arms of a person. The annotations, and so AP and the oracle metrics, count those as two parts.
Cutting such a part at its gaps gives each piece of at least `min_fraction` of the part's area a
part of its own, with the part's score; smaller pieces (specks at a boundary) stay with the
largest. The piece is taken on the part-map segment where there is one (what the oracle metrics
and the report read), else on the mask. The instance mask is shared out by nearness: each of its
pixels goes to the piece closest to it, so the new masks are disjoint and cover the old one.
Off (None) by default, as in the paper; bench-quality chooses the fraction on the dev images by
AP, as it chooses the classical baselines' parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from openparts.data import masks as mask_io

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def split_part(mask: np.ndarray, segment: np.ndarray | None, min_fraction: float) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(mask, segment) of each piece, the largest first; the part itself when it is whole."""
    region = mask if segment is None else segment
    if not region.any():
        return [(mask, segment)]
    rows, columns = ndimage.find_objects((mask | region).astype(np.int8))[0]  # all the work happens inside its box
    labels, count = ndimage.label(region[rows, columns], structure=_EIGHT_CONNECTED)
    if count <= 1:
        return [(mask, segment)]
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-areas, kind="stable")
    smallest = min_fraction * areas.sum()
    large = [int(label) + 1 for label in order if areas[label] >= smallest]
    if len(large) <= 1:
        return [(mask, segment)]
    piece_of_label = np.zeros(count + 1, dtype=np.int64)  # background and small pieces: the largest (0)
    piece_of_label[large] = np.arange(len(large))
    # each pixel of the window takes the label of its nearest region pixel (its own inside the region)
    _, (near_rows, near_columns) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    nearest = np.full(mask.shape, -1, dtype=np.int64)
    nearest[rows, columns] = piece_of_label[labels[near_rows, near_columns]]
    pieces = []
    for number in range(len(large)):
        own = nearest == number
        piece_segment = None if segment is None else segment & own
        piece_mask = mask & own
        if not piece_mask.any():  # a part-map piece where the mask itself is below 0.5
            piece_mask = region & own
        pieces.append((piece_mask, piece_segment))
    return pieces


def split_results(results: list[dict[str, Any]], min_fraction: float | None) -> list[dict[str, Any]]:
    """COCO results (as `Predictor.predict_dataset` writes them) with each part split as
    `split_part` does: for choosing the fraction on stored predictions without predicting again."""
    if min_fraction is None:
        return results
    split = []
    for result in results:
        segment = mask_io.decode(result["partition"]) if "partition" in result else None
        pieces = split_part(mask_io.decode(result["segmentation"]), segment, min_fraction)
        if len(pieces) == 1:
            split.append(result)
            continue
        for piece_mask, piece_segment in pieces:
            piece = {**result, "segmentation": mask_io.encode(piece_mask)}
            if piece_segment is not None:
                piece["partition"] = mask_io.encode(piece_segment)
            split.append(piece)
    return split
