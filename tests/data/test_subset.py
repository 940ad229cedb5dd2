from pathlib import Path

import pytest

from openparts.cli import main
from openparts.data.dataset import PartDataset
from openparts.data.subset import write_subset


def test_subset_keeps_the_chosen_images_with_parts_and_masks(tiny_dataset: Path, tmp_path: Path) -> None:
    out = write_subset(tiny_dataset, tmp_path / "two", [2, 0])
    source, subset = PartDataset.open(tiny_dataset), PartDataset.open(out)
    assert [r["id"] for r in subset.images] == [1, 2]
    assert subset.image_path(0).read_bytes() == source.image_path(2).read_bytes()
    assert len(subset.annotations) == 2 * len(source.parts(1))
    assert subset.images[0]["object_mask"] == source.images[2]["object_mask"]


def test_unlabeled_view_drops_the_parts(tiny_dataset: Path, tmp_path: Path) -> None:
    assert main(["data", "subset", str(tiny_dataset), str(tmp_path / "u"), "--stop", "2", "--unlabeled"]) == 0
    unlabeled = PartDataset.open(tmp_path / "u")
    assert len(unlabeled) == 2 and not unlabeled.labeled and unlabeled.annotations == []


def test_indices_out_of_range_are_named(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexError, match=r"has 3 images; indices out of range: \[5\]"):
        write_subset(tiny_dataset, tmp_path / "bad", [0, 5])


def test_a_subset_can_carry_its_name_for_metric_keys(tiny_dataset: Path, tmp_path: Path) -> None:
    from openparts.data.dataset import dataset_key

    out = write_subset(tiny_dataset, tmp_path / "folder", [0], name="cars-test")
    assert dataset_key(PartDataset.open(out)) == "cars-test"
    assert dataset_key(PartDataset.open(tiny_dataset)) == f"{tiny_dataset.parent.name}-tiny"


def test_union_pools_sources_in_order_and_refuses_clashing_file_names(tiny_dataset: Path, tmp_path: Path) -> None:
    from openparts.data.subset import write_union

    first = write_subset(tiny_dataset, tmp_path / "a", [0, 1])
    second = tmp_path / "b"
    write_subset(tiny_dataset, second, [2])
    pool = PartDataset.open(write_union([first, second], tmp_path / "pool", name="pool"))
    source = PartDataset.open(tiny_dataset)
    assert [r["id"] for r in pool.images] == [1, 2, 3] and not pool.labeled and pool.info["name"] == "pool"
    assert [pool.image_path(i).read_bytes() for i in range(3)] == [source.image_path(i).read_bytes() for i in range(3)]
    assert pool.object_mask(2).tolist() == source.object_mask(2).tolist()
    labeled = PartDataset.open(write_union([first, second], tmp_path / "labeled", labeled=True))
    assert len(labeled.annotations) == len(source.annotations)
    with pytest.raises(ValueError, match="same file names"):
        write_union([first, first], tmp_path / "twice")
    assert not (tmp_path / "twice").exists()
