import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openparts.data import masks as mask_io
from openparts.data.adapters import convert
from openparts.data.adapters.coco import merge_overlapping
from openparts.data.dataset import PartDataset
from openparts.data.errors import DataError
from openparts.data.validate import validate

SQUARE = [10, 10, 30, 10, 30, 30, 10, 30]
OTHER_SQUARE = [40, 10, 60, 10, 60, 30, 40, 30]


def coco_source(tmp_path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    images = images or [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}]
    for image in images:
        if not (tmp_path / "images" / image["file_name"]).exists():
            Image.new("RGB", (image["width"], image["height"]), (90, 120, 30)).save(tmp_path / "images" / image["file_name"])
    payload = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "handle"}, {"id": 2, "name": "lid"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(payload))
    return tmp_path / "annotations.json"


def annotation(identifier: int, segmentation, category: int = 1, image: int = 1) -> dict:
    return {"id": identifier, "image_id": image, "category_id": category, "segmentation": segmentation}


def test_flat_and_nested_polygons_and_rle_are_all_read(tmp_path: Path) -> None:
    rle = mask_io.encode(np.pad(np.ones((5, 5), bool), ((40, 3), (50, 9))))
    source = coco_source(tmp_path, [annotation(1, SQUARE), annotation(2, [OTHER_SQUARE], 2), annotation(3, rle)])
    out = convert("coco", source, tmp_path / "out")[0]
    dataset = PartDataset.open(out)
    assert validate(out).parts == 3
    assert sorted(dataset.part_classes) == ["handle", "lid"]
    assert dataset.images[0]["object_mask_source"] == "approx"


def test_degenerate_polygons_and_wrong_size_rle_are_skipped_with_counts(tmp_path: Path) -> None:
    wrong_size = mask_io.encode(np.ones((10, 10), bool))
    source = coco_source(
        tmp_path,
        [annotation(1, [SQUARE, [1, 2, 3, 4]]), annotation(2, [[5, 5]], 2), annotation(3, wrong_size), annotation(4, [])],
    )
    out = convert("coco", source, tmp_path / "out")[0]
    skipped = PartDataset.open(out).info["skipped"]
    assert skipped["polygon with fewer than 3 points or bad coordinates"] == 2
    assert skipped["annotation with bad RLE (RLE size [10, 10] does not match the image's [height, width] = [48, 64])"] == 1
    assert validate(out).parts == 1


def test_image_with_no_parts_is_skipped(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}, {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}]
    out = convert("coco", coco_source(tmp_path, [annotation(1, SQUARE)], images), tmp_path / "out")[0]
    assert len(PartDataset.open(out)) == 1
    assert PartDataset.open(out).info["skipped"]["image without parts"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p.pop("categories"), "missing key 'categories'"),
        (lambda p: p["annotations"].append(dict(p["annotations"][0])), "duplicate id 1 in 'annotations'"),
        (lambda p: p["images"].append(dict(p["images"][0])), "duplicate id 1 in 'images'"),
        (lambda p: p["annotations"].append(annotation(2, SQUARE, image=9)), "annotation 2 refers to image 9"),
        (lambda p: p["annotations"][0].pop("segmentation"), r"annotations\[0\] misses key\(s\) segmentation"),
        (lambda p: p["images"][0].update(width=65), "image 1 \\(a.jpg\\) is 64x48 but the annotation says 65x48"),
        (lambda p: p["images"][0].update(file_name="../../a.jpg"), "escapes the images folder"),
    ],
)
def test_file_level_problems_are_errors_naming_the_file(tmp_path: Path, edit, message: str) -> None:
    source = coco_source(tmp_path, [annotation(1, SQUARE)])
    payload = json.loads(source.read_text())
    edit(payload)
    source.write_text(json.dumps(payload))
    with pytest.raises(DataError, match=message):
        convert("coco", source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malformed_json_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text("{not json")
    with pytest.raises(DataError, match="annotations.json: malformed JSON"):
        convert("coco", tmp_path, tmp_path / "out")


def test_truncated_image_fails_or_is_skipped_when_asked(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}, {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}]
    source = coco_source(tmp_path, [annotation(1, SQUARE), annotation(2, SQUARE, image=2)], images)
    (tmp_path / "images" / "b.jpg").write_bytes((tmp_path / "images" / "b.jpg").read_bytes()[:100])
    with pytest.raises(DataError, match="b.jpg: image data is corrupt or truncated"):
        convert("coco", source, tmp_path / "out")
    out = convert("coco", source, tmp_path / "out", skip_bad_images=True)[0]
    assert len(PartDataset.open(out)) == 1
    assert PartDataset.open(out).info["skipped"]["unreadable image"] == 1


def test_existing_output_is_kept_when_a_reconversion_fails(tmp_path: Path) -> None:
    source = coco_source(tmp_path, [annotation(1, SQUARE)])
    out = convert("coco", source, tmp_path / "out")[0]
    before = (out / "annotations.json").read_bytes()
    source.write_text("{broken")
    with pytest.raises(DataError):
        convert("coco", source, out, overwrite=True)
    assert (out / "annotations.json").read_bytes() == before


def test_overlapping_polygons_merge_into_one_instance() -> None:
    a, b, c = (np.zeros((10, 10), bool) for _ in range(3))
    a[0:4, 0:4] = True
    b[3:6, 3:6] = True  # touches a
    c[8:10, 8:10] = True
    assert sorted(int(m.sum()) for m in merge_overlapping([a, b, c])) == [4, 24]
