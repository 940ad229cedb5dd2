import json
import logging
from pathlib import Path

import pytest

from openparts.data import synth
from openparts.data.dataset import PartDataset
from openparts.evaluation import baseline_store, baselines
from openparts.evaluation.baseline_store import BaselineStore

SLIC = {"n_segments": 4}


@pytest.fixture
def dataset(tmp_path: Path) -> PartDataset:
    return PartDataset.open(synth.generate(tmp_path / "set", count=2, seed=3, size=64))


def test_a_later_store_on_the_folder_reads_what_an_earlier_one_made(dataset: PartDataset, tmp_path: Path, segmented: list[str]) -> None:
    made = BaselineStore(tmp_path / "store").predictions(dataset, "slic", SLIC)
    tuned = BaselineStore(tmp_path / "store").tuned(dataset, "slic", [0, 1])
    assert segmented == ["slic"] + ["slic"] * len(baselines.SEARCH_SPACE["slic"])
    segmented.clear()
    later = BaselineStore(tmp_path / "store")  # the next evaluation, of another model
    assert later.predictions(dataset, "slic", SLIC) == made and later.tuned(dataset, "slic", [0, 1]) == tuned
    assert segmented == []
    assert tuned in baselines.SEARCH_SPACE["slic"] and made and {"image_id", "segmentation", "score"} <= set(made[0])


def test_other_parameters_or_content_or_code_make_the_segments_anew(
    dataset: PartDataset, tmp_path: Path, segmented: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    first = BaselineStore(store).predictions(dataset, "slic", SLIC)
    BaselineStore(store).predictions(dataset, "slic", {"n_segments": 8})
    assert segmented == ["slic", "slic"]
    with monkeypatch.context() as patch:
        patch.setattr(baseline_store, "evaluation_code", lambda: "an edited baselines.py")
        assert BaselineStore(store).predictions(dataset, "slic", SLIC) == first  # the same code underneath: the same result
    assert len(segmented) == 3
    synth.generate(dataset.root, count=2, seed=4, size=64, overwrite=True)
    BaselineStore(store).predictions(PartDataset.open(dataset.root), "slic", SLIC)
    assert len(segmented) == 4
    assert len(list((store / "segments").iterdir())) == 4


def test_an_unreadable_kept_file_is_named_made_again_and_rewritten_whole(
    dataset: PartDataset, tmp_path: Path, segmented: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    expected = BaselineStore(tmp_path / "store").predictions(dataset, "slic", SLIC)
    (kept,) = (tmp_path / "store" / "segments").iterdir()
    kept.write_text('[{"image_id": 1, "segm')  # cut short by a full disk or an older version's killed write
    with caplog.at_level(logging.WARNING):
        again = BaselineStore(tmp_path / "store").predictions(dataset, "slic", SLIC)
    assert f"{kept}: unreadable" in caplog.text and again == expected
    kept.write_text(json.dumps({"not": "a list"}))
    assert BaselineStore(tmp_path / "store").predictions(dataset, "slic", SLIC) == expected
    assert segmented == ["slic"] * 3
    assert json.loads(kept.read_text()) == expected
    assert BaselineStore(tmp_path / "store").predictions(dataset, "slic", SLIC) == expected
    assert segmented == ["slic"] * 3


def test_without_a_folder_results_are_kept_for_the_process_only(dataset: PartDataset, tmp_path: Path, segmented: list[str]) -> None:
    store = BaselineStore()
    assert store.predictions(dataset, "slic", SLIC) == store.predictions(dataset, "slic", SLIC)
    assert segmented == ["slic"] and store.path("segments/slic-0") is None
    BaselineStore().predictions(dataset, "slic", SLIC)
    assert segmented == ["slic", "slic"]
