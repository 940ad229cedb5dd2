"""`partimagenet`: PartImageNet's COCO JSON (He et al., ECCV 2022).

Published layout: `annotations/{train,val,test}.json` (or `annotations/<split>/*.json`) with
flat `file_name`s such as `n01440764_10029.JPEG`, while the pictures lie in synset folders,
`images/<split>/n01440764/n01440764_10029.JPEG`. Categories are object-part pairs such as
`Quadruped Head` with the object (`Quadruped`) as `supercategory`.

Rules: `file_name` is looked up in `images/<split>/<synset>/`, then `images/<split>/`, then
`images/`; polygons with fewer than 3 points (the set has some with fewer than 6
coordinates) are dropped with a count; the object category is the supercategory of the
image's parts; the object mask is the union of the parts, closed and hole-filled (`approx`).
Each split JSON becomes `DST/<split>`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from openparts.data import images as image_io
from openparts.data.adapters.coco import CocoRules, convert_coco_file, load_coco
from openparts.data.errors import DataError


def _image_finder(split: str):
    def find(root: Path, image: dict[str, Any]) -> Path:
        file_name = image["file_name"]
        synset = Path(file_name).name.split("_")[0]
        candidates = [
            (root / "images" / split / synset, file_name),
            (root / "images" / split, file_name),
            (root / "images", file_name),
        ]
        for folder, name in candidates:
            path = image_io.resolve_inside(folder, name)
            if path.exists():
                return path
        return image_io.resolve_inside(candidates[0][0], file_name)

    return find


def _split_files(source: Path) -> dict[str, Path]:
    folder = source / "annotations" if (source / "annotations").is_dir() else source
    files = {path.stem: path for path in sorted(folder.glob("*.json"))}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        jsons = sorted(sub.glob("*.json"))
        if len(jsons) == 1:
            files[sub.name] = jsons[0]
    if not files:
        raise DataError(source, "no PartImageNet annotation JSON found (expected annotations/<split>.json)")
    return files


def convert(source: str | os.PathLike[str], destination: str | os.PathLike[str], **options: Any) -> list[Path]:
    source_path, destination_path = Path(source), Path(destination)
    written = []
    for split, annotation_file in _split_files(source_path).items():
        payload = load_coco(annotation_file)
        object_of = {c["name"]: str(c.get("supercategory") or c["name"].split(" ")[0]) for c in payload["categories"]}

        def object_category(names: list[str], image: dict[str, Any], object_of: dict[str, str] = object_of) -> str | None:
            votes = Counter(object_of.get(name, name) for name in names)
            return votes.most_common(1)[0][0] if votes else None

        rules = CocoRules(source="partimagenet", find_image=_image_finder(split), object_category=object_category)
        written.append(convert_coco_file(annotation_file, destination_path / split, rules, image_root=source_path, **options))
    return written
