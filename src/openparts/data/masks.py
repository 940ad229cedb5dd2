"""Binary masks <-> COCO run-length encoding and polygons, on top of pycocotools.

RLE is the one mask representation on disk: compact, exact, and what COCO evaluation reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

Rle = dict[str, Any]


def encode(mask: np.ndarray) -> Rle:
    """Encode an HxW boolean mask as a JSON-ready RLE ({"size": [h, w], "counts": str}). A bool
    mask laid out column-major, as the predictor makes them, is encoded without a copy."""
    if mask.ndim != 2:
        raise ValueError(f"expected an HxW mask, got shape {mask.shape}")
    as_bytes = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    rle = coco_mask.encode(np.asfortranarray(as_bytes))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _as_pycocotools(rle: Rle) -> dict[str, Any]:
    counts = rle["counts"]
    height, width = (int(v) for v in rle["size"])
    if isinstance(counts, list):  # uncompressed RLE as some COCO files store it
        return coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [height, width], "counts": counts}


def decode(rle: Rle) -> np.ndarray:
    """Decode an RLE (compressed or uncompressed counts) to an HxW boolean mask, row-major like
    the images: pycocotools decodes column-major, and torch ops between the two layouts take
    its slow strided path (`openparts.engine.predict.upsample_parts`)."""
    return coco_mask.decode(_as_pycocotools(rle)).astype(bool, order="C")


def map_segment(result: dict[str, Any]) -> np.ndarray:
    """A predicted part's pixels in its image's part map: the `partition` segment where the
    predictor made one (disjoint parts), else its instance mask (baselines, older results)."""
    return decode(result.get("partition", result["segmentation"]))


def iou(guesses: Sequence[Rle], truths: Sequence[Rle]) -> np.ndarray:
    """IoU of every guess (rows) with every truth (columns), computed on the RLEs."""
    if not guesses or not truths:
        return np.zeros((len(guesses), len(truths)))
    pairs = coco_mask.iou([_as_pycocotools(g) for g in guesses], [_as_pycocotools(t) for t in truths], [0] * len(truths))
    return np.asarray(pairs, dtype=float).reshape(len(guesses), len(truths))


def area(rle: Rle) -> int:
    return int(coco_mask.area(_as_pycocotools(rle)))


def bbox(rle: Rle) -> list[float]:
    """[x, y, width, height] of the mask, as COCO records it."""
    return [float(v) for v in coco_mask.toBbox(_as_pycocotools(rle))]


def check_rle(rle: Any, height: int, width: int) -> str | None:
    """Why `rle` is not a valid mask for an image of height x width, or None if it is."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        return "mask is not an RLE dict with 'size' and 'counts'"
    size = rle["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        return f"RLE size {size!r} is not [height, width]"
    if [int(size[0]), int(size[1])] != [height, width]:
        return f"RLE size {list(size)} does not match the image's [height, width] = [{height}, {width}]"
    counts = rle["counts"]
    if isinstance(counts, list):
        if sum(int(c) for c in counts) != height * width:
            return f"uncompressed RLE counts sum to {sum(counts)}, not {height * width} pixels"
        return None
    if not isinstance(counts, str):
        return f"RLE counts has type {type(counts).__name__}, expected a string or a list"
    try:
        decoded_area = area(rle)
    except Exception as error:  # pycocotools raises bare Exceptions on corrupt strings
        return f"RLE counts cannot be decoded ({error})"
    if decoded_area > height * width:
        return "RLE counts cover more pixels than the image has"
    return None


def normalize_polygons(segmentation: Any) -> tuple[list[list[float]], int]:
    """Turn COCO polygon segmentation into a list of flat [x0, y0, x1, y1, ...] lists.

    Accepts one flat list or a list of lists (both occur in the wild). Polygons with fewer
    than 3 points, an odd number of coordinates or non-numeric values are dropped; returns the
    kept polygons and how many were dropped, so callers can log the count.
    """
    if not isinstance(segmentation, list) or not segmentation:
        return [], 0 if segmentation in ([], None) else 1
    if all(isinstance(v, (int, float)) for v in segmentation):
        candidates: Sequence[Any] = [segmentation]
    else:
        candidates = segmentation
    kept, dropped = [], 0
    for polygon in candidates:
        if (
            isinstance(polygon, list)
            and len(polygon) >= 6
            and len(polygon) % 2 == 0
            and all(isinstance(v, (int, float)) and np.isfinite(v) for v in polygon)
        ):
            kept.append([float(v) for v in polygon])
        else:
            dropped += 1
    return kept, dropped


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Rasterise flat polygons (COCO pixel convention) into one HxW boolean mask."""
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    rles = coco_mask.frPyObjects(polygons, height, width)
    return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
