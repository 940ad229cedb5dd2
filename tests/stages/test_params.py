from pathlib import Path

import pytest

from openparts.cli import main
from openparts.config import ConfigError
from openparts.stages.params import stage_params
from tests.conftest import REPO


def test_repository_params_resolve_for_every_stage() -> None:
    params = stage_params(REPO / "params.yaml", "evaluate")
    assert params["config"]["preset"] == "cpu"
    assert params["config"]["train"]["iterations"] == 150
    assert params["evaluate"]["post_aware"] is True


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("preset: tiny\nevalute: {}\n")
    with pytest.raises(ConfigError, match=r"unknown top-level keys \['evalute'\]"):
        stage_params(tmp_path / "p.yaml", "evaluate")
    (tmp_path / "q.yaml").write_text("preset: tiny\noverrides: {train.iterashuns: 3}\n")
    with pytest.raises(ConfigError, match="unknown key 'train.iterashuns'"):
        stage_params(tmp_path / "q.yaml", "train")


def test_stage_command_refuses_an_unknown_stage_and_bad_inputs(tmp_path: Path, caplog) -> None:
    with pytest.raises(SystemExit):
        main(["stage", "tune", "--out", str(tmp_path / "x")])
    (tmp_path / "p.yaml").write_text("preset: tiny\n")
    assert main(["stage", "train", "--input", "data", "--out", str(tmp_path / "x"), "--params", str(tmp_path / "p.yaml")]) == 1
    assert "--input expects ROLE=PATH" in caplog.text
