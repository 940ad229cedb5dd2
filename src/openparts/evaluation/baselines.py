"""Classical segmenters as part baselines (Table 5): SLIC, Felzenszwalb, normalized cut.

Each runs on the object's bounding box and keeps only pixels inside the object mask, so no
segment ever leaves the object. Every connected segment is one part instance; its score is
its share of the object's area (larger segments are more often whole parts, and COCO AP
needs a ranking). Parameters are chosen on a dev split for AP (`tune`), never on test data:
the oracle mIoU rewards over-segmentation, so tuning for it would pick shredded objects.
`max_segments` keeps only the largest segments, for comparisons at a matched number of
segments per object (`report.keep_top` does the same on finished predictions).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage import graph
from skimage.segmentation import felzenszwalb, slic
from tqdm import tqdm

from openparts.cpus import available_cpus, fork_context
from openparts.data import masks as mask_io
from openparts.data.dataset import PartDataset


def _slic(image: np.ndarray, mask: np.ndarray, n_segments: int = 16, compactness: float = 10.0) -> np.ndarray:
    return slic(image, n_segments=n_segments, compactness=compactness, mask=mask, start_label=1, channel_axis=-1)


def _felzenszwalb(image: np.ndarray, mask: np.ndarray, scale: float = 400.0, sigma: float = 0.8) -> np.ndarray:
    return felzenszwalb(image, scale=scale, sigma=sigma, min_size=max(20, int(scale / 4))) + 1


def _normalized_cut(image: np.ndarray, mask: np.ndarray, threshold: float = 0.05, superpixels: int = 100) -> np.ndarray:
    labels = slic(image, n_segments=superpixels, compactness=20.0, mask=mask, start_label=1, channel_axis=-1)
    if labels.max() < 2:
        return labels
    rag = graph.rag_mean_color(image, labels, mode="similarity")
    # the eigen-solver starts from a random vector: seeded, so that a rerun of evaluate gives the same numbers
    return graph.cut_normalized(labels, rag, thresh=threshold, rng=0) + 1


METHODS: dict[str, Callable[..., np.ndarray]] = {"slic": _slic, "felzenszwalb": _felzenszwalb, "ncut": _normalized_cut}
SEARCH_SPACE: dict[str, list[dict[str, Any]]] = {
    "slic": [{"n_segments": n} for n in (4, 8, 12, 16, 24, 32)],
    "felzenszwalb": [{"scale": s} for s in (100.0, 200.0, 400.0, 800.0, 1600.0)],
    "ncut": [{"threshold": t} for t in (0.01, 0.05, 0.1, 0.2)],
}


@dataclass
class Segment:
    mask: np.ndarray
    score: float


def segment_object(
    method: str, image: np.ndarray, object_mask: np.ndarray, max_segments: int | None = None, **params: Any
) -> list[Segment]:
    """Segments of the object (full-image masks, inside `object_mask`), largest first."""
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    if not object_mask.any():
        return []
    rows, cols = np.nonzero(object_mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop, crop_mask = image[top:bottom, left:right], object_mask[top:bottom, left:right]
    labels = METHODS[method](crop, crop_mask, **params)
    labels = np.where(crop_mask, labels, 0)
    area = crop_mask.sum()
    segments = []
    for label in np.unique(labels[labels > 0]):
        full = np.zeros_like(object_mask)
        full[top:bottom, left:right] = labels == label
        segments.append(Segment(full, float(full.sum() / area)))
    segments.sort(key=lambda segment: -segment.score)
    return segments[:max_segments] if max_segments else segments


def predict_baseline(
    dataset: PartDataset,
    method: str,
    params: dict[str, Any] | None = None,
    indices: Sequence[int] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """COCO results for a baseline over (some of) a dataset, using its object masks.

    The segmenters run on one core each (NCut takes seconds per image), so `workers` processes
    (default: the CPUs this process may use) take whole images side by side. The results do not
    depend on their number."""
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(METHODS)}")
    chosen = list(range(len(dataset)) if indices is None else indices)
    workers = max(1, min(available_cpus() if workers is None else workers, len(chosen)))
    bar = tqdm(total=len(chosen), desc=method, unit="img", disable=not progress)
    results: list[dict[str, Any]] = []
    if workers == 1:
        for index in chosen:
            results += _image_results(dataset, index, method, params or {})
            bar.update()
    else:
        context = fork_context()  # workers get the dataset from the parent's memory, not pickled
        task = functools.partial(_image_results_in_worker, method=method, params=params or {})
        chunk = max(1, len(chosen) // (workers * 8))  # small chunks: images differ in cost
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(dataset,)) as pool:
            for image_results in pool.map(task, chosen, chunksize=chunk):
                results += image_results
                bar.update()
    bar.close()
    return results


def _image_results(dataset: PartDataset, index: int, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    image_id = dataset.images[index]["id"]
    return [
        {"image_id": image_id, "category_id": 1, "segmentation": mask_io.encode(segment.mask), "score": segment.score}
        for segment in segment_object(method, dataset.read_image(index), dataset.object_mask(index), **params)
    ]


_worker_dataset: PartDataset | None = None  # the dataset a pool worker segments, set once when it starts


def _start_worker(dataset: PartDataset) -> None:
    global _worker_dataset
    _worker_dataset = dataset


def _image_results_in_worker(index: int, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    assert _worker_dataset is not None, "started without _start_worker"
    return _image_results(_worker_dataset, index, method, params)


def tune(dataset: PartDataset, method: str, indices: Sequence[int]) -> tuple[dict[str, Any], dict[str, float]]:
    """The parameters with the best AP on the dev images `indices`, and every candidate's AP."""
    from openparts.evaluation.instance_ap import evaluate_instances

    image_ids = [dataset.images[i]["id"] for i in indices]
    scores = {}
    for params in SEARCH_SPACE[method]:
        predictions = predict_baseline(dataset, method, params, indices, progress=False)
        scores[repr(params)] = evaluate_instances(dataset, predictions, image_ids)["AP"]
    best = max(SEARCH_SPACE[method], key=lambda params: scores[repr(params)])
    return best, scores
