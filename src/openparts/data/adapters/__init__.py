"""Adapters: one module per real source, each converting it into the openparts format.

Every adapter exposes `convert(source, destination, **options) -> list[Path]` and returns
the dataset folders it wrote (one per split the source has).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

SOURCES = {
    "car-parts": "openparts.data.adapters.car_parts",
    "ccp": "openparts.data.adapters.ccp",
    "pascal-part": "openparts.data.adapters.pascal_part",
    "partimagenet": "openparts.data.adapters.partimagenet",
    "coco": "openparts.data.adapters.coco",
}


def convert(source_kind: str, source: str | os.PathLike[str], destination: str | os.PathLike[str], **options: Any) -> list[Path]:
    """Convert `source` (a folder in the source's published layout) into openparts datasets."""
    if source_kind not in SOURCES:
        raise ValueError(f"unknown source {source_kind!r}; choose one of {', '.join(SOURCES)}")
    if not Path(source).exists():
        raise FileNotFoundError(f"{source}: source folder does not exist")
    module = importlib.import_module(SOURCES[source_kind])
    return module.convert(source, destination, **options)
