"""ImageNet classification with a backbone's pretrained weights: proof that they are what they claim.

A weight file that loads without a key or shape error can still be wrong (another layout mapped
onto the right names, the wrong normalisation, a broken conversion). Whole networks with their
1000-class heads, run on photos scikit-image bundles, show it at once: a right file puts the
photo's class among the top five, random weights do not. `openparts backbones --check` runs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from skimage import data, transform

from openparts.model.backbones import Backbone, backbone_for
from openparts.model.checkpoint import CheckpointError
from openparts.model.pretrained import read_source
from openparts.model.weight_layouts import to_timm_efficientnet, to_transformers_resnet

# scikit-image's photos and the ImageNet classes a right network ranks among its top five
PHOTOS: dict[str, tuple[str, ...]] = {
    "chelsea": ("tiger cat", "Egyptian cat", "tabby, tabby cat"),
    "coffee": ("espresso",),
    "rocket": ("missile", "space shuttle"),
}
RESOLUTION = {"resnet": 224, "efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}
CROP_FRACTION = 0.875  # the usual ImageNet evaluation: shortest side to size / 0.875, then the centre


def imagenet_classifier(backbone_config: dict[str, Any]) -> torch.nn.Module:
    """The whole network of `backbone_config` with its classification head, weights from its
    `pretrained` source (random when that is null), in eval mode."""
    backbone = backbone_for(backbone_config)
    source = backbone_config.get("pretrained")
    if backbone.family == "timm":
        import timm

        network = timm.create_model(backbone.timm_name, num_classes=1000)
        if source:
            raw, origin = read_source(backbone, source)
            _load(network, to_timm_efficientnet(raw, list(network.state_dict())), origin)
        return network.eval()
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=backbone_config["embedding_size"],
        hidden_sizes=list(backbone_config["hidden_sizes"]),
        depths=list(backbone_config["depths"]),
        layer_type=backbone_config["layer_type"],
        num_labels=1000,
    )
    network = ResNetForImageClassification(config)
    if source:
        raw, origin = read_source(backbone, source)
        _load(network, {_classifier_key(key): value for key, value in to_transformers_resnet(raw).items()}, origin)
    return _LogitsOnly(network).eval()


def _classifier_key(key: str) -> str:
    """transformers' ResNetForImageClassification name of a backbone or torchvision head key."""
    if key.startswith("fc."):
        return key.replace("fc.", "classifier.1.", 1)
    return key if key.startswith("classifier.") else f"resnet.{key}"


class _LogitsOnly(torch.nn.Module):
    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network(pixel_values=pixels).logits


def _load(network: torch.nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    own = network.state_dict()
    missing = sorted(set(own) - set(state))
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or shapes:
        raise CheckpointError(origin, f"cannot build the ImageNet classifier from it: missing {missing[:5]}, shape mismatches {shapes[:5]}")
    network.load_state_dict({key: state[key] for key in own}, strict=True)


def photo(name: str) -> np.ndarray:
    return getattr(data, name)()


def preprocess(image: np.ndarray, backbone: Backbone, size: int) -> torch.Tensor:
    """[1, 3, size, size]: the centre crop, normalised as the backbone's weights expect."""
    height, width = image.shape[:2]
    scale = size / CROP_FRACTION / min(height, width)
    resized = transform.resize(image[..., :3], (round(height * scale), round(width * scale)), anti_aliasing=True)
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    crop = torch.tensor(resized[top : top + size, left : left + size], dtype=torch.float32).permute(2, 0, 1)[None]
    return (crop - torch.tensor(backbone.mean).view(1, 3, 1, 1)) / torch.tensor(backbone.std).view(1, 3, 1, 1)


def top_classes(network: torch.nn.Module, backbone_config: dict[str, Any], image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The `k` most probable ImageNet classes of `image` and their probabilities."""
    from timm.data import ImageNetInfo

    backbone = backbone_for(backbone_config)
    pixels = preprocess(image, backbone, RESOLUTION[backbone.name])
    with torch.inference_mode():
        probabilities = network(pixels).softmax(-1)[0]
    best = probabilities.topk(k)
    info = ImageNetInfo()
    return [(info.index_to_description(int(index)), float(value)) for value, index in zip(best.values, best.indices, strict=True)]


def check_photos(backbone_config: dict[str, Any], k: int = 5) -> dict[str, tuple[list[tuple[str, float]], bool]]:
    """Per bundled photo: the top-k classes, and whether every expected class is among them."""
    network = imagenet_classifier(backbone_config)
    results = {}
    for name, expected in PHOTOS.items():
        ranked = top_classes(network, backbone_config, photo(name), k)
        found = {label for label, _ in ranked}
        results[name] = (ranked, all(label in found for label in expected))
    return results
