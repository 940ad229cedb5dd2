from pathlib import Path
from typing import Any

import pytest

from openparts.config import resolve
from openparts.stages import finetune as finetune_stage
from openparts.stages.manifest import read_manifest, stage_output


def _stage_folder(root: Path, name: str, artifact_name: str) -> Path:
    with stage_output("demo", root / name, {}, {}) as staging:
        (staging / artifact_name).mkdir()
        (staging / artifact_name / "content.txt").write_text(name)
    return root / name


def test_fine_tuning_keeps_every_labeled_source_in_role_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def record(base: Path, out_dir: Path, config: dict, labeled: list[Path], **kwargs: Any) -> None:
        seen.update(labeled=labeled, pseudo_labeled=kwargs["pseudo_labeled"], unlabeled=kwargs["unlabeled"])
        out_dir.mkdir(parents=True)
        (out_dir / "openparts.json").write_text("{}")

    monkeypatch.setattr(finetune_stage, "finetune", record)
    monkeypatch.setattr(finetune_stage, "write_loss_curve", lambda model, csv: csv.write_text("step,loss\n"))
    inputs = {
        "model": _stage_folder(tmp_path, "train", "model"),
        "labeled_2": _stage_folder(tmp_path, "ccp", "dataset"),
        "labeled": _stage_folder(tmp_path, "carparts", "dataset"),
        "pseudo_labels": _stage_folder(tmp_path, "pseudo_labels", "dataset"),
        "unlabeled": _stage_folder(tmp_path, "unlabeled", "dataset"),
        "pseudo_parts": _stage_folder(tmp_path, "pseudo_parts", "pseudo_parts"),
    }
    config = resolve("cpu", ["finetune.mode=ss+st"])
    finetune_stage.run(inputs, {"config": config}, tmp_path / "out")
    assert seen["labeled"] == [tmp_path / "carparts" / "dataset", tmp_path / "ccp" / "dataset"]
    assert seen["pseudo_labeled"] == [tmp_path / "pseudo_labels" / "dataset"]  # not taken for a labeled source
    assert seen["unlabeled"] == tmp_path / "unlabeled" / "dataset"
    assert set(read_manifest(tmp_path / "out")["inputs"]) == set(inputs)
