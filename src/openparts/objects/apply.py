"""Write a dataset's copy whose object masks come from a model: the object_masks step."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tqdm import tqdm

from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.objects import WHOLE_IMAGE_SUFFIX, ObjectMasker

log = logging.getLogger(__name__)


def write_with_object_masks(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    masker: ObjectMasker,
    method: str,
    overwrite: bool = False,
    progress: bool = True,
    name: str | None = None,
) -> Path:
    """Copy `source` (pixels byte for byte, parts unchanged, same image order and ids) with each
    image's object mask predicted by `masker`; `object_mask_source` records `method`."""
    dataset = PartDataset.open(source)
    fallbacks = 0
    extra = {key: value for key, value in dataset.info.items() if key == "part_grouping"}
    if name:
        extra["name"] = name  # info.name: the set's name in metric keys
    with DatasetWriter(destination, source=dataset.source, labeled=dataset.labeled, overwrite=overwrite, extra_info=extra) as writer:
        for index in tqdm(range(len(dataset)), desc=f"object masks ({method})", unit="img", disable=not progress):
            sample = dataset[index]
            mask = masker(sample.image)
            label = method
            if not mask.any():
                mask = mask | True
                label = method + WHOLE_IMAGE_SUFFIX
                fallbacks += 1
            parts = [Part(m, c, s) for m, c, s in zip(sample.part_masks, sample.part_classes, sample.scores, strict=True)]
            writer.add(
                sample.image,
                sample.record["file_name"],
                parts,
                object_mask=mask,
                object_mask_source=label,
                object_category=sample.record.get("object_category"),
                source_file=dataset.image_path(index),
                source_name=sample.record.get("source_file"),
            )
    if fallbacks:
        log.warning("%s: %s found no object in %d of %d images; the whole image stands in", destination, method, fallbacks, len(dataset))
    return Path(destination)
