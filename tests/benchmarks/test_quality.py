from pathlib import Path

import pytest
import torch

from benchmarks import quality, quality_data
from openparts.config import resolve
from openparts.data import synth
from openparts.model import build_model

SLIC = {"n_segments": 4}


def _scorer(data: Path, work: Path) -> quality.Scorer:
    return quality.Scorer({"carparts-test": data, "carparts-test-salient": data}, resolve("tiny")["predict"], work)


def test_a_new_run_cuts_the_kept_baseline_segments_instead_of_segmenting_again(tmp_path: Path, segmented: list[str]) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    first = _scorer(data, tmp_path / "work")
    whole = first.baseline("slic", SLIC, "carparts-test", "perfect")
    ids = [image["id"] for image in first.datasets["carparts-test"].images]
    cut_first = first.baseline("slic", SLIC, "carparts-test", "perfect", {ids[0]: 1, ids[1]: 1})
    assert segmented == ["slic"]

    second = _scorer(data, tmp_path / "work")  # a later run, with a model that makes other segment counts
    cut_second = second.baseline("slic", SLIC, "carparts-test", "perfect", {ids[0]: 2, ids[1]: 1})
    assert segmented == ["slic"]
    assert (tmp_path / "work" / "baseline_store" / "segments").is_dir()
    assert cut_first["segments_per_object"] == 1.0
    assert cut_first["segments_per_object"] < cut_second["segments_per_object"] <= whole["segments_per_object"]


def test_a_set_with_other_content_is_segmented_again(tmp_path: Path, segmented: list[str]) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    synth.generate(data, count=2, seed=4, size=64, overwrite=True)
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    assert segmented == ["slic", "slic"]


def test_scores_of_other_scoring_code_are_dropped_but_the_segments_kept(
    tmp_path: Path, segmented: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """baselines.json would otherwise grow by a full set of scores with every change to the evaluation package."""
    import json

    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    monkeypatch.setattr(quality, "scoring_code", lambda: "a later evaluation package")
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    kept = json.loads((tmp_path / "work" / "baselines.json").read_text())
    assert [json.loads(key)[-1] for key in kept] == ["a later evaluation package"]
    assert segmented == ["slic"]


def test_the_split_fraction_is_chosen_by_dev_ap_and_off_wins_a_tie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    scorer = _scorer(data, tmp_path / "work")
    dev = scorer.datasets["carparts-test"]
    monkeypatch.setattr(quality, "DEV_IMAGES", 2)
    torch.manual_seed(0)
    model = build_model(resolve("tiny")["model"])
    aps = {"None": 1.0, "0.3": 1.0, "0.2": 3.0, "0.1": 3.0, "0.05": 2.0}
    # each candidate's predictions stand for their fraction, and its AP is looked up
    monkeypatch.setattr(quality, "split_results", lambda results, fraction: [fraction])
    monkeypatch.setattr(quality, "evaluate_instances", lambda dataset, predictions, image_ids: {"AP": aps[str(predictions[0])]})
    assert scorer.split_fraction(model, dev) == (0.2, aps)  # of 0.2 and 0.1, the first
    aps.update({"None": 3.0})
    assert scorer.split_fraction(model, dev)[0] is None


def test_the_targets_name_the_split_ops_beside_ops() -> None:
    def row(ops: float, split: float | None) -> dict[str, dict[str, float]]:
        methods = {"slic": 30.0, "felzenszwalb": 40.0, "ncut": 50.0, quality.OPS: ops}
        if split is not None:
            methods |= {quality.OPS_SPLIT: split, "ncut" + quality.MATCHED_SPLIT: 52.0}
        return {name: {"mIoU": value, "AP": 0.0} for name, value in methods.items()}

    results = {
        "main": {f"{name} {masks}": row(45.0, 55.0) for name in quality.SETS for masks in ("imperfect", "perfect")},
        "split_min_fraction": {"chosen": 0.1, "dev_AP": {"None": 1.0, "0.1": 2.0}},
        "ablation": {name: {} for name in quality.UNSEEN},
    }
    lines = quality.verdicts(results)
    assert "- carparts-test, perfect masks: OPS mIoU 45.00 does NOT beat the best baseline (ncut 50.00)" in lines
    assert (
        "- carparts-test, perfect masks: OPS split at 0.1 mIoU 55.00 beats the best baseline (ncut 50.00);"
        " at its segment count the best is ncut@matched-split 52.00" in lines
    )
    results["main"] = {key: row(45.0, None) for key in results["main"]}
    assert not any("split" in line for line in quality.verdicts(results))


@pytest.mark.parametrize(
    ("start", "suffix", "labeled"),
    [
        ("base", "", {"labeled": "carparts-train", "labeled_2": "ccp"}),
        ("with-synthetic", "-from-with-synthetic", {"labeled": "carparts-train", "labeled_2": "ccp", "labeled_3": "synthetic"}),
    ],
)
def test_ops_keeps_the_labelled_data_of_its_base_model_in_folders_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str, suffix: str, labeled: dict[str, str]
) -> None:
    calls = []
    monkeypatch.setattr(quality, "run_stage", lambda stage, inputs, params, out_dir: calls.append((stage, inputs, out_dir)) or out_dir)
    sources = {name: tmp_path / name for name in ("carparts-train", "ccp", "unlabeled", "synthetic")}
    model = tmp_path / "stages" / start
    adapted = quality.adapt(tmp_path, sources, (start, model), "tiny", 5, [], ["ss+st", "st"])
    stages = tmp_path / "stages"
    # `base` keeps the folders of earlier runs, so their pseudo labels, parts and OPS stay current
    assert adapted == {"ops": stages / f"ops{suffix}", "ops-st": stages / f"ops-st{suffix}"}
    made = {out_dir.name: (stage, inputs) for stage, inputs, out_dir in calls}
    assert made[f"pseudo_labels{suffix}"] == ("pseudo_labels", {"model": model, "data": sources["unlabeled"]})
    assert made[f"pseudo_parts{suffix}"] == ("cluster_features", {"model": model, "data": sources["unlabeled"]})
    stage, inputs = made[f"ops{suffix}"]
    assert stage == "finetune" and inputs["model"] == model
    assert {role: path.name for role, path in inputs.items() if role.startswith("labeled")} == labeled
    assert inputs["pseudo_labels"] == stages / f"pseudo_labels{suffix}" and inputs["pseudo_parts"] == stages / f"pseudo_parts{suffix}"


def test_ops_starts_from_with_synthetic_whenever_the_run_trains_it() -> None:
    assert quality.default_ops_start(list(quality.MODELS)) == "with-synthetic"
    assert quality.default_ops_start(["base", "with-synthetic"]) == "with-synthetic"
    assert quality.default_ops_start(["base", "base-3ch"]) == "base"


def test_the_targets_name_the_model_ops_was_fine_tuned_from() -> None:
    row = {"slic": {"mIoU": 30.0}, "felzenszwalb": {"mIoU": 40.0}, "ncut": {"mIoU": 45.0}, quality.OPS: {"mIoU": 46.0, "AP": 1.0}}
    results = {
        "ops_from": "with-synthetic",
        "main": {f"{name} {masks}": row for name in quality.SETS for masks in ("imperfect", "perfect")},
        "ablation": {name: {} for name in quality.UNSEEN},
    }
    lines = quality.verdicts(results)
    assert "- pascal58-all, imperfect masks: OPS from with-synthetic mIoU 46.00 beats the best baseline (ncut 45.00)" in lines
    del results["ops_from"]  # results of runs before --ops-from fine-tuned base
    assert "- pascal58-all, imperfect masks: OPS mIoU 46.00 beats the best baseline (ncut 45.00)" in quality.verdicts(results)


def test_a_lead_below_the_printed_precision_is_a_tie() -> None:
    row = {"slic": {"mIoU": 30.0}, "felzenszwalb": {"mIoU": 40.0}, "ncut": {"mIoU": 45.7767}, quality.OPS: {"mIoU": 45.782}}
    assert quality._miou_verdict("x: OPS", row, quality.OPS, quality.MATCHED) == "- x: OPS mIoU 45.78 ties the best baseline (ncut 45.78)"
    row[quality.OPS]["mIoU"] = 45.79
    assert "OPS mIoU 45.79 beats" in quality._miou_verdict("x: OPS", row, quality.OPS, quality.MATCHED)


def test_each_pascal_part_crop_lands_in_the_sets_of_its_category() -> None:
    categories = ["person", "car", "dog", "person", "chair", None]
    subsets = quality_data.pascal_subsets(categories)
    assert subsets == {
        "pascal58-all": [0, 1, 2, 3, 4, 5],
        "pascal58-person": [0, 3],
        "pascal58-nonperson": [1, 2, 4, 5],
        "pascal58-unseen": [2, 4],
    }
    # the unlabeled pool is the pool sets' union: each crop in it once
    pooled = [i for name in quality_data.POOL_SETS if name in subsets for i in subsets[name]]
    assert sorted(pooled) == list(range(len(categories)))


def test_a_crop_falls_in_the_same_half_of_every_set_that_holds_it() -> None:
    subsets = quality_data.pascal_subsets(["person", "car", "dog", "person", "chair", "dog"])
    held_out = {name: [indices[p] for p in quality_data.halves(indices)[1]] for name, indices in subsets.items()}
    assert held_out == {"pascal58-all": [1, 3, 5], "pascal58-person": [3], "pascal58-nonperson": [1, 5], "pascal58-unseen": [5]}
    adapt, scored = quality_data.halves(subsets["pascal58-unseen"])
    assert sorted(adapt + scored) == list(range(len(subsets["pascal58-unseen"]))) and not set(adapt) & set(scored)


def test_held_out_adaptation_and_random_init_get_stage_folders_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(quality, "run_stage", lambda stage, inputs, params, out_dir: calls.append((stage, inputs, out_dir)) or out_dir)
    sources = {name: tmp_path / name for name in ("carparts-train", "ccp", "unlabeled", "unlabeled-half")}
    base = tmp_path / "stages" / "base"
    assert quality.adapt(tmp_path, sources, ("base", base), "tiny", 5, [], ["ss+st"], pool="unlabeled-half") == {
        "ops": tmp_path / "stages" / "ops-heldout"
    }
    assert all(inputs.get("data", inputs.get("unlabeled")) == sources["unlabeled-half"] for _, inputs, _ in calls)
    random = tmp_path / "stages" / "base-random"
    assert quality.adapt(tmp_path, sources, ("base-random", random), "tiny", 5, [], ["ss+st"]) == {
        "ops": tmp_path / "stages" / "ops-from-base-random"
    }
    assert quality.default_ops_starts(["base", "base-random"]) == ["base", "base-random"]
    assert quality.default_ops_starts(["base", "with-synthetic"]) == ["with-synthetic"]


def test_the_pretrained_targets_read_unseen_ap_and_the_unsplit_lead() -> None:
    def row(ops_miou: float, ap: float) -> dict[str, dict[str, float]]:
        scores = {"slic": 30.0, "felzenszwalb": 40.0, "ncut": 45.0}
        return {
            **{m: {"mIoU": v, "AP": 0.0} for m, v in scores.items()},
            quality.BASE: {"mIoU": 44.0, "AP": ap},
            quality.OPS: {"mIoU": ops_miou, "AP": ap + 1},
        }

    results = {"main": {"pascal58-unseen perfect": row(60.0, 4.5), "pascal58-unseen imperfect": row(51.0, 1.0)}}
    lines = quality.pretrained_verdicts(results)
    assert lines == [
        "- pascal58-unseen, perfect masks: the base model AP 4.50 does NOT reach 5",
        "- pascal58-unseen, perfect masks: OPS AP 5.50 reaches 5",
        "- pascal58-unseen, imperfect masks: OPS (parts not cut at gaps) mIoU 51.00 leads the best baseline (ncut 45.00) by +6.00:"
        " reaches +5",
    ]
    results["held_out"] = {"pascal58-unseen-heldout imperfect": {**row(0, 0), quality.OPS_HELD_OUT: {"mIoU": 44.0}}}
    assert quality.pretrained_verdicts(results)[-1] == (
        "- pascal58-unseen-heldout imperfect masks: OPS adapted on the other half mIoU 44.00 does NOT beat the best baseline (ncut 45.00)"
    )
