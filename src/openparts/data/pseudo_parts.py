"""Pseudo parts on disk: one label map per image plus a manifest, beside the unlabeled dataset.

A label map is a PNG (uint8) at the image's own resolution: 0 where the pixel is not part of
the object (ignored by the losses), i + 1 for cluster i (so at most 254 clusters). The
manifest records the dataset it belongs to (by content: image ids and sizes), K, and per image
the file and the number of clusters used; images whose object has no pixel at the feature
resolution are listed under ``skipped`` and have no map.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from openparts import atomic
from openparts.data.dataset import PartDataset, read_json
from openparts.data.errors import DataError

FORMAT_NAME = "openparts-pseudo-parts"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IGNORE = 0


def map_name(image_id: int) -> str:
    return f"{image_id:08d}.png"


def write_label_map(folder: Path, image_id: int, labels: np.ndarray) -> str:
    """`labels`: HxW int, -1 outside the object, 0..K-1 inside."""
    name = map_name(image_id)
    atomic.save_image(folder / name, Image.fromarray((labels + 1).astype(np.uint8)))
    return name


def write_manifest(folder: Path, dataset: PartDataset, k: int, images: dict[int, dict[str, Any]], extra: dict[str, Any]) -> None:
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "k": k,
        "dataset_images": len(dataset),
        "images": {str(image_id): entry for image_id, entry in sorted(images.items())},
        "skipped": sorted(record["id"] for record in dataset.images if record["id"] not in images),
        **extra,
    }
    atomic.write_json(folder / MANIFEST, payload)


class PseudoParts:
    """Read access to a pseudo-parts folder, checked against the dataset it is used with."""

    def __init__(self, root: str | os.PathLike[str], dataset: PartDataset) -> None:
        self.root = Path(root)
        manifest = read_json(self.root / MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise DataError(self.root / MANIFEST, f"not a pseudo-parts manifest (format should be {FORMAT_NAME!r})")
        self.k = int(manifest["k"])
        self.entries = {int(key): value for key, value in manifest["images"].items()}
        unknown = sorted(set(self.entries) - {record["id"] for record in dataset.images})
        if unknown:
            raise DataError(self.root / MANIFEST, f"has maps for image ids not in {dataset.root}: {unknown[:10]}")
        self.dataset = dataset

    def has(self, image_id: int) -> bool:
        return image_id in self.entries

    def labels(self, image_id: int) -> np.ndarray:
        """HxW int64: -1 ignored, 0..K-1 clusters; all -1 for an image without a map."""
        record = self.dataset.images[self.dataset.index_of(image_id)]
        shape = (record["height"], record["width"])
        if image_id not in self.entries:
            return np.full(shape, -1, np.int64)
        path = self.root / self.entries[image_id]["file"]
        with Image.open(path) as picture:
            values = np.asarray(picture)
        if values.shape != shape:
            raise DataError(path, f"pseudo-part map is {values.shape[1]}x{values.shape[0]}, its image is {shape[1]}x{shape[0]}")
        return values.astype(np.int64) - 1
