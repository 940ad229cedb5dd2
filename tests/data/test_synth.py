from pathlib import Path

import numpy as np
import pytest

from openparts.data import synth
from openparts.data.dataset import PartDataset
from openparts.data.validate import validate


def colour_histogram_balanced_accuracy(samples: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """How well a colour-only classifier (8x8x8 RGB bins) fit on half the images finds the
    object in the other half: 0.5 is chance, 1.0 is perfect separation."""

    def bins(image: np.ndarray) -> np.ndarray:
        quantised = (image // 32).astype(np.int64)
        return quantised[..., 0] * 64 + quantised[..., 1] * 8 + quantised[..., 2]

    half = len(samples) // 2
    inside, outside = np.zeros(512), np.zeros(512)
    for image, object_mask in samples[:half]:
        inside += np.bincount(bins(image)[object_mask], minlength=512)
        outside += np.bincount(bins(image)[~object_mask], minlength=512)
    says_object = inside / inside.sum() > outside / outside.sum()
    hits_in = hits_out = total_in = total_out = 0
    for image, object_mask in samples[half:]:
        predicted = says_object[bins(image)]
        hits_in += (predicted & object_mask).sum()
        hits_out += (~predicted & ~object_mask).sum()
        total_in += object_mask.sum()
        total_out += (~object_mask).sum()
    return 0.5 * (hits_in / total_in + hits_out / total_out)


def test_at_least_24_categories_split_into_disjoint_seen_and_unseen() -> None:
    assert len(synth.CATEGORIES) >= 24
    assert set(synth.SEEN_CATEGORIES).isdisjoint(synth.UNSEEN_CATEGORIES)
    assert set(synth.SEEN_CATEGORIES) | set(synth.UNSEEN_CATEGORIES) == set(synth.CATEGORIES)
    layouts = {name: len(template(np.random.default_rng(0))) for name, template in synth.CATEGORIES.items()}
    assert len(set(layouts.values())) >= 5  # different part counts across categories


def test_same_seed_same_images_other_seed_other_images(tmp_path: Path) -> None:
    first = synth.generate(tmp_path / "a", count=4, seed=5, size=64)
    second = synth.generate(tmp_path / "b", count=4, seed=5, size=64)
    third = synth.generate(tmp_path / "c", count=4, seed=6, size=64)
    a, b, c = (PartDataset.open(p) for p in (first, second, third))
    assert all((a[i].image == b[i].image).all() for i in range(4))
    assert a.annotations == b.annotations
    assert not (a[0].image == c[0].image).all()


def test_generated_set_is_valid_with_parts_inside_the_object(tmp_path: Path) -> None:
    root = synth.generate(tmp_path / "unseen", count=8, split="unseen", seed=0, size=96)
    assert validate(root).images == 8
    dataset = PartDataset.open(root)
    assert {r["object_category"] for r in dataset.images} == set(synth.UNSEEN_CATEGORIES)
    for sample in dataset:
        assert not (sample.part_masks.any(axis=0) & ~sample.object_mask).any()
        assert (sample.part_masks.sum(axis=0) <= 1).all()  # visible parts never overlap


def test_part_counts_vary_within_a_category() -> None:
    counts = {len(synth.table(np.random.default_rng(seed))) for seed in range(20)}
    assert len(counts) >= 2


def test_object_is_not_separable_from_background_by_colour() -> None:
    samples = []
    for index in range(60):
        image, _, object_mask = synth.render(synth.SPLITS["all"][index % 29], np.random.default_rng([0, index]), 96)
        samples.append((image, object_mask))
    assert colour_histogram_balanced_accuracy(samples) < 0.65


def test_colour_separability_measure_detects_a_colour_cue() -> None:
    """Guard for the test above: flat red objects on the same backgrounds are found by colour."""
    samples = []
    for index in range(20):
        image, _, object_mask = synth.render("mug", np.random.default_rng([1, index]), 96)
        image[object_mask] = (230, 20, 20)
        samples.append((image, object_mask))
    assert colour_histogram_balanced_accuracy(samples) > 0.9


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'bogus'"):
        synth.generate(tmp_path / "x", count=2, split="bogus")
    with pytest.raises(ValueError, match="count >= 1"):
        synth.generate(tmp_path / "x", count=0)
