"""The self-supervised losses of Sec. 3.3 on pseudo parts: contrast (Eq. 1) and affinity (Eq. 2).

For one image, with p_m the L2-normalised mask feature of pixel m inside the object, a
pseudo-part assignment of those N pixels to K clusters, and c^i the mean of the features
assigned to cluster i (computed from the current, differentiable features: gradients reach
the network through the centroids and the pixels alike):

    L_c = 1/K * sum_{i,j} exp(-||c^i - c^j||^2 / tau_c)                (Eq. 1)
    L_a = 1/K * sum_i 1/N_i * sum_{m in i} exp(||c^i - p_m^i||^2 / tau_a)  (Eq. 2)
    L_SS = lambda_c * L_c + lambda_a * L_a

- The i = j terms of Eq. 1 are kept, as written: each is exp(0) = 1, so they add exactly 1 to
  L_c and nothing to its gradient.
- K counts the non-empty clusters of the image; an empty cluster has no centroid and takes
  part in neither sum.
- Eq. 2's inner sum runs over p_m^i, the pixels of cluster i, so its N is that cluster's own
  pixel count N_i: L_a is the mean over clusters of each cluster's mean, and a small part
  weighs as much as a large one. (Dividing the sum over all pixels by N x K instead makes the
  term K times weaker and lets big clusters dominate. The official code sums the clusters'
  means instead of averaging them, and uses unsquared distances; we follow the paper's text.)
- Pixels labelled -1 (outside the object, or padding) are ignored. An image with no assigned
  pixel contributes nothing; the batch loss is the mean over images that have pixels.

Defaults follow the paper: tau_c = tau_a = 1, lambda_c = 10, lambda_a = 0.5.
Their gradients are bitwise reproducible on CPU (no scatter-adds), so fine-tuning is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SelfSupervisedWeights:
    tau_contrast: float = 1.0
    tau_affinity: float = 1.0
    lambda_contrast: float = 10.0
    lambda_affinity: float = 0.5


def centroids(features: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster means [K, D] of `features` [N, D] under `labels` [N] (-1 ignored), and which are non-empty."""
    assigned = labels >= 0
    one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), k).to(features.dtype) * assigned[:, None].to(features.dtype)
    sizes = one_hot.sum(0)
    sums = one_hot.transpose(0, 1) @ features
    return sums / sizes.clamp(min=1)[:, None], sizes > 0


def contrast_loss(centers: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Eq. 1 for the centroids [K, D] of the non-empty clusters of one image."""
    return torch.exp(-_pairwise_squared(centers) / tau).sum() / centers.shape[0]


def _pairwise_squared(centers: torch.Tensor) -> torch.Tensor:
    """||c^i - c^j||^2 from differences (exactly 0 on the diagonal, unlike cdist, whose gradient there is undefined)."""
    difference = centers[:, None, :] - centers[None, :, :]
    return (difference * difference).sum(-1)


def affinity_loss(
    features: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, present: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """Eq. 2 for one image: features [N, D], labels [N] (-1 ignored), centers [K, D] of all clusters."""
    assigned = labels >= 0
    pixels = features[assigned]
    # each pixel's centre by a one-hot product, not `centers[labels]`: that indexing's backward
    # adds into the centres with atomics across threads on CPU, in a different order each run,
    # so fine-tuning on identical inputs ended with different weights
    membership = torch.nn.functional.one_hot(labels[assigned], centers.shape[0]).to(centers.dtype)  # [N, K]
    own = membership @ centers
    distance = ((pixels - own) ** 2).sum(-1)
    # each cluster's sum by a product with the membership, not a scatter-add, for the same reason
    per_cluster = torch.exp(distance / tau) @ membership
    sizes = membership.sum(0)
    return (per_cluster[present] / sizes[present]).mean()


def self_supervised_loss(
    features: torch.Tensor, labels: torch.Tensor, k: int, weights: SelfSupervisedWeights = SelfSupervisedWeights()
) -> dict[str, torch.Tensor]:
    """L_SS over a batch: `features` [B, D, H, W] (normalised here), `labels` [B, H, W] in -1..K-1.

    Returns {"loss_ss", "loss_contrast", "loss_affinity"}, each the mean over images with pixels.
    """
    if features.shape[0] != labels.shape[0] or features.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"pseudo parts of shape {tuple(labels.shape)} do not match features of shape {tuple(features.shape)}")
    normalised = torch.nn.functional.normalize(features.float(), dim=1)
    contrasts, affinities = [], []
    for image_features, image_labels in zip(normalised, labels, strict=True):
        flat_features = image_features.flatten(1).transpose(0, 1)  # [H*W, D]
        flat_labels = image_labels.flatten().long()
        if not bool((flat_labels >= 0).any()):
            continue
        centers, present = centroids(flat_features, flat_labels, k)
        contrasts.append(contrast_loss(centers[present], weights.tau_contrast))
        affinities.append(affinity_loss(flat_features, flat_labels, centers, present, weights.tau_affinity))
    if not contrasts:
        zero = features.sum() * 0.0  # keeps the graph connected for DDP
        return {"loss_ss": zero, "loss_contrast": zero, "loss_affinity": zero}
    contrast = torch.stack(contrasts).mean()
    affinity = torch.stack(affinities).mean()
    return {
        "loss_ss": weights.lambda_contrast * contrast + weights.lambda_affinity * affinity,
        "loss_contrast": contrast,
        "loss_affinity": affinity,
    }
