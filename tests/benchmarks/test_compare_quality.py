import json
import logging
from pathlib import Path

import pytest

from benchmarks.compare_quality import compare, load_runs


def _quality(path: Path, base_ap: float, ops_ap: float) -> str:
    rows = {
        "slic": {"AP": 1.0, "mIoU": 30.0},
        "ncut": {"AP": 2.0, "mIoU": 50.0},
        "base (pre+post)": {"AP": base_ap, "mIoU": 45.0},
        "OPS SS+ST (pre+post)": {"AP": ops_ap, "mIoU": 44.0},
    }
    path.write_text(json.dumps({"main": {"carparts-test perfect": rows}}))
    return str(path)


def test_runs_of_one_base_model_side_by_side(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runs = load_runs([f"a={_quality(tmp_path / 'a.json', 6.8, 5.6)}", f"b={_quality(tmp_path / 'b.json', 6.8, 7.1)}"])
    with caplog.at_level(logging.WARNING):
        table = compare(runs)
    assert "| carparts-test perfect | 6.80 / 45.00 | 5.60 / 44.00 | 7.10 / 44.00 | 50.00 (ncut) |" in table
    assert not caplog.records


def test_a_run_from_another_base_model_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runs = load_runs([f"a={_quality(tmp_path / 'a.json', 6.8, 5.6)}", f"other={_quality(tmp_path / 'b.json', 9.0, 7.1)}"])
    with caplog.at_level(logging.WARNING):
        compare(runs)
    assert "other: its base model scores differ from a's" in caplog.text


def test_a_file_without_results_is_named(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"q.json: not a quality.json with a `main` section"):
        load_runs([f"a={tmp_path / 'q.json'}"])
    with pytest.raises(SystemExit, match="expected LABEL=PATH"):
        load_runs([str(tmp_path / "q.json")])
