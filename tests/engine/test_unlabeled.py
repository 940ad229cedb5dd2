from pathlib import Path

import numpy as np
import pytest

from openparts.cli import main
from openparts.config import resolve
from openparts.data.dataset import DatasetWriter, PartDataset
from openparts.data.errors import DataError
from openparts.data.pseudo_parts import PseudoParts
from openparts.engine.unlabeled import cluster_features, generate_pseudo_labels
from openparts.model import load_model


def test_pseudo_labels_keep_parts_above_the_threshold_with_their_scores(base: dict[str, Path], tmp_path: Path) -> None:
    model = load_model(base["model"])
    out = generate_pseudo_labels(model, base["unlabeled"], tmp_path / "pl", resolve("tiny")["predict"], score_threshold=0.0)
    labels = PartDataset.open(out)
    assert labels.labeled and len(labels.annotations) > 0
    assert all(0.0 < a["score"] <= 1.0 for a in labels.annotations)
    strict = generate_pseudo_labels(model, base["unlabeled"], tmp_path / "none", resolve("tiny")["predict"], score_threshold=1.0)
    assert len(PartDataset.open(strict)) == 0
    assert PartDataset.open(strict).info["skipped"] == {"image without parts": 4}


def test_pseudo_labels_are_the_base_models_parts_even_when_evaluation_splits_them(base: dict[str, Path], tmp_path: Path) -> None:
    model = load_model(base["model"])
    config = resolve("tiny")["predict"]
    whole = generate_pseudo_labels(model, base["unlabeled"], tmp_path / "whole", config, score_threshold=0.0)
    split = generate_pseudo_labels(model, base["unlabeled"], tmp_path / "split", {**config, "split_min_fraction": 0.0}, score_threshold=0.0)
    assert PartDataset.open(split).annotations == PartDataset.open(whole).annotations


def test_pseudo_parts_are_label_maps_inside_the_object(base: dict[str, Path], tmp_path: Path) -> None:
    out = cluster_features(load_model(base["model"]), base["unlabeled"], tmp_path / "pp", resolve("tiny")["predict"], k=3)
    dataset = PartDataset.open(base["unlabeled"])
    parts = PseudoParts(out, dataset)
    for index, record in enumerate(dataset.images):
        labels = parts.labels(record["id"])
        assert labels.shape == (record["height"], record["width"])
        assert labels.max() <= 2 and labels.min() >= -1
        assert not (labels[~dataset.object_mask(index)] >= 0).any()  # nothing outside the object
        assert (labels >= 0).sum() > 0.5 * dataset.object_mask(index).sum()


def test_pseudo_parts_are_deterministic_for_a_seed(base: dict[str, Path], tmp_path: Path) -> None:
    model = load_model(base["model"])
    config = resolve("tiny")["predict"]
    first = cluster_features(model, base["unlabeled"], tmp_path / "a", config, k=3, seed=5)
    second = cluster_features(model, base["unlabeled"], tmp_path / "b", config, k=3, seed=5)
    assert [p.read_bytes() for p in sorted(first.glob("*.png"))] == [p.read_bytes() for p in sorted(second.glob("*.png"))]


def test_an_unlabeled_set_without_images_is_rejected(base: dict[str, Path], tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "empty", source="test", labeled=False):
        pass
    with pytest.raises(DataError, match="the unlabeled dataset has no images"):
        generate_pseudo_labels(load_model(base["model"]), tmp_path / "empty", tmp_path / "pl", resolve("tiny")["predict"])


def test_a_map_of_the_wrong_size_is_reported_with_its_file(base: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    out = cluster_features(load_model(base["model"]), base["unlabeled"], tmp_path / "pp", resolve("tiny")["predict"], k=3)
    victim = sorted(out.glob("*.png"))[0]
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(victim)
    parts = PseudoParts(out, PartDataset.open(base["unlabeled"]))
    with pytest.raises(DataError, match=rf"{victim.name}.*pseudo-part map is 7x5, its image is 64x64"):
        parts.labels(int(victim.stem))


def test_commands_write_pseudo_labels_and_parts(base: dict[str, Path], tmp_path: Path) -> None:
    model, data = str(base["model"]), str(base["unlabeled"])
    assert main(["pseudo-labels", "--model", model, "--data", data, "--out", str(tmp_path / "pl"), "--score", "0"]) == 0
    assert main(["cluster-features", "--model", model, "--data", data, "--out", str(tmp_path / "pp"), "--k", "2"]) == 0
    assert PseudoParts(tmp_path / "pp", PartDataset.open(data)).k == 2
    assert PartDataset.open(tmp_path / "pl").info["pseudo_labels"]["masks"] == "instances"  # the preset's
    assert main(["pseudo-labels", "--model", model, "--data", data, "--out", str(tmp_path / "map"), "--masks", "part_map"]) == 0
    assert PartDataset.open(tmp_path / "map").info["pseudo_labels"]["masks"] == "part_map"


def test_part_map_pseudo_labels_are_disjoint_and_cover_the_object(base: dict[str, Path], tmp_path: Path) -> None:
    from openparts.data import masks as mask_io

    model, predict = (
        load_model(base["model"]),
        resolve("tiny", ["predict.post_aware=true", "predict.post_aware_min_area=1", "predict.post_aware_min_kept_fraction=0"])["predict"],
    )
    instances = PartDataset.open(generate_pseudo_labels(model, base["unlabeled"], tmp_path / "i", predict, score_threshold=0.0))
    out = generate_pseudo_labels(model, base["unlabeled"], tmp_path / "m", predict, score_threshold=0.0, masks="part_map")
    labels = PartDataset.open(out)
    assert labels.info["pseudo_labels"]["masks"] == "part_map"
    assert len(labels) == len(instances) > 0
    overlapping_instances = 0
    for index, record in enumerate(labels.images):
        segments = np.stack([mask_io.decode(a["segmentation"]).astype(bool) for a in labels.parts(record["id"])])
        cover = segments.sum(axis=0)
        assert cover.max() == 1  # disjoint
        assert (cover == 1).tolist() == labels.object_mask(index).tolist()  # post-aware: the map covers the object, nothing else
        own = instances.parts(instances.images[index]["id"])
        overlapping_instances += int(np.stack([mask_io.decode(a["segmentation"]) for a in own]).sum(axis=0).max() > 1)
        assert {a["score"] for a in labels.parts(record["id"])} <= {a["score"] for a in own}  # the same parts, empty segments dropped
    assert overlapping_instances > 0  # the instance labels of this model do overlap, so disjointness is the mode's doing


def test_an_unknown_pseudo_label_mask_kind_is_named(base: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="finetune.pseudo_label_masks must be one of instances, part_map, got 'union'"):
        generate_pseudo_labels(load_model(base["model"]), base["unlabeled"], tmp_path / "pl", resolve("tiny")["predict"], masks="union")
    assert not (tmp_path / "pl").exists()
