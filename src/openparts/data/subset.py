"""A dataset's copy: chosen images with their parts and object masks, pixels copied byte for byte.

Splits a source (an unlabeled adaptation part, a held-out test part), and, with a function
that gives new object masks, is the object_masks step (`openparts.objects.apply`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from openparts.data.dataset import DatasetWriter, Part, PartDataset, PartSample

# sample -> (object mask, its source label): replaces the stored object mask
ObjectMaskFor = Callable[[PartSample], tuple[np.ndarray, str]]


def write_subset(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    indices: Sequence[int] | None = None,
    labeled: bool | None = None,
    overwrite: bool = False,
    name: str | None = None,
    object_mask_for: ObjectMaskFor | None = None,
    progress: str | None = None,
) -> Path:
    """Images `indices` of `source` (all by default; in that order; ids renumbered from 1). `labeled=False` drops
    the parts: the unlabeled view of the same images. `name` is recorded as `info.name`;
    `object_mask_for` gives each image a new object mask; `progress` labels a progress bar."""
    dataset = PartDataset.open(source)
    indices = range(len(dataset)) if indices is None else indices
    bad = [i for i in indices if not 0 <= i < len(dataset)]
    if bad:
        raise IndexError(f"{source} has {len(dataset)} images; indices out of range: {bad[:10]}")
    keep_parts = dataset.labeled if labeled is None else labeled
    extra = {key: value for key, value in dataset.info.items() if key == "part_grouping"}
    if name:
        extra["name"] = name
    with DatasetWriter(destination, source=dataset.source, labeled=keep_parts, overwrite=overwrite, extra_info=extra) as writer:
        for index in tqdm(indices, desc=progress, unit="img", disable=progress is None):
            sample = dataset[index]
            object_mask, mask_source = sample.object_mask, sample.record.get("object_mask_source")
            if object_mask_for is not None:
                object_mask, mask_source = object_mask_for(sample)
            parts = (
                [Part(m, c, s) for m, c, s in zip(sample.part_masks, sample.part_classes, sample.scores, strict=True)] if keep_parts else []
            )
            writer.add(
                sample.image,
                sample.record["file_name"],
                parts,
                object_mask=object_mask,
                object_mask_source=mask_source,
                object_category=sample.record.get("object_category"),
                source_file=dataset.image_path(index),
                source_name=sample.record.get("source_file"),
            )
    return Path(destination)
