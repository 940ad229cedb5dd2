"""The one dataset format of openparts: reading it lazily and writing it atomically.

A dataset is a folder::

    images/            the pictures, upright 8-bit RGB (JPEG copied as is, anything else PNG)
    annotations.json   COCO instance segmentation, extended as below

`annotations.json` is COCO with these rules:

- ``categories`` is always ``[{"id": 1, "name": "part"}]``: openparts is class-agnostic on
  disk. The source's part class of each instance is kept in ``annotation["part_class"]``
  and the list of all of them in the top-level ``part_classes``.
- every annotation's ``segmentation`` is an RLE with compressed string counts, sized to the
  image; ``area`` and ``bbox`` are computed from it; ``iscrowd`` is 0; predicted parts
  (pseudo labels) carry a ``score``.
- every image carries ``object_mask`` (RLE of the salient object, or null before the
  object_masks stage ran), ``object_mask_source`` (``gt``: annotated; ``approx``: derived
  from the union of the parts; ``user``: drawn by a person; otherwise the model's name),
  ``object_category`` (the object's class name when the source has one) and
  ``source_file`` (where the picture came from, for tracing).
- ``info`` holds ``format`` (``openparts-parts``), ``version``, ``source`` and ``labeled``
  (false for unlabeled sets, whose images may have no parts).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from openparts import __version__, atomic
from openparts.data import images as image_io
from openparts.data import masks as mask_io
from openparts.data.errors import DataError

log = logging.getLogger(__name__)

FORMAT_NAME = "openparts-parts"
FORMAT_VERSION = 1
ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"
PART_CATEGORY = {"id": 1, "name": "part"}
OBJECT_MASK_SOURCES_FROM_DATA = ("gt", "approx", "user")


@dataclass
class PartSample:
    """One image with its object mask and part instances, decoded."""

    image_id: int
    image: np.ndarray  # HxWx3 uint8
    object_mask: np.ndarray | None  # HxW bool
    part_masks: np.ndarray  # NxHxW bool
    part_classes: list[str]
    scores: list[float | None]
    record: dict[str, Any] = field(repr=False)


class PartDataset:
    """Read access to a dataset folder; masks and pixels are decoded only when asked for.

    Opening parses `annotations.json` once and indexes it, which takes about a second per
    100 MB of JSON; nothing else is read until a sample is requested.
    """

    def __init__(self, root: str | os.PathLike[str], payload: dict[str, Any]) -> None:
        self.root = Path(root)
        self.info: dict[str, Any] = payload.get("info", {})
        self.part_classes: list[str] = list(payload.get("part_classes", []))
        self.images: list[dict[str, Any]] = payload["images"]
        self.annotations: list[dict[str, Any]] = payload["annotations"]
        self._position = {record["id"]: index for index, record in enumerate(self.images)}
        self._parts_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for annotation in self.annotations:
            self._parts_of[annotation["image_id"]].append(annotation)

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> PartDataset:
        root_path = Path(root)
        annotations_path = root_path / ANNOTATIONS_FILE
        if not root_path.is_dir():
            raise DataError(root_path, "dataset folder does not exist")
        if not annotations_path.is_file():
            raise DataError(annotations_path, "missing: not an openparts dataset (or an unfinished write)")
        payload = read_json(annotations_path)
        check_structure(payload, annotations_path)
        return cls(root_path, payload)

    @property
    def labeled(self) -> bool:
        return bool(self.info.get("labeled", True))

    @property
    def source(self) -> str:
        return str(self.info.get("source", "unknown"))

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[PartSample]:
        for index in range(len(self)):
            yield self[index]

    def __getitem__(self, index: int) -> PartSample:
        record = self.images[index]
        part_records = self.parts(record["id"])
        height, width = record["height"], record["width"]
        if part_records:
            part_masks = np.stack([mask_io.decode(part["segmentation"]) for part in part_records])
        else:
            part_masks = np.zeros((0, height, width), dtype=bool)
        return PartSample(
            image_id=record["id"],
            image=self.read_image(index),
            object_mask=self.object_mask(index),
            part_masks=part_masks,
            part_classes=[part.get("part_class", "part") for part in part_records],
            scores=[part.get("score") for part in part_records],
            record=record,
        )

    def index_of(self, image_id: int) -> int:
        return self._position[image_id]

    def parts(self, image_id: int) -> list[dict[str, Any]]:
        return self._parts_of.get(image_id, [])

    def image_path(self, index: int) -> Path:
        return image_io.resolve_inside(self.root / IMAGES_DIR, self.images[index]["file_name"])

    def read_image(self, index: int) -> np.ndarray:
        record = self.images[index]
        path = self.image_path(index)
        pixels = image_io.read_rgb(path)
        if pixels.shape[:2] != (record["height"], record["width"]):
            raise DataError(
                path,
                f"image is {pixels.shape[1]}x{pixels.shape[0]} but annotations.json says {record['width']}x{record['height']}",
            )
        return pixels

    def object_mask(self, index: int) -> np.ndarray | None:
        rle = self.images[index].get("object_mask")
        return None if rle is None else mask_io.decode(rle)


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(path, f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text ({error.reason})") from None


def check_structure(payload: Any, path: Path) -> None:
    """The checks `PartDataset` needs to index the file at all; `validate()` does the rest."""
    if not isinstance(payload, dict):
        raise DataError(path, "top level is not a JSON object")
    for key in ("images", "annotations"):
        if key not in payload:
            raise DataError(path, f"missing key '{key}'")
        if not isinstance(payload[key], list):
            raise DataError(path, f"'{key}' is not a list")
    info = payload.get("info", {})
    if isinstance(info, dict) and info.get("format") not in (None, FORMAT_NAME):
        raise DataError(path, f"format is {info.get('format')!r}, expected {FORMAT_NAME!r}")
    if isinstance(info, dict) and int(info.get("version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise DataError(path, f"format version {info['version']} is newer than this openparts ({FORMAT_VERSION})")
    seen: set[Any] = set()
    for position, record in enumerate(payload["images"]):
        if not isinstance(record, dict):
            raise DataError(path, f"images[{position}] is not an object")
        missing = [key for key in ("id", "file_name", "width", "height") if key not in record]
        if missing:
            raise DataError(path, f"images[{position}] misses key(s) {', '.join(missing)}")
        if record["id"] in seen:
            raise DataError(path, f"duplicate image id {record['id']}")
        seen.add(record["id"])
    annotation_ids: set[Any] = set()
    for position, annotation in enumerate(payload["annotations"]):
        if not isinstance(annotation, dict):
            raise DataError(path, f"annotations[{position}] is not an object")
        missing = [key for key in ("id", "image_id", "segmentation") if key not in annotation]
        if missing:
            raise DataError(path, f"annotations[{position}] misses key(s) {', '.join(missing)}")
        if annotation["id"] in annotation_ids:
            raise DataError(path, f"duplicate annotation id {annotation['id']}")
        annotation_ids.add(annotation["id"])
        if annotation["image_id"] not in seen:
            raise DataError(path, f"annotation {annotation['id']} refers to image {annotation['image_id']}, which is not listed")


@dataclass
class Part:
    """A part instance to write: a full-image mask and the source's class name."""

    mask: np.ndarray
    part_class: str = "part"
    score: float | None = None


class DatasetWriter:
    """Writes a dataset folder atomically: nothing appears at `root` until `close()`.

    Use as a context manager. If the body raises or the process dies, `root` keeps what it
    held before and the temporary folder is removed (or, after a kill, left under a hidden
    `.openparts-tmp-` name that `validate()` and readers never take for a dataset).

    Policy for what adapters hand in, counted in `skipped` and logged at the end:
    empty part masks are dropped; in a labeled set, an image left without parts is dropped.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        source: str,
        labeled: bool = True,
        overwrite: bool = False,
        max_pixels: int = image_io.DEFAULT_MAX_PIXELS,
        extra_info: dict[str, Any] | None = None,
        skip_bad_images: bool = False,
    ) -> None:
        self.root = Path(root)
        self.skip_bad_images = skip_bad_images
        self.source = source
        self.labeled = labeled
        self.max_pixels = max_pixels
        self.extra_info = extra_info or {}
        self.skipped: Counter[str] = Counter()
        self._images: list[dict[str, Any]] = []
        self._annotations: list[dict[str, Any]] = []
        self._part_classes: set[str] = set()
        self._file_names: set[str] = set()
        self._context = atomic.atomic_directory(self.root, overwrite=overwrite)
        self._staging: Path | None = None

    def __enter__(self) -> DatasetWriter:
        self._staging = self._context.__enter__()
        (self._staging / IMAGES_DIR).mkdir()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        if exc_type is None:
            try:
                self._write_annotations()
            except BaseException as error:
                self._context.__exit__(type(error), error, error.__traceback__)
                raise
            for reason, count in sorted(self.skipped.items()):
                log.info("%s: skipped %d x %s", self.root, count, reason)
        return bool(self._context.__exit__(exc_type, exc, traceback))

    @property
    def num_images(self) -> int:
        return len(self._images)

    def read_source_image(self, path: str | os.PathLike[str]) -> np.ndarray | None:
        """Decode a source picture; an unreadable one is an error, or a counted skip (None)
        when the writer was opened with `skip_bad_images`."""
        try:
            return image_io.read_rgb(path, self.max_pixels)
        except DataError:
            if not self.skip_bad_images:
                raise
            log.warning("skipping unreadable image %s", path)
            self.skip("unreadable image")
            return None

    def skip(self, reason: str, count: int = 1) -> None:
        """Record a documented skip made by an adapter so that it shows in the summary."""
        self.skipped[reason] += count

    def add(
        self,
        image: np.ndarray,
        file_name: str,
        parts: Sequence[Part],
        object_mask: np.ndarray | None = None,
        object_mask_source: str | None = None,
        object_category: str | None = None,
        source_file: str | os.PathLike[str] | None = None,
        source_name: str | None = None,
    ) -> int | None:
        """Add one decoded HxWx3 uint8 image with its parts; returns its id, or None if dropped.

        When `source_file` is a plain upright RGB JPEG or PNG its bytes are copied unchanged
        (no second JPEG compression); otherwise the pixels are stored as PNG. `source_name`
        is what the record keeps for tracing (a path relative to the source's root, so that
        outputs do not depend on where the source lies).
        """
        if self._staging is None:
            raise RuntimeError("DatasetWriter must be used as a context manager")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
        origin = str(source_file or file_name)
        height, width = image.shape[:2]
        kept_parts = []
        for part in parts:
            if part.mask.shape != (height, width):
                raise DataError(origin, f"part mask is {part.mask.shape[1]}x{part.mask.shape[0]}, image is {width}x{height}")
            if not part.mask.any():
                self.skipped["empty part mask"] += 1
                continue
            kept_parts.append(part)
        if self.labeled and not kept_parts:
            self.skipped["image without parts"] += 1
            return None
        if object_mask is not None:
            if object_mask.shape != (height, width):
                raise DataError(origin, f"object mask is {object_mask.shape[1]}x{object_mask.shape[0]}, image is {width}x{height}")
            if not object_mask.any():
                raise DataError(origin, "object mask is empty")
        copy_from = None
        if source_file is not None and Path(source_file).is_file() and not image_io.needs_reencoding(source_file):
            copy_from = Path(source_file)
        stored_name = self._store_pixels(file_name, image, copy_from)
        image_id = len(self._images) + 1
        self._images.append(
            {
                "id": image_id,
                "file_name": stored_name,
                "width": int(width),
                "height": int(height),
                "object_mask": None if object_mask is None else mask_io.encode(object_mask),
                "object_mask_source": object_mask_source if object_mask is not None else None,
                "object_category": object_category,
                "source_file": source_name or (None if source_file is None else Path(source_file).name),
            }
        )
        for part in kept_parts:
            self._add_part(image_id, part)
        return image_id

    def _store_pixels(self, file_name: str, pixels: np.ndarray, copy_from: Path | None) -> str:
        assert self._staging is not None
        stem = Path(file_name.replace("\\", "/")).as_posix()
        image_io.resolve_inside(self._staging / IMAGES_DIR, stem)  # reject traversal in names we are given
        if copy_from is None:
            stem = str(Path(stem).with_suffix(".png"))
        if stem in self._file_names:
            raise DataError(file_name, "two images map to the same file name in the dataset")
        self._file_names.add(stem)
        target = self._staging / IMAGES_DIR / stem
        if copy_from is None:
            atomic.save_image(target, Image.fromarray(pixels), format="PNG", compress_level=1)
        else:
            atomic.copy_file(copy_from, target)
        return stem

    def _add_part(self, image_id: int, part: Part) -> None:
        rle = mask_io.encode(part.mask)
        annotation: dict[str, Any] = {
            "id": len(self._annotations) + 1,
            "image_id": image_id,
            "category_id": PART_CATEGORY["id"],
            "segmentation": rle,
            "area": mask_io.area(rle),
            "bbox": mask_io.bbox(rle),
            "iscrowd": 0,
            "part_class": part.part_class,
        }
        if part.score is not None:
            annotation["score"] = float(part.score)
        self._annotations.append(annotation)
        self._part_classes.add(part.part_class)

    def _write_annotations(self) -> None:
        assert self._staging is not None
        payload = {
            "info": {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "source": self.source,
                "labeled": self.labeled,
                "created_by": f"openparts {__version__}",
                "skipped": dict(self.skipped),
                **self.extra_info,
            },
            "categories": [PART_CATEGORY],
            "part_classes": sorted(self._part_classes),
            "images": self._images,
            "annotations": self._annotations,
        }
        atomic.write_json(self._staging / ANNOTATIONS_FILE, payload, indent=None)


def dataset_key(dataset: PartDataset | str | os.PathLike[str]) -> str:
    """The dataset's name in metric keys: `info.name` when the data carries one (the
    object_masks stage records its source's), else `carparts-test` for data/carparts/test;
    a stage's `<name>/dataset` is keyed `<name>`."""
    if isinstance(dataset, PartDataset):
        if dataset.info.get("name"):
            return str(dataset.info["name"])
        dataset = dataset.root
    path = Path(dataset).resolve()
    if path.name == "dataset":
        return path.parent.name
    return f"{path.parent.name}-{path.name}".replace("/", "-")
