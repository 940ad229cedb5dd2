import json
from pathlib import Path

from PIL import Image

from openparts.data.adapters import convert
from openparts.data.dataset import PartDataset
from openparts.data.validate import validate


def make_partimagenet(root: Path) -> None:
    """A two-image copy of the published layout: flat file_names, synset folders."""
    categories = [
        {"id": 0, "name": "Quadruped Head", "supercategory": "Quadruped"},
        {"id": 1, "name": "Quadruped Body", "supercategory": "Quadruped"},
        {"id": 2, "name": "Fish Tail", "supercategory": "Fish"},
    ]
    images = [
        {"id": 10, "file_name": "n02085620_1.JPEG", "width": 80, "height": 60},
        {"id": 11, "file_name": "n01440764_7.JPEG", "width": 50, "height": 40},
    ]
    annotations = [
        {"id": 1, "image_id": 10, "category_id": 0, "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]], "iscrowd": 0},
        {"id": 2, "image_id": 10, "category_id": 1, "segmentation": [[25, 5, 70, 5, 70, 50, 25, 50]], "iscrowd": 0},
        {"id": 3, "image_id": 10, "category_id": 1, "segmentation": [[1, 2, 3, 4]], "iscrowd": 0},  # < 6 coordinates
        {"id": 4, "image_id": 11, "category_id": 2, "segmentation": [[10, 10, 40, 10, 40, 30]], "iscrowd": 0},
    ]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "test.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    for image in images:
        folder = root / "images" / "test" / image["file_name"].split("_")[0]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (image["width"], image["height"]), (10, 200, 90)).save(folder / image["file_name"], "JPEG")


def test_synset_folders_are_found_and_short_polygons_dropped(tmp_path: Path) -> None:
    make_partimagenet(tmp_path / "PartImageNet")
    written = convert("partimagenet", tmp_path / "PartImageNet", tmp_path / "out")
    assert [path.name for path in written] == ["test"]
    dataset = PartDataset.open(written[0])
    assert validate(written[0]).images == 2
    assert [r["object_category"] for r in dataset.images] == ["Quadruped", "Fish"]
    assert dataset.info["skipped"]["polygon with fewer than 3 points or bad coordinates"] == 1
    assert len(dataset.annotations) == 3
    assert dataset.images[0]["source_file"] == "images/test/n02085620/n02085620_1.JPEG"
