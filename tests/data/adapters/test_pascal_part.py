from pathlib import Path

import pytest

from openparts.data.adapters import convert
from openparts.data.adapters.pascal_part import group_part_name
from openparts.data.dataset import PartDataset
from openparts.data.validate import validate
from tests.conftest import shared_source


@pytest.fixture(scope="module")
def pascal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert("pascal-part", shared_source("pascal-part-samples"), tmp_path_factory.mktemp("pp") / "raw")[0]


def test_one_image_per_object(pascal: Path) -> None:
    assert validate(pascal).images == 62
    categories = [record["object_category"] for record in PartDataset.open(pascal).images]
    assert categories.count("person") == 21 and categories.count("dog") == 7


def test_crops_hold_the_object_with_parts_inside_it(pascal: Path) -> None:
    for sample in PartDataset.open(pascal):
        assert sample.object_mask.any()
        assert sample.part_masks.reshape(len(sample.part_masks), -1).any(axis=1).all()
        assert not (sample.part_masks.any(axis=0) & ~sample.object_mask).any()
        rows = sample.object_mask.any(axis=1).nonzero()[0]
        assert rows.min() >= 0 and rows.max() < sample.image.shape[0]


def test_objects_without_part_annotations_are_one_whole_part(pascal: Path) -> None:
    dataset = PartDataset.open(pascal)
    chairs = [r for r in dataset.images if r["object_category"] == "chair"]
    assert chairs and all([p["part_class"] for p in dataset.parts(r["id"])] == ["chair"] for r in chairs)


def test_groupings_follow_pascal_part_58_and_108() -> None:
    assert group_part_name("dog", "lfleg", "raw") == "lfleg"
    assert group_part_name("dog", "lfleg", "108") == "dog/leg"
    assert group_part_name("dog", "lfpa", "108") == "dog/paw"
    assert group_part_name("dog", "lfpa", "58") == "dog/leg"
    assert group_part_name("person", "leye", "108") == "person/eye"
    assert group_part_name("person", "leye", "58") == "person/head"
    assert group_part_name("person", "ruarm", "58") == "person/upper arm"
    assert group_part_name("car", "wheel_3", "58") == "car/wheel"
    assert group_part_name("bird", "lleg", "108") == "bird/leg"
    assert group_part_name("person", "llleg", "108") == "person/lower leg"
    assert group_part_name("bird", "lfoot", "58") == "bird/leg"
    assert group_part_name("person", "lfoot", "58") == "person/lower leg"
    assert group_part_name("horse", "lfuleg", "108") == "horse/upper leg"
    assert group_part_name("car", "rightmirror", "58") == "car/body"
    assert group_part_name("bus", "fliplate", "108") == "bus/license plate"


def test_grouped_conversion_uses_fewer_classes(pascal: Path, tmp_path: Path) -> None:
    coarse = convert("pascal-part", shared_source("pascal-part-samples"), tmp_path / "58", grouping="58")[0]
    fine = convert("pascal-part", shared_source("pascal-part-samples"), tmp_path / "108", grouping="108")[0]
    raw = PartDataset.open(pascal)
    raw_classes = len({(r["object_category"], p["part_class"]) for r in raw.images for p in raw.parts(r["id"])})
    assert len(PartDataset.open(coarse).part_classes) < len(PartDataset.open(fine).part_classes) < raw_classes
    assert PartDataset.open(coarse).info["part_grouping"] == "58"
