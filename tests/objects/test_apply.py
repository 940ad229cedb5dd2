from pathlib import Path

import numpy as np

from openparts.cli import main
from openparts.data.dataset import PartDataset
from openparts.data.validate import validate
from openparts.objects.apply import write_with_object_masks


def left_half(image: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], bool)
    mask[:, : image.shape[1] // 2] = True
    return mask


def test_copy_keeps_images_parts_and_ids_and_records_the_method(tiny_dataset: Path, tmp_path: Path) -> None:
    out = write_with_object_masks(tiny_dataset, tmp_path / "left", left_half, "halves", progress=False)
    before, after = PartDataset.open(tiny_dataset), PartDataset.open(out)
    assert validate(out).images_with_object_mask == 3  # raises on any problem
    assert [r["id"] for r in after.images] == [r["id"] for r in before.images]
    assert [a["segmentation"] for a in after.annotations] == [a["segmentation"] for a in before.annotations]
    assert (after.image_path(0).read_bytes()) == before.image_path(0).read_bytes()
    assert {r["object_mask_source"] for r in after.images} == {"halves"}
    assert np.array_equal(after.object_mask(0), left_half(before.read_image(0)))


def test_no_object_found_falls_back_to_the_whole_image_and_says_so(tiny_dataset: Path, tmp_path: Path, caplog) -> None:
    nothing = lambda image: np.zeros(image.shape[:2], bool)
    out = write_with_object_masks(tiny_dataset, tmp_path / "none", nothing, "blind", progress=False)
    after = PartDataset.open(out)
    assert after.object_mask(0).all()
    assert {r["object_mask_source"] for r in after.images} == {"blind:whole-image"}
    assert "blind found no object in 3 of 3 images" in caplog.text


def test_object_masks_command_writes_a_salient_copy(tiny_dataset: Path, tmp_path: Path) -> None:
    assert main(["object-masks", "--data", str(tiny_dataset), "--method", "salient", "--out", str(tmp_path / "salient")]) == 0
    sources = {r["object_mask_source"] for r in PartDataset.open(tmp_path / "salient").images}
    assert sources <= {"salient", "salient:whole-image"}
