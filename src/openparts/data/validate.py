"""`validate()`: everything a later stage relies on, checked before any compute is spent."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from openparts.data import images as image_io
from openparts.data import masks as mask_io
from openparts.data.dataset import ANNOTATIONS_FILE, IMAGES_DIR, PART_CATEGORY, PartDataset
from openparts.data.errors import DataError, InvalidDatasetError

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    images: int
    parts: int
    images_with_object_mask: int


def validate(
    root: str | os.PathLike[str],
    require_object_masks: bool = True,
    decode_images: bool = True,
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS,
    progress: bool = False,
) -> ValidationReport:
    """Check a dataset folder and raise `InvalidDatasetError` listing every problem found.

    Checked: the JSON structure (ids unique, annotations point at listed images); every image
    file exists inside `images/`, decodes (skip with `decode_images=False` for a header-only
    check) and has the recorded size; every part is a valid, non-empty RLE of the image's
    size with category 1; in a labeled set every image has at least one part; every object
    mask (required unless `require_object_masks=False`) is a valid, non-empty RLE with a
    recorded source.
    """
    dataset = PartDataset.open(root)  # structural problems raise DataError here
    images_root = Path(root) / IMAGES_DIR
    annotations_path = Path(root) / ANNOTATIONS_FILE
    problems: list[str] = []
    with_object_mask = 0
    records = tqdm(dataset.images, desc=f"validate {Path(root).name}", disable=not progress, unit="img")
    for record in records:
        where = f"{annotations_path} image {record['id']} ({record['file_name']})"
        height, width = record["height"], record["width"]
        if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
            problems.append(f"{where}: width/height {width!r}x{height!r} are not positive integers")
            continue
        problems.extend(_check_image_file(images_root, record, max_pixels, decode_images))
        object_mask = record.get("object_mask")
        if object_mask is None:
            if require_object_masks:
                problems.append(f"{where}: no object mask (run the object_masks stage first)")
        else:
            why = mask_io.check_rle(object_mask, height, width)
            if why:
                problems.append(f"{where}: object mask: {why}")
            elif mask_io.area(object_mask) == 0:
                problems.append(f"{where}: object mask is empty")
            else:
                with_object_mask += 1
            if not record.get("object_mask_source"):
                problems.append(f"{where}: object mask has no object_mask_source")
        parts = dataset.parts(record["id"])
        if dataset.labeled and not parts:
            problems.append(f"{where}: labeled image has no parts")
        for part in parts:
            problems.extend(_check_part(where, part, height, width))
    if problems:
        raise InvalidDatasetError(root, problems)
    report = ValidationReport(len(dataset), len(dataset.annotations), with_object_mask)
    log.info("%s: valid (%d images, %d parts)", root, report.images, report.parts)
    return report


def _check_image_file(images_root: Path, record: dict, max_pixels: int, decode: bool) -> list[str]:
    try:
        path = image_io.resolve_inside(images_root, record["file_name"])
        if decode:
            pixels = image_io.read_rgb(path, max_pixels)
            size = (pixels.shape[1], pixels.shape[0])
        else:
            size = image_io.image_size(path, max_pixels)
    except DataError as error:
        return [str(error)]
    if size != (record["width"], record["height"]):
        return [f"{path}: image is {size[0]}x{size[1]} but annotations.json says {record['width']}x{record['height']}"]
    return []


def _check_part(where: str, part: dict, height: int, width: int) -> list[str]:
    label = f"{where} part {part['id']}"
    if part.get("category_id") != PART_CATEGORY["id"]:
        return [f"{label}: category_id {part.get('category_id')!r} is not {PART_CATEGORY['id']} (part)"]
    why = mask_io.check_rle(part["segmentation"], height, width)
    if why:
        return [f"{label}: {why}"]
    if mask_io.area(part["segmentation"]) == 0:
        return [f"{label}: part mask is empty"]
    return []
