"""`coco`: any COCO instance-segmentation JSON whose categories are parts.

This module is also the engine of the other COCO-based sources (car-parts, PartImageNet),
which differ only in how they find images, which categories they drop, how one annotation
splits into instances, and what the object is called. Those are the fields of `CocoRules`.

Policy:
- file-level problems are errors naming the file: malformed JSON, missing keys, duplicate
  ids, an annotation for an image that is not listed, an image whose size differs from the
  recorded one, an unreadable image (unless `skip_bad_images`, then skipped with a count);
- annotation-level problems are skipped with a count: polygons with fewer than 3 points,
  RLE of the wrong size, masks that come out empty, crowd regions;
- the object mask is the union of the parts, closed and hole-filled (source ``approx``),
  unless `object_from` names a category whose instances are objects.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from openparts.data import images as image_io
from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, Part, read_json
from openparts.data.errors import DataError
from openparts.data.object_masks import object_mask_from_parts

log = logging.getLogger(__name__)

ANNOTATION_FILE_NAMES = ("annotations.json", "instances.json")
IMAGE_FOLDER_NAMES = ("images", "JPEGImages", ".")


@dataclass
class CocoRules:
    """What distinguishes one COCO-based source from another."""

    source: str = "coco"
    drop_categories: tuple[str, ...] = ()
    separate_polygon_categories: tuple[str, ...] = ()
    """Categories whose polygons are separate instances (e.g. car-parts' `wheel`)."""
    find_image: Callable[[Path, dict[str, Any]], Path] | None = None
    object_category: Callable[[list[str], dict[str, Any]], str | None] = field(default=lambda names, image: None)


def load_coco(path: Path) -> dict[str, Any]:
    """Read and structurally check a COCO JSON, raising DataError on file-level problems."""
    payload = read_json(path)
    if not isinstance(payload, dict):
        raise DataError(path, "top level is not a JSON object")
    for key in ("images", "annotations", "categories"):
        if key not in payload:
            raise DataError(path, f"missing key '{key}'")
        if not isinstance(payload[key], list):
            raise DataError(path, f"'{key}' is not a list")
    for collection, required in (
        ("images", ("id", "file_name", "width", "height")),
        ("annotations", ("id", "image_id", "category_id", "segmentation")),
        ("categories", ("id", "name")),
    ):
        ids: set[Any] = set()
        for position, entry in enumerate(payload[collection]):
            if not isinstance(entry, dict):
                raise DataError(path, f"{collection}[{position}] is not an object")
            missing = [key for key in required if key not in entry]
            if missing:
                raise DataError(path, f"{collection}[{position}] misses key(s) {', '.join(missing)}")
            if entry["id"] in ids:
                raise DataError(path, f"duplicate id {entry['id']} in '{collection}'")
            ids.add(entry["id"])
    image_ids = {image["id"] for image in payload["images"]}
    category_ids = {category["id"] for category in payload["categories"]}
    for annotation in payload["annotations"]:
        if annotation["image_id"] not in image_ids:
            raise DataError(path, f"annotation {annotation['id']} refers to image {annotation['image_id']}, which is not listed")
        if annotation["category_id"] not in category_ids:
            raise DataError(path, f"annotation {annotation['id']} has category {annotation['category_id']}, which is not listed")
    return payload


def find_annotation_file(source: Path) -> Path:
    if source.is_file():
        return source
    for name in ANNOTATION_FILE_NAMES:
        if (source / name).is_file():
            return source / name
    raise DataError(source, f"no COCO annotation file ({' or '.join(ANNOTATION_FILE_NAMES)}) found")


def default_find_image(root: Path, image: dict[str, Any]) -> Path:
    """Look for `file_name` in the usual image folders next to the JSON."""
    for folder in IMAGE_FOLDER_NAMES:
        candidate = image_io.resolve_inside(root / folder, image["file_name"])
        if candidate.exists():
            return candidate
    return image_io.resolve_inside(root / IMAGE_FOLDER_NAMES[0], image["file_name"])


def _instance_masks(annotation: dict[str, Any], height: int, width: int, separate: bool, skipped: Counter[str]) -> list[np.ndarray]:
    segmentation = annotation["segmentation"]
    if isinstance(segmentation, dict):
        why = mask_io.check_rle(segmentation, height, width)
        if why:
            skipped[f"annotation with bad RLE ({why.split(' (')[0]})"] += 1
            return []
        return [mask_io.decode(segmentation)]
    polygons, dropped = mask_io.normalize_polygons(segmentation)
    if dropped:
        skipped["polygon with fewer than 3 points or bad coordinates"] += dropped
    if not polygons:
        return []
    if not separate:
        return [mask_io.polygons_to_mask(polygons, height, width)]
    return merge_overlapping([mask_io.polygons_to_mask([polygon], height, width) for polygon in polygons])


def merge_overlapping(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Group masks that share pixels (one physical part drawn as several touching polygons)."""
    groups: list[np.ndarray] = []
    for mask in masks:
        overlapping = [group for group in groups if (group & mask).any()]
        merged = mask.copy()
        for group in overlapping:
            merged |= group
        groups = [group for group in groups if not any(group is other for other in overlapping)] + [merged]
    return groups


def convert_coco_file(
    annotation_file: Path,
    destination: Path,
    rules: CocoRules,
    image_root: Path | None = None,
    overwrite: bool = False,
    skip_bad_images: bool = False,
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS,
) -> Path:
    """Convert one COCO JSON (one split) into an openparts dataset at `destination`."""
    payload = load_coco(annotation_file)
    root = image_root or annotation_file.parent
    category_names = {category["id"]: str(category["name"]) for category in payload["categories"]}
    parts_by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in payload["annotations"]:
        parts_by_image[annotation["image_id"]].append(annotation)
    find_image = rules.find_image or default_find_image
    with DatasetWriter(
        destination, source=rules.source, overwrite=overwrite, max_pixels=max_pixels, skip_bad_images=skip_bad_images
    ) as writer:
        for image in tqdm(payload["images"], desc=f"convert {annotation_file.name}", unit="img"):
            image_path = find_image(root, image)
            pixels = writer.read_source_image(image_path)
            if pixels is None:
                continue
            height, width = pixels.shape[:2]
            if (width, height) != (image["width"], image["height"]):
                raise DataError(
                    annotation_file,
                    f"image {image['id']} ({image_path.name}) is {width}x{height} but the annotation says "
                    f"{image['width']}x{image['height']}",
                )
            parts: list[Part] = []
            for annotation in parts_by_image.get(image["id"], []):
                name = category_names[annotation["category_id"]]
                if name in rules.drop_categories:
                    writer.skip(f"annotation of dropped category {name!r}")
                    continue
                if annotation.get("iscrowd"):
                    writer.skip("crowd annotation")
                    continue
                separate = name in rules.separate_polygon_categories
                for mask in _instance_masks(annotation, height, width, separate, writer.skipped):
                    parts.append(Part(mask=mask, part_class=name))
            masks = np.stack([part.mask for part in parts]) if parts else np.zeros((0, height, width), bool)
            writer.add(
                pixels,
                file_name=Path(image["file_name"]).name,
                parts=parts,
                object_mask=object_mask_from_parts(masks) if parts else None,
                object_mask_source="approx" if parts else None,
                object_category=rules.object_category([part.part_class for part in parts], image),
                source_file=image_path,
                source_name=_relative_name(image_path, root),
            )
    log.info("%s: wrote %d images", destination, writer.num_images)
    return destination


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str], **options: Any) -> list[Path]:
    """`openparts data convert coco SRC DST`: SRC is a COCO JSON or a folder holding one."""
    annotation_file = find_annotation_file(Path(source))
    image_root = options.pop("images", None)
    return [convert_coco_file(annotation_file, Path(destination), CocoRules(), Path(image_root) if image_root else None, **options)]


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
