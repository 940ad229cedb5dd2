"""Base training (stage 2 of OPS): datasets in, model folder out."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from openparts.data.dataset import PartDataset
from openparts.data.mask_jitter import ObjectMaskJitter
from openparts.data.torch_dataset import PartSegmentationDataset
from openparts.data.transforms import train_transforms
from openparts.data.validate import validate
from openparts.engine.callbacks import TrainingCallback
from openparts.engine.trainer import Trainer, TrainResult
from openparts.model import build_model

log = logging.getLogger(__name__)


def training_datasets(data_dirs: Sequence[str | os.PathLike[str]], config: dict[str, Any], class_names: list[str]) -> ConcatDataset:
    model_config, train_config = config["model"], config["train"]
    transforms = train_transforms(train_config["crop_size"], tuple(train_config["scale_range"]), train_config["horizontal_flip"])
    parts = []
    for data_dir in data_dirs:
        dataset = PartSegmentationDataset(
            PartDataset.open(data_dir),
            transforms,
            object_mask_channel=model_config["object_mask_channel"],
            class_agnostic=model_config["class_agnostic"],
            object_mask_jitter=ObjectMaskJitter(train_config["object_mask_jitter"]) if train_config["object_mask_jitter"] else None,
        )
        if not model_config["class_agnostic"]:
            dataset.class_index = {name: index for index, name in enumerate(class_names)}
        parts.append(dataset)
    return ConcatDataset(parts)


def part_class_names(data_dirs: Sequence[str | os.PathLike[str]]) -> list[str]:
    names: set[str] = set()
    for data_dir in data_dirs:
        names.update(PartDataset.open(data_dir).part_classes)
    return sorted(names)


def train_supervised(
    data_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: dict[str, Any],
    callback: TrainingCallback | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Validate the data (before any compute is spent), build the model and train it."""
    for data_dir in data_dirs:
        validate(data_dir, require_object_masks=config["model"]["object_mask_channel"], decode_images=False)
    class_names = part_class_names(data_dirs)
    num_classes = 1 if config["model"]["class_agnostic"] else len(class_names)
    torch.manual_seed(config["train"]["seed"])  # the initial weights belong to the seeded run
    model = build_model(config["model"], num_classes)
    description = {"part_classes": class_names if num_classes > 1 else ["part"], "trained_on": [str(Path(d)) for d in data_dirs]}
    trainer = Trainer(
        model, training_datasets(data_dirs, config, class_names), config, out_dir, callback, description, checkpoint_dir=checkpoint_dir
    )
    return trainer.train()
