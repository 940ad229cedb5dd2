import json
import logging
from pathlib import Path

import numpy as np
import pytest

from openparts.cli import main
from openparts.data import masks as mask_io
from openparts.data import synth
from openparts.data.dataset import PartDataset, dataset_key
from openparts.evaluation import baselines
from openparts.evaluation.report import overlay_panel, write_report


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    return synth.generate(root / "synth" / "dev", count=3, seed=1, size=64), synth.generate(
        root / "synth" / "test", count=3, seed=2, size=64
    )


def ground_truth_predictions(dataset: PartDataset) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": 1, "segmentation": a["segmentation"], "score": 1.0} for a in dataset.annotations]


def test_report_writes_metrics_predictions_overlays_and_html(sets, tmp_path: Path) -> None:
    dev, test = (PartDataset.open(p) for p in sets)
    key = dataset_key(test.root)
    assert key == "synth-test"
    metrics = write_report(tmp_path / "out", [test], {key: ground_truth_predictions(test)}, "model", ("felzenszwalb",), dev)
    assert metrics["synth-test/model/AP"] == pytest.approx(100.0)
    assert metrics["synth-test/model/mIoU"] == pytest.approx(100.0)
    assert {"synth-test/felzenszwalb/AP", "synth-test/felzenszwalb@matched/mIoU", "synth-test/felzenszwalb/segments_per_object"} <= set(
        metrics
    )
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics
    assert (tmp_path / "out" / "predictions-synth-test.json").is_file()
    assert len(list((tmp_path / "out" / "overlays").glob("*.png"))) == 3
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<table>" in page and page.count("data:image/png;base64,") == 3


def test_baselines_without_a_dev_set_are_refused(sets, tmp_path: Path) -> None:
    test = PartDataset.open(sets[1])
    with pytest.raises(ValueError, match="dev dataset"):
        write_report(tmp_path / "out", [test], {"synth-test": []}, "model", ("slic",), None)


def test_evaluate_command_scores_predictions_made_elsewhere(sets, tmp_path: Path, capsys) -> None:
    test = PartDataset.open(sets[1])
    predictions = tmp_path / "preds.json"
    predictions.write_text(json.dumps(ground_truth_predictions(test)))
    code = main(
        ["evaluate", "--predictions", str(predictions), "--data", str(sets[1]), "--out", str(tmp_path / "r"), "--baselines", "none"]
    )
    assert code == 0
    assert "synth-test/predictions/AP" in capsys.readouterr().out
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([{**ground_truth_predictions(test)[0], "image_id": 77}]))
    assert main(["evaluate", "--predictions", str(unknown), "--data", str(sets[1]), "--out", str(tmp_path / "r2")]) == 1


def test_evaluate_command_reuses_the_baselines_it_kept(
    sets, tmp_path: Path, segmented: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    test = PartDataset.open(sets[1])
    predictions = tmp_path / "preds.json"
    predictions.write_text(json.dumps(ground_truth_predictions(test)))
    command = ["evaluate", "--predictions", str(predictions), "--data", str(sets[1]), "--dev", str(sets[0]), "--baselines", "slic"]
    command += ["--baseline-store", str(tmp_path / "store")]
    assert main([*command, "--out", str(tmp_path / "first")]) == 0
    assert segmented == ["slic"] * (len(baselines.SEARCH_SPACE["slic"]) + 1)  # tuned on dev, then the test set
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*command, "--out", str(tmp_path / "second")]) == 0
    assert len(segmented) == len(baselines.SEARCH_SPACE["slic"]) + 1
    assert "results read, 0 made" in caplog.text and ": 2 results read" in caplog.text  # the log says the store did its job
    first, second = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("first", "second"))
    assert first == second and "synth-test/slic/mIoU" in first


def test_keep_top_keeps_each_images_highest_scores() -> None:
    from openparts.evaluation.report import keep_top

    predictions = [{"image_id": i, "score": s} for i, s in [(1, 0.2), (1, 0.9), (1, 0.5), (2, 0.1), (3, 0.4)]]
    kept = keep_top(predictions, {1: 2, 2: 1})
    assert [(p["image_id"], p["score"]) for p in kept] == [(1, 0.9), (1, 0.5), (2, 0.1), (3, 0.4)]


def test_worst_images_are_ranked_by_each_parts_best_iou(sets) -> None:
    from openparts.evaluation.report import best_iou_per_image

    dataset = PartDataset.open(sets[1])
    truth = ground_truth_predictions(dataset)
    first, second = (record["id"] for record in dataset.images[:2])
    only_one_part = [next(p for p in truth if p["image_id"] == first)] + [p for p in truth if p["image_id"] not in (first, second)]
    quality = best_iou_per_image(dataset, only_one_part)
    assert quality[second] == 0.0  # no guesses at all
    assert 0.0 < quality[first] < 1.0  # one part found exactly, the others not at all
    assert all(quality[record["id"]] == pytest.approx(1.0) for record in dataset.images[2:])


def test_overlay_shows_a_models_part_map_where_predictions_have_one(sets) -> None:
    """The picture beside the oracle metrics draws the segmentation they score, not the stacked masks."""
    test = PartDataset.open(sets[1])
    image_id = test.images[0]["id"]
    whole = mask_io.encode(test.object_mask(0))
    nothing = mask_io.encode(np.zeros_like(test.object_mask(0)))
    masks_only = [{"image_id": image_id, "segmentation": whole, "score": 1.0}]
    with_map = [{**masks_only[0], "partition": nothing}]
    drawn_mask = overlay_panel(test, 0, {"model": masks_only})
    drawn_map = overlay_panel(test, 0, {"model": with_map})
    plain = overlay_panel(test, 0, {"model": []})
    np.testing.assert_array_equal(drawn_map, plain)
    assert not np.array_equal(drawn_mask, plain)


def test_matched_baseline_is_cut_to_the_segments_of_the_models_part_map(sets, tmp_path: Path) -> None:
    """A model with many instance masks but one part-map segment per object is compared with
    the baseline's largest segment alone: the count is the part map's, not the masks'."""
    dev, test = (PartDataset.open(p) for p in sets)
    predictions = []
    for index, record in enumerate(test.images):
        whole = test.object_mask(index)
        predictions.append(
            {"image_id": record["id"], "segmentation": mask_io.encode(whole), "partition": mask_io.encode(whole), "score": 0.9}
        )
        empty = mask_io.encode(np.zeros_like(whole))
        for part in test.parts(record["id"]):
            predictions.append({"image_id": record["id"], "segmentation": part["segmentation"], "partition": empty, "score": 0.5})
    metrics = write_report(tmp_path / "out", [test], {"synth-test": predictions}, "model", ("felzenszwalb",), dev)
    assert metrics["synth-test/model/segments_per_object"] == 1.0
    assert metrics["synth-test/felzenszwalb/segments_per_object"] > 1.0  # so that the cut shows
    assert metrics["synth-test/felzenszwalb@matched/segments_per_object"] == 1.0
