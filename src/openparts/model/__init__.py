"""The part segmentation model: Mask2Former with an object-mask channel, saving and loading."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openparts.model import decoder_masks, deformable_attention
from openparts.model.checkpoint import CheckpointError, load_weights, read_description, save_model
from openparts.model.pretrained import load_backbone
from openparts.model.segmenter import PartSegmenter, SegmenterOutput, input_channels, pad_to_divisible


def build_model(model_config: dict[str, Any], num_classes: int = 1) -> PartSegmenter:
    """A new model; loads pretrained backbone weights when the configuration names them."""
    if model_config["class_agnostic"] and num_classes != 1:
        raise ValueError(f"a class-agnostic model has one class, not {num_classes}")
    model = PartSegmenter(model_config, num_classes)
    if model_config["backbone"].get("pretrained"):
        load_backbone(model.mask2former.model.pixel_level_module.encoder, model_config["backbone"], model.in_channels)
    return model


def load_model(directory: str | os.PathLike[str]) -> PartSegmenter:
    """Rebuild a model from its folder (no download, no unpickling)."""
    description = read_description(directory)
    model_config = dict(description["model"])
    model_config["backbone"] = {**model_config["backbone"], "pretrained": None}
    model = PartSegmenter(model_config, int(description["num_classes"]))
    load_weights(model, directory)
    model.description = description
    return model


@contextmanager
def unoptimised() -> Iterator[None]:
    """transformers' Mask2Former as it comes inside the block (its deformable attention and its
    decoder's mask prediction): the baseline that speed and accuracy benchmarks compare with."""
    with deformable_attention.unoptimised(), decoder_masks.unoptimised():
        yield


__all__ = [
    "CheckpointError",
    "PartSegmenter",
    "SegmenterOutput",
    "build_model",
    "input_channels",
    "load_model",
    "pad_to_divisible",
    "save_model",
    "unoptimised",
]
