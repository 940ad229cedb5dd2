"""`car-parts`: the DSMLR Car-Parts-Segmentation set (COCO polygons, 18 part classes).

Layout: `trainingset/` and `testset/`, each with `annotations.json` and `JPEGImages/`;
converting the root writes `DST/train` and `DST/test`, converting one split folder writes `DST`.

Rules, beyond the generic COCO policy:
- the spurious `_background_` category is dropped;
- instance split: an annotation of class `wheel` often outlines every visible wheel as
  separate polygons, so for `wheel` each polygon is one instance, except that polygons
  whose masks overlap are merged (one wheel drawn in pieces). Every other class names a
  single physical part (one bumper, one hood), so its polygons, which occlusion cuts into
  pieces, stay one instance;
- no object masks are given: the object mask is the union of the parts, closed and
  hole-filled (`approx`; see `openparts.data.object_masks` for why holes must not stay).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from openparts.data.adapters.coco import CocoRules, convert_coco_file
from openparts.data.errors import DataError

RULES = CocoRules(
    source="car-parts",
    drop_categories=("_background_",),
    separate_polygon_categories=("wheel",),
    find_image=lambda root, image: _find_image(root, image),
    object_category=lambda names, image: "car",
)
SPLITS = {"trainingset": "train", "testset": "test"}


def _find_image(root: Path, image: dict[str, Any]) -> Path:
    from openparts.data import images as image_io

    return image_io.resolve_inside(root / "JPEGImages", image["file_name"])


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str], **options: Any) -> list[Path]:
    source_path, destination_path = Path(source), Path(destination)
    if (source_path / "annotations.json").is_file():
        return [convert_coco_file(source_path / "annotations.json", destination_path, RULES, **options)]
    found = [folder for folder in SPLITS if (source_path / folder / "annotations.json").is_file()]
    if not found:
        raise DataError(source_path, "no car-parts split found (expected trainingset/ and testset/ with annotations.json)")
    return [
        convert_coco_file(source_path / folder / "annotations.json", destination_path / SPLITS[folder], RULES, **options)
        for folder in found
    ]
