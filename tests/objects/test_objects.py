from pathlib import Path

import numpy as np
import pytest

from openparts.objects import make_masker
from openparts.objects.components import largest_component


def test_largest_component_keeps_one_region_and_fills_its_holes() -> None:
    mask = np.zeros((40, 40), bool)
    mask[5:25, 5:25] = True
    mask[12:15, 12:15] = False  # a hole
    mask[30:33, 30:33] = True  # a speckle
    kept = largest_component(mask)
    assert kept[13, 13] and not kept[31, 31]
    assert kept.sum() == 400
    assert not largest_component(np.zeros((5, 5), bool)).any()


def test_salient_model_finds_a_bright_object_on_a_plain_background() -> None:
    image = np.full((160, 200, 3), 235, np.uint8)
    rows, cols = np.mgrid[0:160, 0:200]
    disc = (rows - 80) ** 2 + (cols - 100) ** 2 < 45**2
    image[disc] = (200, 30, 30)
    mask = make_masker("salient")(image)
    assert mask.shape == (160, 200) and mask.dtype == bool
    iou = (mask & disc).sum() / (mask | disc).sum()
    assert iou > 0.7


def tiny_coco_checkpoint(folder: Path) -> Path:
    """A randomly initialised COCO-style Mask2Former saved with its image processor: what a
    downloaded checkpoint folder looks like, without the download."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, Mask2FormerImageProcessor, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], out_features=["stage1", "stage2", "stage3", "stage4"]
    )
    config = Mask2FormerConfig(
        backbone_config=backbone, num_labels=80, hidden_dim=32, feature_size=32, mask_feature_size=32, num_queries=8,
        encoder_layers=1, decoder_layers=2, num_attention_heads=4, dim_feedforward=64, encoder_feedforward_dim=64,
    )  # fmt: skip
    Mask2FormerForUniversalSegmentation(config).save_pretrained(folder)
    Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(folder)
    return folder


def test_coco_checkpoint_from_a_local_folder_gives_one_object_mask(tmp_path: Path) -> None:
    masker = make_masker("mask2former-coco", str(tiny_coco_checkpoint(tmp_path / "coco")), device="cpu")
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    mask = masker(image)
    assert mask.shape == (70, 90) and mask.dtype == bool
    from scipy import ndimage

    assert ndimage.label(mask)[1] <= 1  # one object at most


def test_unknown_method_and_missing_checkpoint_are_explained() -> None:
    with pytest.raises(ValueError, match="unknown object-mask method 'sam'; valid: salient, mask2former-coco"):
        make_masker("sam")
    with pytest.raises(ValueError, match="needs a checkpoint"):
        make_masker("mask2former-coco")
