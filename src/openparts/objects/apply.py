"""Write a dataset's copy whose object masks come from a model: the object_masks step."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from openparts.data.dataset import PartSample
from openparts.data.subset import write_subset
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
    keep_given: bool = False,
) -> Path:
    """Copy `source` (pixels byte for byte, parts unchanged, same image order and ids) with each
    image's object mask predicted by `masker`; `object_mask_source` records `method`.
    `keep_given` keeps the masks the dataset has and predicts only the missing ones."""
    fallbacks = seen = 0

    def predicted(sample: PartSample) -> tuple[np.ndarray, str]:
        nonlocal fallbacks, seen
        if keep_given and sample.object_mask is not None:
            return sample.object_mask, sample.record.get("object_mask_source") or "gt"
        seen += 1
        mask = masker(sample.image)
        if mask.any():
            return mask, method
        fallbacks += 1
        return np.ones_like(mask, dtype=bool), method + WHOLE_IMAGE_SUFFIX

    write_subset(
        source,
        destination,
        overwrite=overwrite,
        name=name,
        object_mask_for=predicted,
        progress=f"object masks ({method})" if progress else None,
    )
    if fallbacks:
        log.warning("%s: %s found no object in %d of %d images; the whole image stands in", destination, method, fallbacks, seen)
    return Path(destination)
