"""What the base model derives from unlabeled images: pseudo labels (ST) and pseudo parts (SS).

Both run the model at the prediction resolution over every image of an unlabeled dataset
(images plus object masks) and write their output atomically (a temporary sibling folder,
renamed when complete).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from openparts import atomic
from openparts.clustering import pseudo_part_labels
from openparts.config import check
from openparts.data import pseudo_parts as pseudo_io
from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.data.errors import DataError
from openparts.engine.predict import Predictor, batch_inputs, chunks
from openparts.model.segmenter import PartSegmenter

log = logging.getLogger(__name__)


def _require_images(dataset: PartDataset, need_object_masks: bool) -> None:
    if len(dataset) == 0:
        raise DataError(dataset.root, "the unlabeled dataset has no images")
    if need_object_masks and any(record.get("object_mask") is None for record in dataset.images):
        raise DataError(dataset.root, "some images have no object mask; run `openparts object-masks` first")


def generate_pseudo_labels(
    model: PartSegmenter,
    unlabeled: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    predict_config: dict[str, Any],
    score_threshold: float = 0.1,
    overwrite: bool = False,
    device: str | None = None,
    masks: str = "instances",
) -> Path:
    """A labeled dataset whose parts are the model's predictions scoring above `score_threshold`
    (each part keeps its score). Images where nothing scores above it are left out (counted
    in the output's `info.skipped`), since a supervised sample without parts teaches nothing.

    `masks`: `instances` keeps each prediction's own mask, as the paper does. A weak model's
    masks nest (a whole-object mask over its parts), and supervised training on them teaches
    overlapping duplicates that human annotations never have. `part_map` keeps each part's
    segment of the part map over the parts above the threshold instead: disjoint, like the
    labeled sets. A part left with no pixel of the map is dropped.
    """
    check("finetune.pseudo_label_masks", masks)
    dataset = PartDataset.open(unlabeled)
    _require_images(dataset, model.in_channels == 4)
    part_map = masks == "part_map"
    # strictly above the threshold in the scores' float32: the predictor keeps scores >= its
    # threshold, and draws the part map over exactly the parts it keeps
    above = float(np.nextafter(np.float32(score_threshold), np.float32(np.inf)))
    predictor = Predictor(model, {**predict_config, "score_threshold": above, "partition": part_map, "split_min_fraction": None}, device)
    names = list(getattr(model, "description", {}).get("part_classes", ["part"]))  # a class-aware model's labels
    extra = {"pseudo_labels": {"score_threshold": score_threshold, "masks": masks, "from": str(Path(unlabeled))}}
    with DatasetWriter(out_dir, source=dataset.source, labeled=True, overwrite=overwrite, extra_info=extra) as writer:
        for indices in tqdm(list(chunks(len(dataset), predict_config["batch_size"])), desc="pseudo labels", unit="batch"):
            images = [dataset.read_image(i) for i in indices]
            objects = [dataset.object_mask(i) for i in indices]
            for index, image, obj, parts in zip(indices, images, objects, predictor.predict_batch(images, objects), strict=True):
                record = dataset.images[index]
                labels = [
                    Part(p.map_segment if part_map else p.mask, names[p.label] if len(names) > 1 else "part", round(p.score, 6))
                    for p in parts
                ]
                writer.add(
                    image,
                    record["file_name"],
                    [label for label in labels if label.mask.any()],
                    object_mask=obj,
                    object_mask_source=record.get("object_mask_source"),
                    object_category=record.get("object_category"),
                    source_file=dataset.image_path(index),
                    source_name=record.get("source_file"),
                )
    log.info("%s: pseudo labels for %d of %d images", out_dir, writer.num_images, len(dataset))
    return Path(out_dir)


@torch.inference_mode()
def cluster_features(
    model: PartSegmenter,
    unlabeled: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    predict_config: dict[str, Any],
    k: int = 10,
    seed: int = 0,
    overwrite: bool = False,
    device: str | None = None,
) -> Path:
    """Pseudo parts (offline mode): K-means with K = `k` on the base model's L2-normalised mask
    features inside each object, one label map per image at the image's resolution.

    K is min(k, object pixels on the feature grid); an object that covers no feature cell
    (smaller than about 4x4 pixels at the prediction size) gets no map and is listed as skipped.
    """
    dataset = PartDataset.open(unlabeled)
    _require_images(dataset, need_object_masks=True)
    run_device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.eval().to(run_device)
    generator = torch.Generator(device=run_device).manual_seed(seed)
    entries: dict[int, dict[str, Any]] = {}
    with atomic.atomic_directory(out_dir, overwrite=overwrite) as staging:
        for indices in tqdm(list(chunks(len(dataset), predict_config["batch_size"])), desc="cluster features", unit="batch"):
            for index, labels in zip(
                indices, _cluster_batch(model, dataset, indices, predict_config, k, run_device, generator), strict=True
            ):
                if labels is None:
                    continue
                image_id = dataset.images[index]["id"]
                name = pseudo_io.write_label_map(staging, image_id, labels)
                entries[image_id] = {"file": name, "clusters": int(labels.max()) + 1}
        pseudo_io.write_manifest(staging, dataset, k, entries, {"seed": seed, "from": str(Path(unlabeled))})
    if len(entries) < len(dataset):
        log.warning("%s: %d images have objects too small to cluster; they have no pseudo parts", out_dir, len(dataset) - len(entries))
    return Path(out_dir)


def _cluster_batch(model, dataset: PartDataset, indices: list[int], config: dict[str, Any], k: int, device, generator) -> list:
    images = [dataset.read_image(i) for i in indices]
    objects = [dataset.object_mask(i) for i in indices]
    batch, shapes = batch_inputs(images, objects, True, config)  # the object channel is needed for the clusters
    batch = batch.to(device)
    network_input = batch if model.in_channels == 4 else batch[:, :3]
    features = model(network_input).mask_features
    labels = pseudo_part_labels(features, batch[:, 3], k, generator)  # the object channel, resized and padded
    scale = batch.shape[-1] // features.shape[-1]
    maps = []
    for index, image in enumerate(images):
        rows, cols = -(-shapes[index][0] // scale), -(-shapes[index][1] // scale)
        grid = labels[index, :rows, :cols]
        if not bool((grid >= 0).any()):
            maps.append(None)
            continue
        full = Image.fromarray((grid + 1).to(torch.uint8).cpu().numpy()).resize(image.shape[1::-1], Image.NEAREST)
        labels_full = np.where(objects[index], np.asarray(full).astype(np.int64) - 1, -1)  # the coarse grid spills over the outline
        maps.append(labels_full if (labels_full >= 0).any() else None)
    return maps
