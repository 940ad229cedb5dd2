"""`pascal-part`: the original Pascal-Part annotations (Chen et al., CVPR 2014).

Layout: `Annotations_Part/<id>.mat` (variable `anno`: `objects[i]` with `class`, an instance
`mask` and `parts[j]` with `part_name` and `mask`) and `JPEGImages/<id>.jpg`.

As in the paper (Sec. 4.1), every object is cropped out of its scene, with a margin of
`margin` times its box size on each side (clipped to the picture), into a single-object
image whose object mask is the annotated instance mask (source `gt`). Pascal-Part gives no
parts for some classes (boat, chair, table, sofa, ...); as in Pascal-Part-58, such an object
is one part covering the whole object, named after its class.

Part names: `grouping="raw"` keeps Pascal-Part's names (`lfleg`, `wheel_3`). `"108"` and
`"58"` group them as FLOAT (Singh et al., CVPR 2022) describes Pascal-Part-108 and -58:
108 drops instance numbers and left/right/front/back sides but keeps fine parts (eye, ear,
upper and lower arm, paw); 58 further folds facial parts into the head, the neck into the
torso, paws, hooves and feet into the leg, and car sides, doors and mirrors into the body.
The tables below are our reading of those groupings; a name they do not cover keeps its
raw form (with the number dropped), and names are prefixed with the object class
(`dog/leg`) so that class-aware training does not merge a dog's leg with a chair's.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from openparts.data import images as image_io
from openparts.data.adapters.matlab import load_mat
from openparts.data.dataset import DatasetWriter, Part
from openparts.data.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.1
GROUPINGS = ("raw", "108", "58")

# Raw Pascal-Part name (number and side stripped) -> Pascal-Part-108 name.
FINE_NAMES = {
    "ebrow": "eyebrow",
    "eye": "eye",
    "ear": "ear",
    "nose": "nose",
    "mouth": "mouth",
    "hair": "hair",
    "head": "head",
    "neck": "neck",
    "torso": "torso",
    "muzzle": "muzzle",
    "horn": "horn",
    "beak": "beak",
    "uarm": "upper arm",
    "larm": "lower arm",
    "hand": "hand",
    "uleg": "upper leg",
    "lleg": "lower leg",
    "foot": "foot",
    "leg": "leg",
    "pa": "paw",
    "ho": "hoof",
    "tail": "tail",
    "wing": "wing",
    "side": "side",
    "roofside": "roof",
    "mirror": "mirror",
    "door": "door",
    "window": "window",
    "wheel": "wheel",
    "headlight": "headlight",
    "liplate": "license plate",
    "engine": "engine",
    "stern": "stern",
    "body": "body",
    "cap": "cap",
    "screen": "screen",
    "pot": "pot",
    "plant": "plant",
    "saddle": "saddle",
    "handlebar": "handlebar",
    "chainwheel": "chainwheel",
    "coach": "coach",
    "hfrontside": "head front",
    "hleftside": "head side",
    "hrightside": "head side",
    "hbackside": "head back",
    "hroofside": "head roof",
    "cfrontside": "coach front",
    "cleftside": "coach side",
    "crightside": "coach side",
    "cbackside": "coach back",
    "croofside": "coach roof",
}
# Pascal-Part-108 name -> Pascal-Part-58 name.
COARSE_NAMES = {
    "eyebrow": "head",
    "eye": "head",
    "ear": "head",
    "nose": "head",
    "mouth": "head",
    "hair": "head",
    "muzzle": "head",
    "horn": "head",
    "beak": "head",
    "neck": "torso",
    "hand": "lower arm",
    "foot": "leg",
    "upper leg": "leg",
    "lower leg": "leg",
    "paw": "leg",
    "hoof": "leg",
    "side": "body",
    "roof": "body",
    "mirror": "body",
    "door": "body",
    "chainwheel": "body",
    "saddle": "body",
    "handlebar": "body",
    "headlight": "light",
    "head front": "head",
    "head side": "head",
    "head back": "head",
    "head roof": "head",
    "coach front": "coach",
    "coach side": "coach",
    "coach back": "coach",
    "coach roof": "coach",
}
# A person keeps upper and lower limbs apart in Pascal-Part-58; hands and feet join the lower ones.
PERSON_COARSE_NAMES = {"upper leg": "upper leg", "lower leg": "lower leg", "foot": "lower leg", "hand": "lower arm"}
LIMB_ALIASES = {"fleg": "leg", "bleg": "leg", "fuleg": "uleg", "flleg": "lleg", "buleg": "uleg", "blleg": "lleg"}
SIDE_PREFIX = re.compile(
    r"^(l|r|f|b|lf|lb|rf|rb|front|back|left|right)"
    r"(?=(ebrow|eye|ear|uarm|larm|hand|uleg|lleg|foot|leg|fleg|bleg|fuleg|flleg|buleg|blleg|pa|ho|horn|wing|side|mirror|liplate)$)"
)


def fine_name(raw_name: str) -> str | None:
    """Pascal-Part-108 name of a raw part name, or None if the table does not cover it.

    The side prefix is stripped first, because Pascal-Part's abbreviations overlap: a bird's
    `lleg` is its left leg, a person's `llleg` is the left lower leg.
    """
    name = re.sub(r"_\d+$", "", raw_name)
    name = SIDE_PREFIX.sub("", name)
    name = LIMB_ALIASES.get(name, name)
    return FINE_NAMES.get(name)


def group_part_name(object_class: str, raw_name: str, grouping: str) -> str:
    if grouping == "raw":
        return raw_name
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown part grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    name = fine_name(raw_name) or re.sub(r"_\d+$", "", raw_name)
    if grouping == "58":
        if object_class == "person" and name in PERSON_COARSE_NAMES:
            name = PERSON_COARSE_NAMES[name]
        else:
            name = COARSE_NAMES.get(name, name)
    return f"{object_class}/{name}"


def _text(value: Any) -> str:
    array = np.asarray(value).ravel()
    return str(array[0]) if array.size else ""


def crop_box(object_mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the object's box grown by `margin` of its size, clipped."""
    rows, cols = np.nonzero(object_mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad_y, pad_x = round(margin * (bottom - top)), round(margin * (right - left))
    height, width = object_mask.shape
    return max(0, top - pad_y), min(height, bottom + pad_y), max(0, left - pad_x), min(width, right + pad_x)


def convert(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    grouping: str = "raw",
    margin: float = DEFAULT_MARGIN,
    **options: Any,
) -> list[Path]:
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown part grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    source_path = Path(source)
    annotation_dir = source_path / "Annotations_Part"
    if not annotation_dir.is_dir():
        raise DataError(source_path, "not a Pascal-Part folder (Annotations_Part/ is missing)")
    with DatasetWriter(destination, source="pascal-part", extra_info={"part_grouping": grouping}, **options) as writer:
        for annotation_file in tqdm(sorted(annotation_dir.glob("*.mat")), desc="convert pascal-part", unit="img"):
            photo = image_io.resolve_inside(source_path / "JPEGImages", annotation_file.stem + ".jpg")
            pixels = writer.read_source_image(photo)
            if pixels is None:
                continue
            anno = load_mat(annotation_file, "anno")[0, 0]
            objects = anno["objects"].ravel() if anno["objects"].size else []
            for index, entry in enumerate(objects):
                _add_object(writer, entry, index, pixels, annotation_file, photo, grouping, margin)
    log.info("%s: wrote %d object crops", destination, writer.num_images)
    return [Path(destination)]


def _add_object(
    writer: DatasetWriter,
    entry: Any,
    index: int,
    pixels: np.ndarray,
    annotation_file: Path,
    photo: Path,
    grouping: str,
    margin: float,
) -> None:
    object_class = _text(entry["class"])
    object_mask = np.asarray(entry["mask"]).astype(bool)
    if object_mask.shape != pixels.shape[:2]:
        raise DataError(annotation_file, f"object {index} mask is {object_mask.shape[::-1]}, image is {pixels.shape[1::-1]}")
    if not object_mask.any():
        writer.skip("object with an empty mask")
        return
    parts = []
    for part in entry["parts"].ravel() if entry["parts"].size else []:
        mask = np.asarray(part["mask"]).astype(bool)
        if mask.shape != object_mask.shape:
            raise DataError(annotation_file, f"object {index} part {_text(part['part_name'])!r} mask has the wrong size")
        parts.append((group_part_name(object_class, _text(part["part_name"]), grouping), mask))
    if not parts:
        parts = [(object_class if grouping == "raw" else f"{object_class}/{object_class}", object_mask)]
        log.debug("%s object %d (%s) has no parts: kept as one whole-object part", annotation_file, index, object_class)
    top, bottom, left, right = crop_box(object_mask, margin)
    crop = np.ascontiguousarray(pixels[top:bottom, left:right])
    writer.add(
        crop,
        file_name=f"{annotation_file.stem}_{index:02d}.png",
        parts=[Part(mask=np.ascontiguousarray(mask[top:bottom, left:right]), part_class=name) for name, mask in parts],
        object_mask=np.ascontiguousarray(object_mask[top:bottom, left:right]),
        object_mask_source="gt",
        object_category=object_class,
        source_name=f"JPEGImages/{photo.name}#object{index}",
    )
