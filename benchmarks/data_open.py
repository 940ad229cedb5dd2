"""How fast a large dataset opens: `PartDataset.open` on a 20k-image set vs a bare json.load.

Opening must stay lazy (index only, no masks or pixels decoded), so its cost should be close
to parsing the JSON. Prints both times and their ratio, measured in the same run.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from openparts.data import masks as mask_io
from openparts.data.dataset import FORMAT_NAME, PART_CATEGORY, PartDataset

log = logging.getLogger("benchmarks.data_open")

IMAGES = 20_000
PARTS_PER_IMAGE = 10


def write_large_annotations(root: Path) -> Path:
    rng = np.random.default_rng(0)
    masks = []
    for _ in range(50):  # a pool of realistic RLE strings, reused
        mask = np.zeros((512, 512), bool)
        top, left = rng.integers(0, 400, 2)
        mask[top : top + rng.integers(10, 110), left : left + rng.integers(10, 110)] = True
        masks.append(mask_io.encode(mask))
    images, annotations = [], []
    for image_id in range(1, IMAGES + 1):
        images.append(
            {
                "id": image_id,
                "file_name": f"{image_id}.jpg",
                "width": 512,
                "height": 512,
                "object_mask": masks[image_id % 50],
                "object_mask_source": "gt",
            }
        )
        for part in range(PARTS_PER_IMAGE):
            rle = masks[(image_id + part) % 50]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "segmentation": rle,
                    "area": 100,
                    "bbox": [0, 0, 10, 10],
                    "iscrowd": 0,
                    "part_class": "part",
                }
            )
    payload = {
        "info": {"format": FORMAT_NAME, "version": 1, "labeled": True},
        "categories": [PART_CATEGORY],
        "part_classes": ["part"],
        "images": images,
        "annotations": annotations,
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(payload))
    return path


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as folder:
        path = write_large_annotations(Path(folder))
        size_mb = path.stat().st_size / 1e6
        start = time.perf_counter()
        with open(path) as handle:
            json.load(handle)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        dataset = PartDataset.open(folder)
        opened = time.perf_counter() - start
        assert len(dataset) == IMAGES
    log.info("annotations.json: %d images, %d parts, %.0f MB", IMAGES, IMAGES * PARTS_PER_IMAGE, size_mb)
    log.info("json.load (baseline)      %.2f s", baseline)
    log.info("PartDataset.open          %.2f s  (ratio to baseline: %.2fx)", opened, opened / baseline)


if __name__ == "__main__":
    main()
