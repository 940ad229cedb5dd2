import logging
from pathlib import Path

import pytest

from benchmarks import quality
from openparts.config import resolve
from openparts.data import synth

SLIC = {"n_segments": 4}


@pytest.fixture
def counted_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The baselines that actually segmented a set, by method."""
    runs: list[str] = []
    real = quality.baselines.predict_baseline

    def counting(dataset, method, params=None, indices=None, progress=True):
        runs.append(method)
        return real(dataset, method, params, indices, progress)

    monkeypatch.setattr(quality.baselines, "predict_baseline", counting)
    return runs


def _scorer(data: Path, work: Path) -> quality.Scorer:
    return quality.Scorer({"carparts-test": data, "carparts-test-salient": data}, resolve("tiny")["predict"], work)


def test_a_new_run_cuts_the_kept_baseline_segments_instead_of_segmenting_again(tmp_path: Path, counted_runs: list[str]) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    first = _scorer(data, tmp_path / "work")
    whole = first.baseline("slic", SLIC, "carparts-test", "perfect")
    ids = [image["id"] for image in first.datasets["carparts-test"].images]
    cut_first = first.baseline("slic", SLIC, "carparts-test", "perfect", {ids[0]: 1, ids[1]: 1})
    assert counted_runs == ["slic"]

    second = _scorer(data, tmp_path / "work")  # a later run, with a model that makes other segment counts
    cut_second = second.baseline("slic", SLIC, "carparts-test", "perfect", {ids[0]: 2, ids[1]: 1})
    assert counted_runs == ["slic"]
    assert second._baseline_predictions("slic", SLIC, "carparts-test") == first._baseline_predictions("slic", SLIC, "carparts-test")
    assert cut_first["segments_per_object"] == 1.0
    assert cut_first["segments_per_object"] < cut_second["segments_per_object"] <= whole["segments_per_object"]


def test_a_set_with_other_content_is_segmented_again(tmp_path: Path, counted_runs: list[str]) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    synth.generate(data, count=2, seed=4, size=64, overwrite=True)
    _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    assert counted_runs == ["slic", "slic"]


def test_a_change_to_the_evaluation_code_makes_baselines_anew(
    tmp_path: Path, counted_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    before = _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    monkeypatch.setattr(quality, "evaluation_code", lambda: "an edited baselines.py")
    after = _scorer(data, tmp_path / "work").baseline("slic", SLIC, "carparts-test", "perfect")
    assert counted_runs == ["slic", "slic"]
    assert after == before  # the same code underneath: the same scores, made again


def test_unreadable_kept_segments_are_named_and_made_again(
    tmp_path: Path, counted_runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    data = synth.generate(tmp_path / "set", count=2, seed=3, size=64)
    expected = _scorer(data, tmp_path / "work")._baseline_predictions("slic", SLIC, "carparts-test")
    (kept,) = (tmp_path / "work" / "baseline_predictions").iterdir()
    kept.write_text('[{"image_id": 1, "segm')  # a run killed mid-write by an older version
    with caplog.at_level(logging.WARNING):
        again = _scorer(data, tmp_path / "work")._baseline_predictions("slic", SLIC, "carparts-test")
    assert f"{kept}: unreadable" in caplog.text
    assert again == expected
    assert counted_runs == ["slic", "slic"]
    assert _scorer(data, tmp_path / "work")._baseline_predictions("slic", SLIC, "carparts-test") == expected  # rewritten whole
    assert counted_runs == ["slic", "slic"]
