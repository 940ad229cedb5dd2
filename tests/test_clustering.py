import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from openparts.clustering import kmeans, pseudo_part_labels


def blobs(images: int, points: int, dims: int, centres: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    means = torch.nn.functional.normalize(torch.randn(images, centres, dims, generator=generator), dim=-1)
    which = torch.randint(0, centres, (images, points), generator=generator)
    noisy = means[torch.arange(images)[:, None], which] + 0.15 * torch.randn(images, points, dims, generator=generator)
    return torch.nn.functional.normalize(noisy, dim=-1)


def test_inertia_matches_scikit_learn_within_one_percent() -> None:
    points = blobs(6, 600, 16, 8)
    ours = kmeans(points, 10, generator=torch.Generator().manual_seed(0)).inertia.sum().item()
    reference = sum(KMeans(10, init="k-means++", n_init=1, random_state=i).fit(points[i].numpy()).inertia_ for i in range(6))
    assert ours <= 1.01 * reference


def test_labels_are_nearest_centres_and_inertia_adds_up() -> None:
    points = blobs(2, 300, 8, 5)
    result = kmeans(points, 5, generator=torch.Generator().manual_seed(1))
    distances = torch.cdist(points, result.centers) ** 2
    assert torch.equal(result.labels, distances.argmin(-1))
    assert torch.allclose(result.inertia, distances.min(-1).values.sum(1), rtol=1e-4)


def test_same_seed_same_clusters() -> None:
    points = blobs(3, 200, 8, 6)
    first = kmeans(points, 6, generator=torch.Generator().manual_seed(7))
    second = kmeans(points, 6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first.labels, second.labels)


def test_padding_is_ignored_and_few_pixels_mean_fewer_clusters() -> None:
    points = blobs(1, 100, 8, 4)
    padded = torch.cat([points, torch.full((1, 50, 8), 9.0)], dim=1)
    valid = torch.zeros(1, 150, dtype=torch.bool)
    valid[:, :100] = True
    alone = kmeans(points, 4, generator=torch.Generator().manual_seed(0))
    with_padding = kmeans(padded, 4, valid, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(alone.inertia, with_padding.inertia, rtol=1e-5)
    assert (with_padding.labels[0, 100:] == -1).all()
    few = torch.zeros(1, 10, 8, dtype=torch.bool)[..., 0]
    few[0, :3] = True
    tiny = kmeans(blobs(1, 10, 8, 2), 10, few)
    assert tiny.clusters.tolist() == [3]
    assert sorted(tiny.labels[0, :3].tolist()) == [0, 1, 2]
    nothing = kmeans(blobs(1, 10, 8, 2), 10, torch.zeros(1, 10, dtype=torch.bool))
    assert nothing.clusters.tolist() == [0] and (nothing.labels == -1).all()


def test_pseudo_parts_cover_the_object_only() -> None:
    features = torch.randn(2, 8, 4, 4)
    objects = torch.zeros(2, 16, 16)
    objects[0, :8, :8] = 1
    objects[1] = 1
    labels = pseudo_part_labels(features, objects, 3, torch.Generator().manual_seed(0))
    assert (labels[0, 2:, :] == -1).all() and (labels[0, :2, :2] >= 0).all()
    assert (labels[1] >= 0).all() and labels.max() <= 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_unchanged() -> None:
    points = blobs(4, 500, 16, 6)
    on_gpu = kmeans(points.cuda(), 6, generator=torch.Generator(device="cuda").manual_seed(0))
    reference = sum(KMeans(6, n_init=1, random_state=i).fit(points[i].numpy()).inertia_ for i in range(4))
    assert on_gpu.labels.is_cuda and on_gpu.inertia.sum().item() <= 1.01 * reference


def test_rejects_malformed_points() -> None:
    with pytest.raises(ValueError, match=r"points must be \[images, pixels, features\]"):
        kmeans(torch.zeros(5, 3), 2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        kmeans(torch.zeros(1, 5, 3), 0)
    assert np.isfinite(kmeans(torch.zeros(1, 5, 3), 2).inertia.numpy()).all()
