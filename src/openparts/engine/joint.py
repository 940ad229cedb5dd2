"""The joint fine-tuning objective of OPS (Sec. 3.4): supervised loss + L_SS on pseudo parts."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from openparts.clustering import pseudo_part_labels
from openparts.losses import SelfSupervisedWeights, self_supervised_loss
from openparts.model.segmenter import PartSegmenter, SegmenterOutput


class JointObjective(nn.Module):
    """A batch's first half is supervised samples (targets with part masks), its second half
    pseudo-part samples (targets with ``pseudo_parts``, or, online, just the object mask). The loss is
    Mask2Former's on the first group plus lambda_c L_c + lambda_a L_a on the second group's
    mask features.

    Offline, the pseudo parts come with the samples (clustered once by the base model, then
    augmented with the image) and are reduced to the feature grid by nearest neighbour.
    Online (Sec. 4.2), they are recomputed every step by K-means on the current features.
    """

    def __init__(self, model: PartSegmenter, k: int, weights: SelfSupervisedWeights, online: bool) -> None:
        super().__init__()
        self.model = model
        self.k = k
        self.weights = weights
        self.online = online

    def forward(self, inputs: torch.Tensor, targets: list[dict[str, Any]]) -> SegmenterOutput:
        supervised = len(targets) // 2  # PairedSamples + collate_pairs: the halves
        output = self.model(inputs[:supervised], targets[:supervised])
        pseudo = self.model(inputs[supervised:])
        features = pseudo.mask_features
        if self.online:
            objects = torch.stack([t["object_mask"] for t in targets[supervised:]]).to(inputs.device)
            labels = pseudo_part_labels(features, objects, self.k)
        else:
            maps = torch.stack([t["pseudo_parts"] for t in targets[supervised:]]).to(inputs.device)
            labels = functional.interpolate((maps + 1)[:, None].float(), size=features.shape[-2:], mode="nearest")[:, 0].long() - 1
        ss = self_supervised_loss(features, labels, self.k, self.weights)
        losses = {**(output.losses or {}), **{name: float(value.detach()) for name, value in ss.items()}}
        return dataclasses.replace(output, loss=output.loss + ss["loss_ss"], losses=losses)
