from pathlib import Path

import pytest

from openparts.cli import main
from openparts.config import ConfigError, resolve
from openparts.stages.params import READS, stage_config, stage_params
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


def test_each_stage_gets_only_the_configuration_it_reads() -> None:
    config = resolve("tiny")
    assert set(stage_config(config, "train")) == {"model", "train"}
    pseudo_labels = stage_config(config, "pseudo_labels")
    assert pseudo_labels["finetune"] == {"pseudo_label_score": 0.1, "pseudo_label_masks": "instances"}
    assert set(pseudo_labels["predict"]) == set(config["predict"]) - {"partition", "score_threshold", "split_min_fraction"}
    assert set(stage_config(config, "cluster_features")["predict"]) == {"shortest_edge", "max_size", "batch_size"}
    assert stage_config(config, "object_masks") == {}
    for stage in READS:  # a slice is its own slice: the manifest check narrows what it is given
        assert stage_config(stage_config(config, stage), stage) == stage_config(config, stage)
    with pytest.raises(ValueError, match="unknown stage 'tune'"):
        stage_config(config, "tune")


def test_stage_configs_change_only_for_the_stages_a_setting_reaches(tmp_path: Path) -> None:
    def written(overrides: str) -> dict[str, str]:
        (tmp_path / "p.yaml").write_text(f"preset: tiny\noverrides: {{{overrides}}}\n")
        assert main(["stage-configs", "--params", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "configs")]) == 0
        return {path.stem: path.read_text() for path in (tmp_path / "configs").glob("*.json")}

    before = written("train.iterations: 3")
    assert set(before) == {"train", "pseudo_labels", "cluster_features", "finetune", "evaluate"}  # object_masks reads none
    after = written("train.iterations: 3, finetune.mode: st")
    assert {stage for stage in before if before[stage] != after[stage]} == {"finetune"}
    after = written("train.iterations: 3, finetune.pseudo_label_score: 0.5")
    assert {stage for stage in before if before[stage] != after[stage]} == {"pseudo_labels", "finetune"}
    after = written("train.iterations: 3, finetune.pseudo_label_masks: part_map")
    assert {stage for stage in before if before[stage] != after[stage]} == {"pseudo_labels", "finetune"}
    after = written("train.iterations: 4")
    assert {stage for stage in before if before[stage] != after[stage]} == {"train", "finetune"}  # finetune trains with `train` too
    after = written("train.iterations: 3, predict.partition: false, predict.score_threshold: 0.2, predict.split_min_fraction: 0.1")
    assert {stage for stage in before if before[stage] != after[stage]} == {"evaluate"}  # the part map is evaluation's alone
    after = written("train.iterations: 3, predict.shortest_edge: 320")
    assert {stage for stage in before if before[stage] != after[stage]} == {"pseudo_labels", "cluster_features", "finetune", "evaluate"}


def test_a_bad_value_in_params_yaml_names_the_file_and_writes_no_stage_config(tmp_path: Path, caplog) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("preset: tiny\noverrides: {train.iterations: 3}\n")
    configs = tmp_path / "configs"
    assert main(["stage-configs", "--params", str(params), "--out", str(configs)]) == 0
    before = {path.name: path.read_text() for path in configs.iterdir()}
    params.write_text("preset: tiny\noverrides: {train.iterations: 3, finetune.pseudo_label_score: 2}\n")
    with pytest.raises(ConfigError, match=rf"{params}: finetune.pseudo_label_score must be a number from 0 to 1, got 2"):
        stage_params(params, "finetune")
    assert main(["stage-configs", "--params", str(params), "--out", str(configs)]) == 1
    assert "finetune.pseudo_label_score" in caplog.text
    assert {path.name: path.read_text() for path in configs.iterdir()} == before  # the last good ones stay
