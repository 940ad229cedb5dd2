from pathlib import Path

import numpy as np
from PIL import Image

from openparts.data.inspect import dataset_info, format_info, overlay, show


def test_info_counts_images_parts_and_areas(tiny_dataset: Path) -> None:
    info = dataset_info(tiny_dataset)
    assert info["images"] == 3 and info["parts"] == 6
    assert info["parts_per_object"] == {"min": 2, "mean": 2.0, "max": 2}
    assert sum(info["part_area_histogram"].values()) == 6
    assert info["object_mask_sources"] == {"gt": 3}
    text = format_info(info)
    assert "parts per object   min 2, mean 2.0, max 2" in text


def test_show_writes_one_overlay_per_image(tiny_dataset: Path, tmp_path: Path) -> None:
    written = show(tiny_dataset, tmp_path / "pictures", limit=2)
    assert [p.name for p in written] == ["img0.png", "img1.png"]
    picture = np.asarray(Image.open(written[0]))
    assert picture.shape == (48, 128, 3)  # photo and overlay side by side


def test_overlay_colours_parts_and_outlines_the_object() -> None:
    image = np.zeros((20, 20, 3), np.uint8)
    part = np.zeros((20, 20), bool)
    part[5:15, 5:15] = True
    obj = np.zeros((20, 20), bool)
    obj[3:17, 3:17] = True
    result = overlay(image, part[None], obj)
    assert result[10, 10].sum() > 0  # part tinted
    assert (result[0, 0] == 0).all()  # background untouched
    assert (result[2, 10] == 255).all()  # white outline just outside the object
