"""Stage 1 with given masks, and a fallback model for the pictures that have none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openparts.data.dataset import PartDataset
from openparts.data.import_images import import_images
from openparts.stages import run


@pytest.fixture
def pool(tiny_dataset: Path, tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    image = np.full((48, 64, 3), 30, np.uint8)
    image[12:36, 16:48] = (230, 200, 40)  # a bright object on a plain background
    Image.fromarray(image).save(drop / "new.png")
    return import_images(drop, tmp_path / "pool", add_to=tiny_dataset)


def test_given_masks_are_kept_and_missing_ones_come_from_the_fallback(pool: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    out = run("object_masks", {"data": pool}, {"object_masks": {"method": "gt", "fallback": "salient"}}, tmp_path / "out")
    masks = PartDataset.open(out / "dataset")
    assert [record["object_mask_source"] for record in masks.images] == ["gt", "gt", "gt", "salient"]
    given = PartDataset.open(pool)
    assert all(np.array_equal(masks.object_mask(i), given.object_mask(i)) for i in range(3))
    assert masks.object_mask(3)[24, 32] and not masks.object_mask(3)[2, 2]


def test_without_a_fallback_missing_masks_are_an_error_before_any_output(pool: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    with pytest.raises(Exception, match="object mask"):
        run("object_masks", {"data": pool}, {"object_masks": {"method": "gt"}}, tmp_path / "out")
    assert not (tmp_path / "out").exists()
