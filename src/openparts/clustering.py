"""K-means on per-pixel features, batched over images, in torch: the pseudo parts of Sec. 3.3.

Each image contributes the L2-normalised mask features of the pixels inside its object mask.
Images have different pixel counts, so a batch is padded to the largest and a validity mask
keeps padding out of every sum. The algorithm is scikit-learn's (the reference the tests
compare against): greedy k-means++ seeding with 2 + floor(ln K) candidates per centre, then
Lloyd iterations until no label changes or the squared centre shift falls below `tol` times
the mean per-feature variance of the image's points, at most `max_iter` times. An empty cluster keeps its previous
centre (with L2-normalised features and k-means++ seeding this is rare; it is counted in the
result). Runs unchanged on CPU and CUDA; seeded through a torch.Generator.

K per image: min(K, number of object pixels); an image with no object pixel gets no clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional


@dataclass
class KMeansResult:
    labels: torch.Tensor  # [B, N] long, -1 on padding
    centers: torch.Tensor  # [B, K, D]
    inertia: torch.Tensor  # [B] sum of squared distances to the assigned centre
    iterations: int
    clusters: torch.Tensor  # [B] clusters used per image: min(K, valid points)


CPU_CHUNK = 8


def kmeans(
    points: torch.Tensor,
    k: int,
    valid: torch.Tensor | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
) -> KMeansResult:
    """Cluster each image's points: `points` [B, N, D], `valid` [B, N] bool (default: all valid).

    Images are clustered `chunk` at a time (default: all on CUDA, 8 on CPU, where a chunk's
    points then stay in cache across iterations; each chunk also stops as soon as it converges).
    """
    if points.ndim != 3:
        raise ValueError(f"points must be [images, pixels, features], got shape {tuple(points.shape)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    batch, count, _ = points.shape
    valid = torch.ones(batch, count, dtype=torch.bool, device=points.device) if valid is None else valid.to(points.device)
    chunk = chunk or (batch if points.is_cuda else CPU_CHUNK)
    parts = [
        _kmeans_chunk(points[start : start + chunk], k, valid[start : start + chunk], max_iter, tol, generator)
        for start in range(0, batch, chunk)
    ]
    return KMeansResult(
        labels=torch.cat([p.labels for p in parts]),
        centers=torch.cat([p.centers for p in parts]),
        inertia=torch.cat([p.inertia for p in parts]),
        iterations=max(p.iterations for p in parts),
        clusters=torch.cat([p.clusters for p in parts]),
    )


def _kmeans_chunk(points: torch.Tensor, k: int, valid: torch.Tensor, max_iter: int, tol: float, generator) -> KMeansResult:
    weights = valid.float()
    points = points.float()
    if not bool(valid.all()):
        points = points * weights[..., None]  # padding becomes zero: it adds nothing to a cluster sum
    clusters = valid.sum(1).clamp(max=k)
    norms = torch.einsum("bnd,bnd->bn", points, points)
    centers = _kmeans_plus_plus(points, norms, weights, k, generator)
    # a cluster index beyond an image's budget (too few pixels) is never chosen
    usable = torch.arange(k, device=points.device)[None, :] < clusters[:, None]
    # mean per-feature variance = (E|x|^2 - |E x|^2) / D, without a [B, N, D] temporary
    counts = weights.sum(1).clamp(min=1)
    mean = torch.einsum("bn,bnd->bd", weights, points) / counts[:, None]
    variance = ((norms * weights).sum(1) / counts - (mean * mean).sum(-1)).clamp(min=0) / points.shape[-1]
    threshold = tol * variance
    iterations = 0
    view_ids = torch.arange(points.shape[0], device=points.device)  # the images the tensors below hold
    view_points, view_norms, view_weights, view_usable = points, norms, weights, usable
    moving = torch.ones(points.shape[0], dtype=torch.bool, device=points.device)
    previous = None
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported in the result
        if int(moving.sum()) <= len(view_ids) // 2:  # drop converged images once that halves the work
            view_ids, previous = view_ids[moving], previous[moving]
            view_points, view_norms, view_weights, view_usable = points[view_ids], norms[view_ids], weights[view_ids], usable[view_ids]
            moving = moving[moving]
        view_centers = centers[view_ids]
        labels = _assign(view_points, view_norms, view_centers, view_usable)
        one_hot = torch.nn.functional.one_hot(labels, k).float()
        sums = torch.bmm(one_hot.transpose(1, 2), view_points)  # padding points are zero
        sizes = (one_hot * view_weights[..., None]).sum(1)
        updated = torch.where(sizes[..., None] > 0, sums / sizes.clamp(min=1)[..., None], view_centers)
        updated = torch.where(moving[:, None, None], updated, view_centers)  # converged images stay put
        shift = ((updated - view_centers) ** 2).sum((1, 2))
        centers[view_ids] = updated
        # converged: no label changed since the last pass (so the centres just recomputed are the
        # same), or the centres moved less than the tolerance
        unchanged = (labels == previous).all(1) if previous is not None else torch.zeros_like(moving)
        moving = moving & ~(unchanged | (shift <= threshold[view_ids]))
        if not bool(moving.any()):
            break
        previous = labels
    distances = _squared_distances(points, norms, centers).masked_fill(~usable[:, None, :], float("inf"))
    nearest, labels = distances.min(-1)
    inertia = (torch.where(torch.isinf(nearest), 0.0, nearest.clamp(min=0)) * weights).sum(1)  # no cluster: nothing to add
    labels = torch.where(valid, labels, torch.full_like(labels, -1))
    return KMeansResult(labels, centers, inertia, iterations, clusters)


def _squared_distances(points: torch.Tensor, norms: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """[B, N, K] via |x|^2 - 2 x.c + |c|^2: one batched matrix product, no [B, N, K, D] tensor."""
    center_norms = (centers * centers).sum(-1)
    return norms[..., None] - 2 * torch.bmm(points, centers.transpose(1, 2)) + center_norms[:, None, :]


def _assign(points: torch.Tensor, norms: torch.Tensor, centers: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    distances = _squared_distances(points, norms, centers)
    return distances.masked_fill(~usable[:, None, :], float("inf")).argmin(-1)


def _kmeans_plus_plus(points: torch.Tensor, norms: torch.Tensor, weights: torch.Tensor, k: int, generator) -> torch.Tensor:
    """Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant), all images at once."""
    batch, _, dims = points.shape
    trials = 2 + int(math.log(k))
    rows = torch.arange(batch, device=points.device)
    centers = torch.zeros(batch, k, dims, device=points.device)
    has_points = weights.sum(1) > 0
    uniform = torch.where(has_points[:, None], weights, torch.ones_like(weights))
    first = torch.multinomial(uniform, 1, generator=generator)[:, 0]
    centers[:, 0] = points[rows, first]
    closest = _to_one(points, norms, centers[:, 0]) * weights
    for index in range(1, k):
        potential = closest.sum(1, keepdim=True)
        probabilities = torch.where(potential > 0, closest / potential.clamp(min=1e-12), uniform)
        candidates = torch.multinomial(probabilities, trials, replacement=True, generator=generator)  # [B, T]
        candidate_points = points[rows[:, None], candidates]  # [B, T, D]
        distances = _squared_distances(points, norms, candidate_points).clamp(min=0)  # [B, N, T]
        updated = torch.minimum(closest[..., None], distances * weights[..., None])  # [B, N, T]
        best = updated.sum(1).argmin(-1)  # [B]
        centers[:, index] = candidate_points[rows, best]
        closest = updated[rows, :, best]
    return centers


def _to_one(points: torch.Tensor, norms: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    return (norms - 2 * torch.einsum("bnd,bd->bn", points, center) + (center * center).sum(-1)[:, None]).clamp(min=0)


def pseudo_part_labels(
    mask_features: torch.Tensor, object_masks: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pseudo parts for a batch: K-means on the L2-normalised features inside each object.

    mask_features [B, D, h, w] (the pixel decoder's output); object_masks [B, H, W] at the
    input resolution (any multiple of h, w), reduced to the feature grid by area (a feature
    cell belongs to the object when at least half of its pixels do). Returns int64 [B, h, w]:
    -1 outside the object, 0..K-1 inside. Computed without gradients: the assignment is a
    target; the losses recompute centroids from the differentiable features.
    """
    with torch.no_grad():
        batch, dims, height, width = mask_features.shape
        inside = functional.adaptive_avg_pool2d(object_masks[:, None].float(), (height, width))[:, 0] >= 0.5
        features = functional.normalize(mask_features.detach().float(), dim=1).flatten(2).transpose(1, 2)  # [B, h*w, D]
        valid = inside.flatten(1)
        count = int(valid.sum(1).max()) if batch else 0
        labels = torch.full((batch, height * width), -1, dtype=torch.long, device=mask_features.device)
        if count == 0:
            return labels.view(batch, height, width)
        # gather each image's object pixels to the front, so K-means sees [B, max pixels, D]
        order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)[:, :count]
        points = features.gather(1, order[..., None].expand(-1, -1, dims))
        point_valid = valid.gather(1, order)
        result = kmeans(points, k, point_valid, generator=generator)
        labels.scatter_(1, order, torch.where(point_valid, result.labels, torch.full_like(result.labels, -1)))
        return labels.view(batch, height, width)
