"""The object mask and the part masks must stay aligned with the image under every transform."""

from pathlib import Path

import numpy as np
import pytest
import torch

from openparts.data.dataset import DatasetWriter, Part
from openparts.data.torch_dataset import PartSegmentationDataset, collate
from openparts.data.transforms import test_transforms as make_test_transforms
from openparts.data.transforms import train_transforms


@pytest.fixture
def marked_dataset(tmp_path: Path) -> Path:
    """Images whose pixels spell out their labels: red = object, green = part 1, blue = part 2.

    After any geometric transform, a pixel's colour must still match the masks at that pixel.
    """
    height, width = 90, 120
    image = np.zeros((height, width, 3), np.uint8)
    obj = np.zeros((height, width), bool)
    obj[10:80, 15:105] = True
    first = np.zeros_like(obj)
    first[20:50, 25:60] = True
    second = np.zeros_like(obj)
    second[40:75, 60:100] = True
    second &= ~first
    image[obj, 0] = 255
    image[first, 1] = 255
    image[second, 2] = 255
    with DatasetWriter(tmp_path / "marked", source="test") as writer:
        for index in range(2):
            writer.add(image, f"m{index}.png", [Part(first, "a"), Part(second, "b")], object_mask=obj, object_mask_source="gt")
    return tmp_path / "marked"


def assert_aligned(inputs: torch.Tensor, target: dict) -> None:
    red, green, blue, object_channel = inputs
    confident = (red - 0.5).abs() > 0.4  # ignore pixels blended by bilinear resampling at edges
    agree = ((red > 0.5) == (object_channel > 0.5))[confident]
    assert agree.float().mean() > 0.995
    for colour, mask in zip((green, blue), target["masks"], strict=False):
        sure = (colour - 0.5).abs() > 0.4
        assert ((colour > 0.5) == mask)[sure].float().mean() > 0.995


@pytest.mark.parametrize("seed", range(12))
def test_train_transforms_keep_masks_aligned(marked_dataset: Path, seed: int) -> None:
    torch.manual_seed(seed)
    dataset = PartSegmentationDataset(marked_dataset, train_transforms(crop_size=64, scale_range=(0.1, 2.0)))
    inputs, target = dataset[0]
    assert inputs.shape == (4, 64, 64)
    assert target["masks"].shape[1:] == (64, 64)
    assert len(target["masks"]) == len(target["labels"])
    assert_aligned(inputs, target)
    assert not (target["masks"].any(dim=0) & ~target["object_mask"]).any()


def test_parts_cropped_away_are_dropped(marked_dataset: Path) -> None:
    torch.manual_seed(0)
    dataset = PartSegmentationDataset(marked_dataset, train_transforms(crop_size=16, scale_range=(2.0, 2.0)))
    counts = set()
    for _ in range(10):
        _, target = dataset[0]
        assert target["masks"].flatten(1).any(dim=1).all()
        counts.add(len(target["masks"]))
    assert min(counts) < 2


def test_test_transform_resizes_the_shortest_edge(marked_dataset: Path) -> None:
    dataset = PartSegmentationDataset(marked_dataset, make_test_transforms(shortest_edge=45))
    inputs, target = dataset[0]
    assert inputs.shape == (4, 45, 60)
    assert target["original_size"] == (90, 120)
    assert_aligned(inputs, target)


def test_three_channel_input_and_class_aware_labels(marked_dataset: Path) -> None:
    dataset = PartSegmentationDataset(marked_dataset, object_mask_channel=False, class_agnostic=False)
    inputs, target = dataset[0]
    assert inputs.shape == (3, 90, 120)
    assert target["labels"].tolist() == [0, 1]
    assert dataset.num_classes == 2
    agnostic = PartSegmentationDataset(marked_dataset)
    assert agnostic[0][1]["labels"].tolist() == [0, 0] and agnostic.num_classes == 1


def test_collate_stacks_inputs_and_keeps_targets(marked_dataset: Path) -> None:
    dataset = PartSegmentationDataset(marked_dataset, train_transforms(crop_size=32))
    inputs, targets = collate([dataset[0], dataset[1]])
    assert inputs.shape == (2, 4, 32, 32) and len(targets) == 2


def test_missing_object_mask_with_four_channels_is_an_error(tmp_path: Path) -> None:
    from openparts.data.errors import DataError

    image = np.zeros((8, 8, 3), np.uint8)
    part = np.zeros((8, 8), bool)
    part[2:5, 2:5] = True
    with DatasetWriter(tmp_path / "no-object", source="test") as writer:
        writer.add(image, "a.png", [Part(part)])
    with pytest.raises(DataError, match="a.png: has no object mask"):
        PartSegmentationDataset(tmp_path / "no-object")[0]
    inputs, _ = PartSegmentationDataset(tmp_path / "no-object", object_mask_channel=False)[0]
    assert inputs.shape == (3, 8, 8)
