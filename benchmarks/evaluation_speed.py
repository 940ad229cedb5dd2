"""Instance-evaluation throughput: our default backend vs plain pycocotools, same run, same data.

    python benchmarks/evaluation_speed.py [--images 500 --parts 8 --predictions 50]

End to end, as `openparts evaluate` scores a predictions file: open the dataset, load the
predictions JSON, match and accumulate. Ground truth is 512x512 images with elliptical parts;
predictions are jittered copies of the parts plus random blobs, with random scores. Prints
both times, their ratio, and the largest difference between the two backends' metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from openparts.data import masks as mask_io
from openparts.data.dataset import FORMAT_NAME, PART_CATEGORY, PartDataset
from openparts.evaluation.instance_ap import evaluate_instances

log = logging.getLogger("benchmarks.evaluation_speed")
SIZE = 512


def ellipse(rng: np.random.Generator, grid: tuple[np.ndarray, np.ndarray], centre=None, radii=None) -> np.ndarray:
    rows, cols = grid
    cy, cx = centre if centre is not None else rng.uniform(40, SIZE - 40, 2)
    ry, rx = radii if radii is not None else rng.uniform(8, 60, 2)
    return ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0


def write_case(root: Path, images: int, parts: int, per_image: int) -> Path:
    rng = np.random.default_rng(0)
    grid = np.mgrid[0:SIZE, 0:SIZE]
    records, annotations, predictions = [], [], []
    for image_id in range(1, images + 1):
        records.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": SIZE, "height": SIZE})
        shapes = [(rng.uniform(60, SIZE - 60, 2), rng.uniform(10, 60, 2)) for _ in range(parts)]
        for centre, radii in shapes:
            mask = ellipse(rng, grid, centre, radii)
            rle = mask_io.encode(mask)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "segmentation": rle,
                    "area": mask_io.area(rle),
                    "bbox": mask_io.bbox(rle),
                    "iscrowd": 0,
                    "part_class": "part",
                }
            )
        for index in range(per_image):
            if index < 2 * parts:
                centre, radii = shapes[index % parts]
                mask = ellipse(rng, grid, centre + rng.normal(0, 4, 2), radii * rng.uniform(0.8, 1.2, 2))
            else:
                mask = ellipse(rng, grid)
            predictions.append({"image_id": image_id, "segmentation": mask_io.encode(mask), "score": float(rng.uniform())})
    payload = {
        "info": {"format": FORMAT_NAME, "version": 1, "labeled": True},
        "categories": [PART_CATEGORY],
        "part_classes": ["part"],
        "images": records,
        "annotations": annotations,
    }
    (root / "annotations.json").write_text(json.dumps(payload))
    path = root / "predictions.json"
    path.write_text(json.dumps(predictions))
    return path


def end_to_end(root: Path, predictions_path: Path, backend: str) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    dataset = PartDataset.open(root)
    with open(predictions_path, encoding="utf-8") as handle:
        predictions = json.load(handle)
    metrics = evaluate_instances(dataset, predictions, backend=backend)
    return time.perf_counter() - start, metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--predictions", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        predictions_path = write_case(root, args.images, args.parts, args.predictions)
        baseline, reference = end_to_end(root, predictions_path, "pycocotools")
        ours, metrics = end_to_end(root, predictions_path, "faster-coco-eval")
    difference = max(abs(metrics[name] - reference[name]) for name in reference)
    log.info("%d images x %d parts, %d predictions each (AP %.2f)", args.images, args.parts, args.predictions, reference["AP"])
    log.info("pycocotools (baseline)    %.2f s", baseline)
    log.info("openparts default         %.2f s  (%.1fx faster; largest metric difference %.1e)", ours, baseline / ours, difference)
    return 0 if difference <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
