from pathlib import Path

import numpy as np
import pytest

from openparts.data.adapters import ccp, convert
from openparts.data.dataset import PartDataset
from openparts.data.errors import DataError
from openparts.data.validate import validate
from tests.conftest import shared_source


@pytest.fixture(scope="module")
def ccp_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert("ccp", shared_source("clothing-co-parsing"), tmp_path_factory.mktemp("ccp") / "out")[0]


def test_1004_photos_give_1003_images_and_the_unlabelled_one_is_counted(ccp_dataset: Path) -> None:
    dataset = PartDataset.open(ccp_dataset)
    assert validate(ccp_dataset, decode_images=False).images == 1003
    assert dataset.info["skipped"]["image without parts"] == 1
    assert "0536.jpg" not in {record["file_name"] for record in dataset.images}


def test_parts_are_connected_components_inside_the_person(ccp_dataset: Path) -> None:
    dataset = PartDataset.open(ccp_dataset)
    sample = dataset[0]
    assert sample.record["object_mask_source"] == "gt"
    assert not (sample.part_masks.any(axis=0) & ~sample.object_mask).any()
    assert min(p["area"] for p in dataset.annotations) >= ccp.MIN_PART_AREA
    assert {"skin", "hair"} <= set(dataset.part_classes)


def test_components_split_per_label_and_small_specks_dropped() -> None:
    label_map = np.zeros((40, 40), np.uint8)
    label_map[0:10, 0:10] = 1  # two separate regions of label 1
    label_map[20:30, 20:30] = 1
    label_map[35:37, 35:37] = 2  # a speck of 4 pixels
    parts = ccp.parts_from_label_map(label_map, ["null", "skin", "hair"], min_area=10)
    assert [p.part_class for p in parts] == ["skin", "skin"]


def test_label_map_of_the_wrong_size_is_an_error(tmp_path: Path) -> None:
    import scipy.io
    from PIL import Image

    (tmp_path / "photos").mkdir()
    (tmp_path / "annotations" / "pixel-level").mkdir(parents=True)
    Image.new("RGB", (20, 30)).save(tmp_path / "photos" / "0001.jpg")
    scipy.io.savemat(tmp_path / "annotations" / "pixel-level" / "0001.mat", {"groundtruth": np.ones((31, 20), np.uint8)})
    scipy.io.savemat(tmp_path / "label_list.mat", {"label_list": np.array([["null", "skin"]], dtype=object)})
    with pytest.raises(DataError, match=r"0001.mat: label map is 20x31 but 0001.jpg is 20x30"):
        convert("ccp", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
