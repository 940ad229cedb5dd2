"""A dataset's subset: chosen images with their parts and object masks, pixels copied byte for byte.

Used to split a source into an unlabeled adaptation part and a held-out test part.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from openparts.data.dataset import DatasetWriter, Part, PartDataset


def write_subset(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    indices: Sequence[int],
    labeled: bool | None = None,
    overwrite: bool = False,
    name: str | None = None,
) -> Path:
    """Images `indices` of `source` (in that order; ids renumbered from 1). `labeled=False` drops
    the parts: the unlabeled view of the same images. `name` is recorded as `info.name`."""
    dataset = PartDataset.open(source)
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise IndexError(f"{source} has {len(dataset)} images; indices out of range: {bad[:10]}")
    keep_parts = dataset.labeled if labeled is None else labeled
    extra = {key: value for key, value in dataset.info.items() if key == "part_grouping"}
    if name:
        extra["name"] = name
    with DatasetWriter(destination, source=dataset.source, labeled=keep_parts, overwrite=overwrite, extra_info=extra) as writer:
        for index in indices:
            sample = dataset[index]
            parts = (
                [Part(m, c, s) for m, c, s in zip(sample.part_masks, sample.part_classes, sample.scores, strict=True)] if keep_parts else []
            )
            writer.add(
                sample.image,
                sample.record["file_name"],
                parts,
                object_mask=sample.object_mask,
                object_mask_source=sample.record.get("object_mask_source"),
                object_category=sample.record.get("object_category"),
                source_file=dataset.image_path(index),
                source_name=sample.record.get("source_file"),
            )
    return Path(destination)
