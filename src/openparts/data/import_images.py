"""Plain photos into an unlabeled dataset: how new data in the drop zone (`data/unlabeled/`) enters OPS.

The photos carry no parts and no object masks; the object_masks stage gives them one (its
`fallback` method). Hidden files and files that are not pictures (a README) are left out;
a picture that cannot be read, or a symlink out of the folder, stops the import with the
file named, so bad data is reported rather than trained on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tqdm import tqdm

from openparts.data.dataset import DatasetWriter, PartDataset
from openparts.data.errors import DataError
from openparts.data.images import resolve_inside

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The pictures under `folder`, sorted, skipping hidden names; symlinks out of it are refused."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(root, "the drop-zone folder does not exist")
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        resolve_inside(root, relative.as_posix())
        if path.is_file():
            found.append(path)
    return found


def import_images(
    folder: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    add_to: str | os.PathLike[str] | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an unlabeled dataset: `add_to`'s images (object masks kept, parts dropped), then the
    pictures under `folder` (no object masks). `name` is recorded as `info.name`."""
    photos = find_images(folder)
    base = PartDataset.open(add_to) if add_to is not None else None
    if not photos and (base is None or len(base) == 0):
        raise DataError(folder, "no pictures to import (and no --add-to dataset)")
    extra = {"name": name} if name else {}
    with DatasetWriter(destination, source="import-images", labeled=False, overwrite=overwrite, extra_info=extra) as writer:
        for index in range(len(base) if base is not None else 0):
            sample = base[index]
            writer.add(
                sample.image,
                sample.record["file_name"],
                [],
                object_mask=sample.object_mask,
                object_mask_source=sample.record.get("object_mask_source"),
                object_category=sample.record.get("object_category"),
                source_file=base.image_path(index),
                source_name=sample.record.get("source_file"),
            )
        for path in tqdm(photos, desc="import pictures", unit="img", disable=len(photos) < 20):
            relative = path.relative_to(folder).as_posix()
            writer.add(writer.read_source_image(path), f"new/{relative}", [], source_file=path, source_name=relative)
    log.info("%s: %d images (%d new from %s)", destination, writer.num_images, len(photos), folder)
    return Path(destination)
