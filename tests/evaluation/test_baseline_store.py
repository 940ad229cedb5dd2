import json
import logging
import os
import time
from pathlib import Path

import pytest

from openparts import atomic
from openparts.cli import main
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
    assert segmented == [] and later.counts == {"read": 2, "made": 0}
    assert tuned in baselines.SEARCH_SPACE["slic"] and made and {"image_id", "segmentation", "score"} <= set(made[0])


def test_other_parameters_content_code_or_library_make_the_segments_anew(
    dataset: PartDataset, tmp_path: Path, segmented: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    first = BaselineStore(store).predictions(dataset, "slic", SLIC)
    BaselineStore(store).predictions(dataset, "slic", {"n_segments": 8})
    assert segmented == ["slic", "slic"]
    with monkeypatch.context() as patch:
        patch.setattr(baseline_store, "baseline_code", lambda: "an edited baselines.py")
        assert BaselineStore(store).predictions(dataset, "slic", SLIC) == first  # the same code underneath: the same result
    assert len(segmented) == 3
    with monkeypatch.context() as patch:
        patch.setattr(baseline_store, "_version", lambda library: "0.1" if library == "scikit-image" else "1.0")
        BaselineStore(store).predictions(dataset, "slic", SLIC)  # another scikit-image may segment otherwise
    assert len(segmented) == 4
    synth.generate(dataset.root, count=2, seed=4, size=64, overwrite=True)
    BaselineStore(store).predictions(PartDataset.open(dataset.root), "slic", SLIC)
    assert len(segmented) == 5
    assert len(list((store / "segments").iterdir())) == 5


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


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_prune_removes_only_what_no_evaluation_used_for_the_given_days(dataset: PartDataset, tmp_path: Path, segmented: list[str]) -> None:
    """A read counts as a use: the result an evaluation still reads survives however old it was made."""
    folder = tmp_path / "store"
    store = BaselineStore(folder)
    store.predictions(dataset, "slic", SLIC)
    (read,) = (folder / "segments").iterdir()
    store.predictions(dataset, "slic", {"n_segments": 8})
    (unread,) = set((folder / "segments").iterdir()) - {read}
    leftover = folder / "segments" / f"{atomic.TEMP_PREFIX}killed-writer"
    leftover.write_text("[")
    for path in (read, unread, leftover):
        _age(path, 40)
    BaselineStore(folder).predictions(dataset, "slic", SLIC)  # the next evaluation reads it
    removed, freed = baseline_store.prune(folder, unused_days=30)
    assert sorted(removed) == sorted([unread, leftover]) and freed > 0
    assert read.is_file() and not unread.exists() and segmented == ["slic", "slic"]
    assert baseline_store.prune(folder, unused_days=30) == ([], 0)


def test_prune_names_a_folder_that_is_no_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no baseline store"):
        baseline_store.prune(tmp_path / "missing", unused_days=30)
    with pytest.raises(ValueError, match="0 or more"):
        baseline_store.prune(tmp_path, unused_days=-1)


def test_the_prune_command_says_what_it_freed(dataset: PartDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "store"
    BaselineStore(folder).predictions(dataset, "slic", SLIC)
    (kept,) = (folder / "segments").iterdir()
    assert main(["baseline-store", "prune", str(folder), "--unused-days", "1"]) == 0
    assert "removed 0 result(s) unused for 1 days" in capsys.readouterr().out and kept.is_file()
    _age(kept, 2)
    assert main(["baseline-store", "prune", str(folder), "--unused-days", "1"]) == 0
    assert "removed 1 result(s)" in capsys.readouterr().out and not kept.exists()
    assert main(["baseline-store", "prune", str(tmp_path / "missing")]) == 1
