import math

import pytest
import torch

from openparts.losses import SelfSupervisedWeights, affinity_loss, centroids, contrast_loss, self_supervised_loss


def test_contrast_of_two_centroids_matches_eq1_by_hand() -> None:
    centers = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # squared distance 2
    # 1/K * (two diagonal terms exp(0) + two off-diagonal exp(-2)) with K = 2
    assert contrast_loss(centers).item() == pytest.approx((2 + 2 * math.exp(-2.0)) / 2)
    assert contrast_loss(centers, tau=2.0).item() == pytest.approx((2 + 2 * math.exp(-1.0)) / 2)


def test_affinity_matches_eq2_by_hand() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    centers, present = centroids(features, labels, 2)
    assert torch.allclose(centers, torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    # cluster 0: both pixels at squared distance 0.5, mean exp(0.5); cluster 1: its pixel at 0, mean 1; K = 2
    expected = (math.exp(0.5) + math.exp(0.0)) / 2
    assert affinity_loss(features, labels, centers, present).item() == pytest.approx(expected)
    assert affinity_loss(features, labels, centers, present, tau=0.5).item() == pytest.approx((math.exp(1.0) + 1) / 2)


def test_affinity_weighs_a_small_cluster_as_much_as_a_large_one() -> None:
    # Eq. 2's inner sum runs over each cluster's own pixels: a mean per cluster, then over clusters
    features = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 4 + [[0.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0] * 5 + [1] * 6)  # cluster 0: 5 pixels on their centre; cluster 1: 6 around (0, 1)
    centers, present = centroids(features, labels, 2)
    assert torch.allclose(centers[1], torch.tensor([0.0, 1.0]))
    tight, loose = 1.0, (4 * 1.0 + 2 * math.exp(1.0)) / 6
    assert affinity_loss(features, labels, centers, present).item() == pytest.approx((tight + loose) / 2)
    # not the mean over all pixels divided by K, which weighs the clusters by size and is K times weaker
    assert affinity_loss(features, labels, centers, present).item() != pytest.approx((5 * tight + 6 * loose) / (11 * 2))


def test_empty_clusters_and_ignored_pixels_take_no_part() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    labels = torch.tensor([0, 2, -1])  # cluster 1 empty, pixel 2 outside the object
    centers, present = centroids(features, labels, 3)
    assert present.tolist() == [True, False, True]
    assert contrast_loss(centers[present]).item() == pytest.approx((2 + 2 * math.exp(-2.0)) / 2)
    assert affinity_loss(features, labels, centers, present).item() == pytest.approx((1 + 1) / 2)


def test_batch_loss_normalises_features_and_weights_the_terms() -> None:
    features = torch.zeros(1, 2, 1, 3)
    features[0, 0, 0, 0] = 3.0  # normalised to (1, 0)
    features[0, 1, 0, 1:] = 0.5  # normalised to (0, 1)
    labels = torch.tensor([[[0, 1, 1]]])
    losses = self_supervised_loss(features, labels, 2)
    contrast = (2 + 2 * math.exp(-2.0)) / 2
    assert losses["loss_contrast"].item() == pytest.approx(contrast)
    assert losses["loss_affinity"].item() == pytest.approx((1 + 1) / 2)
    assert losses["loss_ss"].item() == pytest.approx(10 * contrast + 0.5 * 1.0)
    custom = self_supervised_loss(features, labels, 2, SelfSupervisedWeights(lambda_contrast=1.0, lambda_affinity=0.0))
    assert custom["loss_ss"].item() == pytest.approx(contrast)


def test_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    features = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(-1, 3, (2, 3, 3))
    labels[:, 0, 0] = 0
    check = lambda f: self_supervised_loss(f, labels, 3)["loss_ss"]
    # the loss casts to float32 internally; gradcheck needs double, so check the float64 pieces
    assert torch.autograd.gradcheck(lambda c: contrast_loss(c), (torch.randn(3, 4, dtype=torch.float64, requires_grad=True),))
    flat = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    flat_labels = torch.tensor([0, 0, 1, 2, 2, -1])

    def affinity(points: torch.Tensor) -> torch.Tensor:
        centers, present = centroids(points, flat_labels, 3)
        return affinity_loss(points, flat_labels, centers, present) + contrast_loss(centers[present])

    assert torch.autograd.gradcheck(affinity, (flat,))
    check(features).backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


def test_pseudo_parts_of_the_wrong_size_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"pseudo parts of shape \(1, 4, 4\) do not match features of shape \(1, 2, 3, 3\)"):
        self_supervised_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 4, dtype=torch.long), 2)


def test_an_image_without_pixels_gives_zero_loss_with_a_graph() -> None:
    features = torch.randn(1, 2, 2, 2, requires_grad=True)
    losses = self_supervised_loss(features, torch.full((1, 2, 2), -1), 2)
    assert losses["loss_ss"].item() == 0.0
    losses["loss_ss"].backward()


def test_gradients_are_the_same_bits_every_run() -> None:
    """Fine-tuning on identical inputs must end with identical weights (DVC caches its output,
    and a rerun is compared with it): no accumulation whose order changes between runs. Many
    pixels per cluster, on every thread torch has, so that an unordered sum shows."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 64, 96, 96, generator=generator)
    labels = torch.randint(-1, 3, (2, 96, 96), generator=generator)

    def gradient() -> torch.Tensor:
        leaf = features.clone().requires_grad_()
        self_supervised_loss(leaf, labels, 3)["loss_ss"].backward()
        return leaf.grad

    first = gradient()
    assert all(torch.equal(first, gradient()) for _ in range(5))
