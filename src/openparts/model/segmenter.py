"""The OPS part segmenter: transformers' Mask2Former with an object-mask input channel.

`PartSegmenter` owns the input normalisation (the model, not the data, knows the statistics
its backbone's pretrained weights expect), turns openparts targets into Mask2Former's labels, and returns, from one
forward pass, the predictions, the losses and the per-pixel mask features (the pixel
decoder's last hidden state) that feature clustering and the self-supervised losses use.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

from openparts.model import decoder_masks, deformable_attention
from openparts.model.backbones import backbone_for, transformers_backbone_config

log = logging.getLogger(__name__)
deformable_attention.install()


class _KnownBackboneWarning(logging.Filter):
    """transformers warns that ResNet and timm networks are not 'supported' Mask2Former backbones;
    they work (the pixel decoder only needs four feature maps at strides 4-32), and the paper uses ResNet."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not a supported model" not in record.getMessage()


logging.getLogger("transformers.models.mask2former.configuration_mask2former").addFilter(_KnownBackboneWarning())

OBJECT_MASK_MEAN, OBJECT_MASK_STD = 0.5, 0.5
"""The object channel in {0, 1} maps to {-1, +1}, as the official code's 128/128 on a 0-255 mask."""
SIZE_DIVISIBILITY = 32


def input_channels(model_config: dict[str, Any]) -> int:
    """RGB, plus the object mask as a 4th channel for an object-aware (pre-aware) model."""
    return 4 if model_config["object_mask_channel"] else 3


def mask2former_config(model_config: dict[str, Any], num_classes: int) -> Mask2FormerConfig:
    """Translate the `model` section of an openparts configuration into a transformers config."""
    return Mask2FormerConfig(
        backbone_config=transformers_backbone_config(model_config["backbone"], input_channels(model_config)),
        num_labels=num_classes,
        hidden_dim=model_config["hidden_dim"],
        feature_size=model_config["mask_feature_size"],
        mask_feature_size=model_config["mask_feature_size"],
        num_queries=model_config["num_queries"],
        encoder_layers=model_config["encoder_layers"],
        decoder_layers=model_config["decoder_layers"],
        num_attention_heads=model_config["num_attention_heads"],
        dim_feedforward=model_config["dim_feedforward"],
        encoder_feedforward_dim=model_config["encoder_feedforward_dim"],
        class_weight=model_config["class_weight"],
        mask_weight=model_config["mask_weight"],
        dice_weight=model_config["dice_weight"],
        no_object_weight=model_config["no_object_weight"],
        train_num_points=model_config["train_num_points"],
        oversample_ratio=model_config["oversample_ratio"],
        importance_sample_ratio=model_config["importance_sample_ratio"],
        use_auxiliary_loss=model_config["auxiliary_loss"],
    )


@dataclass
class SegmenterOutput:
    class_logits: torch.Tensor  # [B, Q, C + 1], last class = no object
    mask_logits: torch.Tensor  # [B, Q, H/4, W/4]
    mask_features: torch.Tensor  # [B, D, H/4, W/4], pixel decoder's last hidden state
    loss: torch.Tensor | None = None
    losses: dict[str, float] | None = None


class PartSegmenter(nn.Module):
    """Mask2Former for parts: class-agnostic (one class) or class-aware, 3 or 4 input channels."""

    def __init__(self, model_config: dict[str, Any], num_classes: int = 1) -> None:
        super().__init__()
        self.model_config = model_config
        self.num_classes = num_classes
        self.in_channels = input_channels(model_config)
        self.mask2former = Mask2FormerForUniversalSegmentation(mask2former_config(model_config, num_classes))
        backbone = backbone_for(model_config["backbone"])  # pixels normalised as its pretrained weights expect
        mean = list(backbone.mean) + [OBJECT_MASK_MEAN] * (self.in_channels - 3)
        std = list(backbone.std) + [OBJECT_MASK_STD] * (self.in_channels - 3)
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        decoder = self.mask2former.model.transformer_module.decoder
        decoder.register_forward_pre_hook(_contiguous_decoder_inputs, with_kwargs=True)
        decoder_masks.install(decoder)

    @property
    def _mask_predictor(self) -> decoder_masks.AttentionSizeMaskPredictor:
        return self.mask2former.model.transformer_module.decoder.mask_predictor

    @property
    def loss_weights(self) -> dict[str, float]:
        """The weights the loss and the matcher actually use (read back from transformers)."""
        criterion = self.mask2former.criterion
        matcher = criterion.matcher
        return {
            "class_weight": self.mask2former.weight_dict["loss_cross_entropy"],
            "mask_weight": self.mask2former.weight_dict["loss_mask"],
            "dice_weight": self.mask2former.weight_dict["loss_dice"],
            "matcher_class_weight": matcher.cost_class,
            "matcher_mask_weight": matcher.cost_mask,
            "matcher_dice_weight": matcher.cost_dice,
            "no_object_weight": round(float(criterion.empty_weight[-1]), 6),
            "train_num_points": criterion.num_points,
            "matcher_num_points": matcher.num_points,
            "oversample_ratio": criterion.oversample_ratio,
            "importance_sample_ratio": criterion.importance_sample_ratio,
            "auxiliary_loss": self.mask2former.config.use_auxiliary_loss,
        }

    def normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[1] != self.in_channels:
            raise ValueError(f"model expects {self.in_channels} input channels, got {inputs.shape[1]}")
        return (inputs - self.pixel_mean) / self.pixel_std

    def forward(self, inputs: torch.Tensor, targets: list[dict[str, Any]] | None = None) -> SegmenterOutput:
        """inputs: [B, C, H, W] in [0, 1] (RGB, then the object mask); H and W divisible by 32."""
        # transformers reads the decoder's intermediate states only when it returns hidden states
        # or uses auxiliary losses; without either it fails, so always ask for them. With targets
        # the auxiliary losses read every layer's masks at full size, with or without autograd.
        with contextlib.nullcontext() if targets is None else self._mask_predictor.every_layer_at_full_size():
            outputs = self.mask2former(
                pixel_values=self.normalize(inputs),
                output_hidden_states=not self.mask2former.config.use_auxiliary_loss,
                output_auxiliary_logits=targets is not None,
            )
        loss = losses = None
        if targets is not None:
            use_auxiliary = self.mask2former.config.use_auxiliary_loss
            weighted = self.mask2former.get_loss_dict(
                masks_queries_logits=outputs.masks_queries_logits,
                class_queries_logits=outputs.class_queries_logits,
                mask_labels=[target["masks"].to(inputs.device, torch.float32) for target in targets],
                class_labels=[target["labels"].to(inputs.device) for target in targets],
                auxiliary_predictions=outputs.auxiliary_logits if use_auxiliary else None,
            )
            loss = sum(weighted.values())
            losses = summarize_losses(weighted)
        return SegmenterOutput(
            class_logits=outputs.class_queries_logits,
            mask_logits=outputs.masks_queries_logits,
            mask_features=outputs.pixel_decoder_last_hidden_state,
            loss=loss,
            losses=losses,
        )


def _contiguous_decoder_inputs(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The transformer decoder's attention inputs, made contiguous once. transformers hands it each
    level as a [H*W, B, C] permuted view: with more than one image, its attention projections
    cannot flatten that and run as batched products over a copy of the weight per pixel. At 256
    px, batches of 4 (`benchmarks/model_speed.py --sizes 256 --steps 0 --images 8 --profile`), the
    decoder took 303 of 780 ms per batch before this, 69 of 413 after (with the other changes of
    benchmarks/results/prediction-avx512bf16/; this hook then also made the mask features
    channels-first, for transformers' mask products in every layer, which `decoder_masks` now
    spares prediction: channels-last, they shrink fastest)."""
    for name in ("encoder_hidden_states", "multi_stage_positional_embeddings"):
        kwargs[name] = [level.contiguous() for level in kwargs[name]]
    return args, kwargs


def summarize_losses(weighted: dict[str, torch.Tensor]) -> dict[str, float]:
    """Final-layer class, mask and dice terms plus the sum of the auxiliary layers' terms."""
    names = {"loss_cross_entropy": "loss_class", "loss_mask": "loss_mask", "loss_dice": "loss_dice"}
    summary = {short: float(weighted[key].detach()) for key, short in names.items() if key in weighted}
    summary["loss_auxiliary"] = float(sum(value.detach() for key, value in weighted.items() if key not in names))
    return summary


def pad_to_divisible(inputs: torch.Tensor, divisor: int = SIZE_DIVISIBILITY) -> torch.Tensor:
    """Zero-pad the bottom and right so both sides divide by `divisor` (Mask2Former's strides)."""
    height, width = inputs.shape[-2:]
    pad_h, pad_w = (-height) % divisor, (-width) % divisor
    if pad_h == 0 and pad_w == 0:
        return inputs
    return nn.functional.pad(inputs, (0, pad_w, 0, pad_h))
