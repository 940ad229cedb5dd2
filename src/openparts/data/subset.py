"""A dataset's copy: chosen images with their parts and object masks, pixels copied byte for byte.

Splits a source (an unlabeled adaptation part, a held-out test part, one object category),
joins several into one (an unlabeled pool drawn from two sources), and, with a function that
gives new object masks, is the object_masks step (`openparts.objects.apply`).
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
            _copy_image(writer, dataset, index, keep_parts, object_mask_for)
    return Path(destination)


def write_union(
    sources: Sequence[str | os.PathLike[str]],
    destination: str | os.PathLike[str],
    labeled: bool = False,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """All images of `sources`, one after the other (ids renumbered from 1): e.g. one unlabeled
    pool from two evaluation sources. Labeled unions need the same part grouping everywhere."""
    datasets = [PartDataset.open(source) for source in sources]
    if not datasets:
        raise ValueError("a union needs at least one source dataset")
    if labeled:
        unlabeled = [str(d.root) for d in datasets if not d.labeled]
        if unlabeled:
            raise ValueError(f"cannot keep parts: {', '.join(unlabeled)} has none")
    files = [d.images[i]["file_name"] for d in datasets for i in range(len(d))]
    clashes = sorted({f for f in files if files.count(f) > 1})
    if clashes:
        raise ValueError(f"{', '.join(str(d.root) for d in datasets)}: the same file names in several sources: {clashes[:5]}")
    extra = {"name": name} if name else {}
    source = "+".join(dict.fromkeys(d.source for d in datasets))
    with DatasetWriter(destination, source=source, labeled=labeled, overwrite=overwrite, extra_info=extra) as writer:
        for dataset in datasets:
            for index in range(len(dataset)):
                _copy_image(writer, dataset, index, labeled, None)
    return Path(destination)


def _copy_image(writer: DatasetWriter, dataset: PartDataset, index: int, keep_parts: bool, object_mask_for: ObjectMaskFor | None) -> None:
    sample = dataset[index]
    object_mask, mask_source = sample.object_mask, sample.record.get("object_mask_source")
    if object_mask_for is not None:
        object_mask, mask_source = object_mask_for(sample)
    parts = [Part(m, c, s) for m, c, s in zip(sample.part_masks, sample.part_classes, sample.scores, strict=True)] if keep_parts else []
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
