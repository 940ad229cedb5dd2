"""Pretrained backbone weights (ImageNet ResNets) from a local file or a hub name.

Accepted: a folder or hub name that transformers' `ResNetModel.from_pretrained` reads
(e.g. `microsoft/resnet-50`, on machines that reach a hub), or a `.safetensors` file of a
transformers ResNet state dict (keys `embedder.*` / `encoder.*`, optionally under `resnet.`).

A 3-channel stem meeting a 4-channel model: the RGB filters are copied and the object-mask
filter is initialised to zero, so the network starts as exactly the pretrained RGB network
and learns from zero how much to trust the object mask (the mask channel still receives
gradients, since its input is not zero).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from safetensors.torch import load_file

from openparts.model.checkpoint import CheckpointError

log = logging.getLogger(__name__)

STEM_KEY = "embedder.embedder.convolution.weight"
_DROPPED_PREFIXES = ("resnet.", "model.")


def read_backbone_state(source: str) -> dict[str, torch.Tensor]:
    path = Path(source)
    if path.is_file():
        try:
            state = load_file(path)
        except Exception as error:
            raise CheckpointError(path, f"cannot read backbone weights ({error})") from None
    else:
        from transformers import ResNetModel

        state = ResNetModel.from_pretrained(source).state_dict()
    cleaned = {}
    for key, value in state.items():
        for prefix in _DROPPED_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key.startswith(("embedder.", "encoder.")):
            cleaned[key] = value
    if STEM_KEY not in cleaned:
        raise CheckpointError(path, f"not a ResNet state dict: no {STEM_KEY!r}")
    return cleaned


def adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Fit a stem filter bank to `in_channels`: extra channels start at zero, missing are dropped."""
    if weight.shape[1] == in_channels:
        return weight
    if weight.shape[1] > in_channels:
        return weight[:, :in_channels].clone()
    extra = torch.zeros(weight.shape[0], in_channels - weight.shape[1], *weight.shape[2:], dtype=weight.dtype)
    return torch.cat([weight, extra], dim=1)


def load_backbone(backbone: torch.nn.Module, source: str, in_channels: int) -> None:
    """Copy pretrained weights into `backbone`, reporting any key or shape that differs."""
    state = read_backbone_state(source)
    state[STEM_KEY] = adapt_stem(state[STEM_KEY], in_channels)
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in state and own[k].shape != state[k].shape
    ]
    if missing or shapes:
        raise CheckpointError(
            source,
            "backbone weights do not fit the configured backbone; "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}; shape mismatches {shapes[:5]}",
        )
    if unexpected:
        log.info("ignoring %d backbone keys the model does not use (e.g. %s)", len(unexpected), unexpected[0])
    backbone.load_state_dict({k: state[k] for k in own}, strict=True)
    log.info("loaded pretrained backbone from %s (%d tensors)", source, len(own))
