import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.data.errors import DataError, InvalidDatasetError
from openparts.data.validate import validate
from tests.conftest import square_parts


def _edit(root: Path, change) -> None:
    path = root / "annotations.json"
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def test_round_trip_keeps_masks_classes_and_object(tiny_dataset: Path) -> None:
    dataset = PartDataset.open(tiny_dataset)
    image, parts, obj = square_parts()
    sample = dataset[0]
    assert len(dataset) == 3
    assert (sample.image == image).all()
    assert (sample.part_masks == np.stack([p.mask for p in parts])).all()
    assert (sample.object_mask == obj).all()
    assert sample.part_classes == ["left", "right"]
    assert dataset.part_classes == ["left", "right"]
    assert sample.record["object_mask_source"] == "gt"
    assert validate(tiny_dataset).parts == 6


def test_empty_parts_are_dropped_and_images_without_parts_skipped(tmp_path: Path) -> None:
    image, parts, obj = square_parts()
    empty = Part(np.zeros_like(parts[0].mask), "nothing")
    with DatasetWriter(tmp_path / "d", source="test") as writer:
        assert writer.add(image, "a.png", [*parts, empty], object_mask=obj, object_mask_source="gt") == 1
        assert writer.add(image, "b.png", [empty], object_mask=obj, object_mask_source="gt") is None
    info = json.loads((tmp_path / "d" / "annotations.json").read_text())["info"]
    assert info["skipped"] == {"empty part mask": 2, "image without parts": 1}
    assert len(PartDataset.open(tmp_path / "d")) == 1


def test_unlabeled_set_keeps_images_without_parts(tmp_path: Path) -> None:
    image, _, obj = square_parts()
    with DatasetWriter(tmp_path / "u", source="test", labeled=False) as writer:
        writer.add(image, "a.png", [], object_mask=obj, object_mask_source="gt")
    assert validate(tmp_path / "u").images == 1


def test_writer_rejects_empty_object_mask_and_mismatched_masks(tmp_path: Path) -> None:
    image, parts, obj = square_parts()
    with pytest.raises(DataError, match="object mask is empty"), DatasetWriter(tmp_path / "d", source="t") as writer:
        writer.add(image, "a.png", parts, object_mask=np.zeros_like(obj), object_mask_source="gt")
    with pytest.raises(DataError, match="part mask is 10x10"), DatasetWriter(tmp_path / "d", source="t") as writer:
        writer.add(image, "a.png", [Part(np.ones((10, 10), bool))])
    assert not (tmp_path / "d").exists()


def test_writer_rejects_file_names_that_escape(tmp_path: Path) -> None:
    image, parts, _ = square_parts()
    with pytest.raises(DataError, match="escapes"), DatasetWriter(tmp_path / "d", source="t") as writer:
        writer.add(image, "../evil.png", parts)


def test_failed_conversion_keeps_the_previous_dataset(tiny_dataset: Path) -> None:
    before = (tiny_dataset / "annotations.json").read_bytes()
    with pytest.raises(RuntimeError), DatasetWriter(tiny_dataset, source="t", overwrite=True) as writer:
        image, parts, _ = square_parts()
        writer.add(image, "new.png", parts)
        raise RuntimeError("converter crashed")
    assert (tiny_dataset / "annotations.json").read_bytes() == before
    assert validate(tiny_dataset).images == 3


def test_converter_killed_halfway_leaves_no_folder_that_validates(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from openparts.data.dataset import DatasetWriter
        from tests.conftest import square_parts
        with DatasetWriter({str(tmp_path / "out")!r}, source="t") as writer:
            for index in range(5):
                image, parts, obj = square_parts()
                writer.add(image, f"{{index}}.png", parts, object_mask=obj, object_mask_source="gt")
                if index == 2:
                    os.kill(os.getpid(), 9)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], check=False)
    assert result.returncode == -9
    assert not (tmp_path / "out").exists()
    for leftover in tmp_path.iterdir():
        with pytest.raises(DataError, match="annotations.json: missing"):
            validate(leftover)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["images"].append(dict(p["images"][0])), "duplicate image id 1"),
        (lambda p: p["annotations"].append({**p["annotations"][0], "id": 99, "image_id": 42}), "refers to image 42"),
        (lambda p: p["annotations"].append(dict(p["annotations"][0])), "duplicate annotation id 1"),
        (lambda p: p.pop("images"), "missing key 'images'"),
        (lambda p: p["images"][0].pop("width"), r"images\[0\] misses key\(s\) width"),
    ],
)
def test_structural_problems_raise_on_open(tiny_dataset: Path, change, message: str) -> None:
    _edit(tiny_dataset, change)
    with pytest.raises(DataError, match=message):
        PartDataset.open(tiny_dataset)


def test_malformed_json_names_the_file_and_position(tiny_dataset: Path) -> None:
    (tiny_dataset / "annotations.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"annotations.json: malformed JSON at line 1"):
        PartDataset.open(tiny_dataset)


def _wrong_size_rle(payload: dict) -> None:
    payload["annotations"][0]["segmentation"] = mask_io.encode(np.ones((5, 5), bool))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_wrong_size_rle, r"RLE size \[5, 5\] does not match"),
        (lambda p: p["annotations"][0].update(segmentation=mask_io.encode(np.zeros((48, 64), bool))), "part mask is empty"),
        (lambda p: p["images"][1].update(object_mask=mask_io.encode(np.zeros((48, 64), bool))), "object mask is empty"),
        (lambda p: p["images"][1].update(object_mask=None), "no object mask"),
        (lambda p: p.update(annotations=[a for a in p["annotations"] if a["image_id"] != 2]), "labeled image has no parts"),
        (lambda p: p["images"][0].update(width=65), "image is 64x48 but annotations.json says 65x48"),
        (lambda p: p["images"][0].update(file_name="../../x.png"), "escapes the images folder"),
        (lambda p: p["images"][0].update(file_name="/etc/hostname"), "is absolute"),
        (lambda p: p["images"][0].update(file_name="gone.png"), "image file does not exist"),
        (lambda p: p["annotations"][0].update(category_id=7), "category_id 7 is not 1"),
    ],
)
def test_validate_names_each_problem(tiny_dataset: Path, change, message: str) -> None:
    _edit(tiny_dataset, change)
    with pytest.raises(InvalidDatasetError, match=message):
        validate(tiny_dataset)


def test_validate_reports_truncated_image_files(tiny_dataset: Path) -> None:
    image_file = tiny_dataset / "images" / "img0.png"
    image_file.write_bytes(image_file.read_bytes()[:60])
    with pytest.raises(InvalidDatasetError, match="img0.png: image data is corrupt or truncated"):
        validate(tiny_dataset)


def test_missing_object_masks_can_be_allowed_before_the_object_masks_stage(tiny_dataset: Path) -> None:
    _edit(tiny_dataset, lambda p: [image.update(object_mask=None) for image in p["images"]])
    assert validate(tiny_dataset, require_object_masks=False).images_with_object_mask == 0


def test_folder_without_annotations_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="annotations.json: missing"):
        PartDataset.open(tmp_path)
