"""`ccp`: Clothing Co-Parsing (Yang, Luo & Lin, CVPR 2014), pixel-level annotations.

Layout: `photos/NNNN.jpg`, `annotations/pixel-level/NNNN.mat` (variable `groundtruth`, an HxW
label map) and `label_list.mat` (59 names; 0 is `null`).

Rules:
- part instances are the 8-connected components of each label (skin, hair, every garment);
  components smaller than `MIN_PART_AREA` pixels are annotation specks and are dropped
  (their pixels still count for the object);
- the object (the one person in the photo) is every labelled pixel: source `gt`;
- a photo whose label map is all `null` (0536 in the release) has no parts and no object;
  it is skipped with a count (`image without parts`) and listed in `info.skipped`;
- a label map whose size differs from its photo is an error naming both files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from openparts.data import images as image_io
from openparts.data.adapters.matlab import load_mat
from openparts.data.dataset import DatasetWriter, Part
from openparts.data.errors import DataError

log = logging.getLogger(__name__)

MIN_PART_AREA = 100
"""Pixels; at about 550x825 a 10x10 fragment is a stray brush stroke, not a part."""

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def load_label_names(source: Path) -> list[str]:
    names = load_mat(source / "label_list.mat", "label_list")
    return [str(np.asarray(entry).ravel()[0]) if np.asarray(entry).size else "" for entry in names.ravel()]


def parts_from_label_map(label_map: np.ndarray, names: list[str], min_area: int = MIN_PART_AREA) -> list[Part]:
    """One part per 8-connected component of each label, labels in increasing order; each label
    is split inside its own bounding box, which is most of a conversion's time saved."""
    parts = []
    for label, box in enumerate(ndimage.find_objects(label_map.astype(np.int32)), start=1):
        if box is None:  # the label is absent from this map
            continue
        components, _ = ndimage.label(label_map[box] == label, structure=EIGHT_CONNECTED)
        areas = np.bincount(components.ravel())
        name = names[label] if label < len(names) else f"label_{label}"
        for component in np.flatnonzero(areas[1:] >= min_area) + 1:
            mask = np.zeros(label_map.shape, dtype=bool)
            mask[box] = components == component
            parts.append(Part(mask=mask, part_class=name))
    return parts


def convert(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    min_part_area: int = MIN_PART_AREA,
    **options: Any,
) -> list[Path]:
    source_path = Path(source)
    annotation_dir = source_path / "annotations" / "pixel-level"
    if not annotation_dir.is_dir():
        raise DataError(source_path, "not a Clothing Co-Parsing folder (annotations/pixel-level/ is missing)")
    names = load_label_names(source_path)
    annotation_files = sorted(annotation_dir.glob("*.mat"))
    with DatasetWriter(destination, source="ccp", **options) as writer:
        for annotation_file in tqdm(annotation_files, desc="convert ccp", unit="img"):
            photo = image_io.resolve_inside(source_path / "photos", annotation_file.stem + ".jpg")
            pixels = writer.read_source_image(photo)
            if pixels is None:
                continue
            label_map = np.asarray(load_mat(annotation_file, "groundtruth"))
            if label_map.shape != pixels.shape[:2]:
                raise DataError(
                    annotation_file,
                    f"label map is {label_map.shape[1]}x{label_map.shape[0]} but {photo.name} is {pixels.shape[1]}x{pixels.shape[0]}",
                )
            object_mask = label_map > 0
            parts = parts_from_label_map(label_map, names, min_part_area)
            writer.add(
                pixels,
                file_name=photo.name,
                parts=parts,
                object_mask=object_mask if object_mask.any() else None,
                object_mask_source="gt",
                object_category="person",
                source_file=photo,
                source_name=f"photos/{photo.name}",
            )
    log.info("%s: wrote %d images", destination, writer.num_images)
    return [Path(destination)]
