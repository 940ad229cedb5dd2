"""The model's view of a dataset: 4-channel inputs (RGB + object mask) and part targets."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from openparts.data.dataset import PartDataset
from openparts.data.errors import DataError
from openparts.data.mask_jitter import ObjectMaskJitter
from openparts.data.pseudo_parts import PseudoParts


class PartSegmentationDataset(Dataset):
    """Samples as (inputs, target) for Mask2Former-style training and prediction.

    inputs: float32 tensor [C, H, W]; channels 0-2 are RGB in [0, 1], channel 3 (when
    `object_mask_channel`) is the object mask in {0, 1} ("pre-aware" input, Sec. 3.2), perturbed
    by `object_mask_jitter` where given (the target's ``object_mask`` stays the set's own).
    Normalisation belongs to the model, which knows its pretrained statistics.

    target: ``masks`` bool [N, H, W] (part instances left non-empty by the transform),
    ``labels`` int64 [N] (0 for every part when `class_agnostic`; otherwise the index of the
    part's class in the dataset's `part_classes`), ``object_mask`` bool [H, W],
    ``image_id`` and ``original_size`` (H, W before transforms, for predictions); with
    `pseudo_parts` also ``pseudo_parts`` int64 [H, W] (-1 ignored, 0..K-1 clusters), transformed
    with the image (nearest neighbour, as every mask).
    """

    def __init__(
        self,
        dataset: PartDataset | str | os.PathLike[str],
        transforms: Any = None,
        object_mask_channel: bool = True,
        class_agnostic: bool = True,
        pseudo_parts: str | os.PathLike[str] | None = None,
        object_mask_jitter: ObjectMaskJitter | None = None,
    ) -> None:
        self.dataset = dataset if isinstance(dataset, PartDataset) else PartDataset.open(dataset)
        self.pseudo_parts = None if pseudo_parts is None else PseudoParts(pseudo_parts, self.dataset)
        self.transforms = transforms
        self.object_mask_channel = object_mask_channel
        self.class_agnostic = class_agnostic
        self.object_mask_jitter = object_mask_jitter
        self.class_index = {name: index for index, name in enumerate(self.dataset.part_classes)}

    @property
    def num_classes(self) -> int:
        return 1 if self.class_agnostic else len(self.dataset.part_classes)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        sample = self.dataset[index]
        height, width = sample.image.shape[:2]
        object_mask = sample.object_mask
        if object_mask is None:
            if self.object_mask_channel:
                raise DataError(self.dataset.image_path(index), "has no object mask; run the object_masks stage or use 3-channel input")
            object_mask = np.ones((height, width), dtype=bool)
        image = tv_tensors.Image(torch.from_numpy(sample.image).permute(2, 0, 1).contiguous())
        masks = {
            "object_mask": tv_tensors.Mask(torch.from_numpy(object_mask)[None].to(torch.uint8)),
            "part_masks": tv_tensors.Mask(torch.from_numpy(sample.part_masks).to(torch.uint8)),
        }
        if self.pseudo_parts is not None:  # stored +1 so that padding (0) reads as ignored
            labels_map = self.pseudo_parts.labels(sample.image_id) + 1
            masks["pseudo_parts"] = tv_tensors.Mask(torch.from_numpy(labels_map.astype(np.uint8))[None])
        if self.transforms is not None:
            image, masks = self.transforms(image, masks)
        part_masks = masks["part_masks"].bool()
        keep = part_masks.flatten(1).any(dim=1) if len(part_masks) else torch.zeros(0, dtype=torch.bool)
        if self.class_agnostic:
            labels = torch.zeros(len(sample.part_classes), dtype=torch.int64)
        else:
            labels = torch.tensor([self.class_index[name] for name in sample.part_classes], dtype=torch.int64)
        rgb = image.as_subclass(torch.Tensor).float() / 255.0
        object_channel = masks["object_mask"].as_subclass(torch.Tensor).float()
        inputs = torch.cat([rgb, self._object_input(object_channel)], dim=0) if self.object_mask_channel else rgb
        target = {
            "masks": part_masks.as_subclass(torch.Tensor)[keep],
            "labels": labels[keep],
            "object_mask": object_channel[0].bool(),
            "image_id": sample.image_id,
            "original_size": (height, width),
        }
        if self.pseudo_parts is not None:
            target["pseudo_parts"] = masks["pseudo_parts"].as_subclass(torch.Tensor)[0].long() - 1
        return inputs, target

    def _object_input(self, object_channel: torch.Tensor) -> torch.Tensor:
        return object_channel if self.object_mask_jitter is None else self.object_mask_jitter(object_channel[0])[None]


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack equally sized inputs; keep targets as a list (each image has its own part count)."""
    inputs, targets = zip(*batch, strict=True)
    return torch.stack(inputs), list(targets)
