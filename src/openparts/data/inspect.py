"""`openparts data info` and `openparts data show`: look at a dataset before training on it."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from openparts import atomic
from openparts.data.dataset import PartDataset

log = logging.getLogger(__name__)

AREA_BINS = (0, 16**2, 32**2, 96**2, 256**2, float("inf"))
AREA_BIN_NAMES = ("<16^2", "16^2-32^2", "32^2-96^2 (COCO medium)", "96^2-256^2", ">=256^2")


def dataset_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts, sizes, parts per object and the part-area histogram, from the JSON alone."""
    dataset = PartDataset.open(root)
    widths = np.array([record["width"] for record in dataset.images] or [0])
    heights = np.array([record["height"] for record in dataset.images] or [0])
    parts_per_image = np.array([len(dataset.parts(record["id"])) for record in dataset.images] or [0])
    areas = np.array([annotation.get("area", 0) for annotation in dataset.annotations], dtype=float)
    histogram, _ = np.histogram(areas, bins=AREA_BINS)
    return {
        "root": str(root),
        "source": dataset.source,
        "labeled": dataset.labeled,
        "images": len(dataset),
        "parts": len(dataset.annotations),
        "part_classes": len(dataset.part_classes),
        "object_categories": dict(Counter(str(r.get("object_category")) for r in dataset.images).most_common()),
        "object_mask_sources": dict(Counter(str(r.get("object_mask_source")) for r in dataset.images)),
        "width": {"min": int(widths.min()), "median": float(np.median(widths)), "max": int(widths.max())},
        "height": {"min": int(heights.min()), "median": float(np.median(heights)), "max": int(heights.max())},
        "parts_per_object": {
            "min": int(parts_per_image.min()),
            "mean": round(float(parts_per_image.mean()), 2),
            "max": int(parts_per_image.max()),
        },
        "part_area_histogram": dict(zip(AREA_BIN_NAMES, (int(v) for v in histogram), strict=True)),
        "skipped_at_conversion": dataset.info.get("skipped", {}),
    }


def format_info(info: dict[str, Any]) -> str:
    lines = [
        f"dataset            {info['root']}  (source: {info['source']}, {'labeled' if info['labeled'] else 'unlabeled'})",
        f"images             {info['images']}",
        f"parts              {info['parts']} in {info['part_classes']} source classes",
        f"parts per object   min {info['parts_per_object']['min']}, mean {info['parts_per_object']['mean']}, "
        f"max {info['parts_per_object']['max']}",
        f"image width        {info['width']['min']}-{info['width']['max']} (median {info['width']['median']:.0f})",
        f"image height       {info['height']['min']}-{info['height']['max']} (median {info['height']['median']:.0f})",
        f"object masks       {', '.join(f'{k}: {v}' for k, v in info['object_mask_sources'].items())}",
        f"object categories  {', '.join(f'{k}: {v}' for k, v in list(info['object_categories'].items())[:12])}",
        "part area (pixels):",
    ]
    largest = max(info["part_area_histogram"].values() or [1]) or 1
    for name, count in info["part_area_histogram"].items():
        lines.append(f"  {name:<24} {count:>7}  {'#' * round(40 * count / largest)}")
    if info["skipped_at_conversion"]:
        lines.append("skipped at conversion: " + ", ".join(f"{k}: {v}" for k, v in info["skipped_at_conversion"].items()))
    return "\n".join(lines)


def palette(count: int, seed: int = 7) -> np.ndarray:
    """Distinct, saturated colours so that neighbouring parts stay tellable apart."""
    hues = (np.arange(count) * 0.618033988749895 + np.random.default_rng(seed).random()) % 1.0
    hsv = np.stack([hues, np.full(count, 0.85), np.full(count, 0.95)], axis=1)
    from skimage.color import hsv2rgb

    return (hsv2rgb(hsv[None])[0] * 255).astype(np.uint8)


def overlay(image: np.ndarray, part_masks: np.ndarray, object_mask: np.ndarray | None, alpha: float = 0.55) -> np.ndarray:
    """Parts filled in colour with dark outlines; the object's outline in white."""
    canvas = image.astype(np.float32).copy()
    colours = palette(max(len(part_masks), 1))
    for index, mask in enumerate(part_masks):
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * colours[index]
        edge = mask & ~ndimage.binary_erosion(mask, iterations=1)
        canvas[edge] = (20, 20, 20)
    if object_mask is not None:
        thickness = max(1, round(max(image.shape[:2]) / 256))
        outline = ndimage.binary_dilation(object_mask, iterations=thickness) & ~object_mask
        canvas[outline] = (255, 255, 255)
    return canvas.clip(0, 255).astype(np.uint8)


def show(root: str | os.PathLike[str], out_dir: str | os.PathLike[str], limit: int = 16, start: int = 0) -> list[Path]:
    """Write side-by-side PNGs (photo | parts and object outline) for `limit` images."""
    dataset = PartDataset.open(root)
    written = []
    indices = range(start, min(len(dataset), start + limit))
    for index in tqdm(indices, desc="show", unit="img"):
        sample = dataset[index]
        picture = np.concatenate([sample.image, overlay(sample.image, sample.part_masks, sample.object_mask)], axis=1)
        target = Path(out_dir) / f"{Path(sample.record['file_name']).stem}.png"
        atomic.save_image(target, Image.fromarray(picture))
        written.append(target)
    log.info("wrote %d overlays to %s", len(written), out_dir)
    return written
