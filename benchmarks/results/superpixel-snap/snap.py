"""A rejected idea, kept so that its numbers can be reproduced: snap OPS's part map to SLIC superpixels.

Each superpixel inside the object goes to the part that owns most of its pixels in the part map;
the oracle mIoU is scored before and after. Run from the repository root, on a bench-quality work
folder whose OPS stage is trained:

    PYTHONPATH=. python benchmarks/results/superpixel-snap/snap.py --work outputs/q2000c-split --split 0.2 --sets carparts-test
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np
from skimage.segmentation import slic

from benchmarks.quality_data import POOL_SETS, SETS
from openparts.config import resolve
from openparts.data import masks as mask_io
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.semantic import evaluate_semantic
from openparts.model import load_model

log = logging.getLogger("snap")


def snapped(results: list[dict[str, Any]], dataset: PartDataset, index: int, superpixels: int) -> list[dict[str, Any]]:
    """The image's results with each part-map segment replaced by the superpixels it owns most of."""
    if not results:
        return results
    object_mask, image = dataset.object_mask(index), dataset.read_image(index)
    rows, cols = np.nonzero(object_mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    labels = np.zeros(object_mask.shape, np.int64)
    box = (slice(top, bottom), slice(left, right))
    labels[box] = slic(image[box], n_segments=superpixels, compactness=10.0, mask=object_mask[box], start_label=1, channel_axis=-1)
    owner = np.full(object_mask.shape, -1, np.int64)
    for k in sorted(range(len(results)), key=lambda k: results[k]["score"]):
        owner[mask_io.map_segment(results[k]) & object_mask] = k
    snapped_owner = owner.copy()
    for label in np.unique(labels[labels > 0]):
        where = labels == label
        owners = owner[where]
        owners = owners[owners >= 0]
        if len(owners):
            snapped_owner[where] = np.bincount(owners).argmax()
    return [{**result, "partition": mask_io.encode(snapped_owner == k)} for k, result in enumerate(results)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="outputs/q2000c-split")
    parser.add_argument("--split", type=float, help="predict.split_min_fraction (the dev images chose 0.2 for this model)")
    parser.add_argument("--superpixels", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(POOL_SETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    predictor = Predictor(
        load_model(f"{args.work}/stages/ops/model"), {**resolve("cpu")["predict"], "post_aware": True, "split_min_fraction": args.split}
    )
    for name in args.sets:
        truth = PartDataset.open(f"{args.work}/data/eval/{name}")
        for masks, suffix in (("imperfect", "-salient"), ("perfect", "")):
            given = PartDataset.open(f"{args.work}/data/eval/{name}{suffix}")
            results = predictor.predict_dataset(given, progress=False)
            by_image: dict[int, list[dict[str, Any]]] = {}
            for result in results:
                by_image.setdefault(result["image_id"], []).append(result)
            line = f"{name} {masks}: mIoU {evaluate_semantic(truth, results)['mIoU']:.2f}"
            for superpixels in args.superpixels:
                moved = [r for i, record in enumerate(given.images) for r in snapped(by_image.get(record["id"], []), given, i, superpixels)]
                line += f" | snapped to {superpixels} superpixels {evaluate_semantic(truth, moved)['mIoU']:.2f}"
            log.info("%s", line)


if __name__ == "__main__":
    main()
