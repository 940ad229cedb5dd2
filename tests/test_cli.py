import json
from pathlib import Path

import pytest

from openparts.cli import main


def test_synth_info_validate_and_show_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "demo"
    assert main(["data", "synth", str(root), "--count", "3", "--size", "64", "--split", "unseen"]) == 0
    assert main(["data", "validate", str(root)]) == 0
    assert "valid, 3 images" in capsys.readouterr().out
    assert main(["data", "info", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 3
    assert main(["data", "show", str(root), "--out", str(tmp_path / "png"), "--limit", "2"]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 2


def test_errors_are_reported_with_the_file_and_exit_code_1(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "annotations.json").write_text("{")
    assert main(["data", "validate", str(tmp_path / "broken")]) == 1
    assert "annotations.json: malformed JSON" in caplog.text


def test_existing_output_is_not_overwritten_without_the_flag(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "demo").mkdir()
    assert main(["data", "synth", str(tmp_path / "demo"), "--count", "1", "--size", "32"]) == 1
    assert "already exists" in caplog.text


def test_unknown_source_is_rejected_with_the_valid_choices(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["data", "convert", "kitti", "a", "b"])
    assert "car-parts" in capsys.readouterr().err
