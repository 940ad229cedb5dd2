import json
from pathlib import Path

import pytest
import torch

from openparts.cli import main
from openparts.config import resolve
from openparts.data.dataset import PartDataset
from openparts.evaluation.ablation import object_awareness
from openparts.model import build_model
from openparts.model.checkpoint import save_model
from openparts.objects.apply import write_with_object_masks
from tests.evaluation.test_instance_ap import as_predictions
from tests.objects.test_apply import left_half


def tiny_model(channels: int):
    torch.manual_seed(0)
    config = resolve("tiny", [f"model.object_mask_channel={'true' if channels == 4 else 'false'}"])
    return build_model(config["model"]), config


@pytest.fixture
def imperfect(tiny_dataset: Path, tmp_path: Path) -> Path:
    return write_with_object_masks(tiny_dataset, tmp_path / "imperfect", left_half, "halves", progress=False)


def test_each_model_fills_the_rows_of_its_kind(tiny_dataset: Path, imperfect: Path) -> None:
    perfect = PartDataset.open(tiny_dataset)
    predict = resolve("tiny")["predict"]
    four, _ = tiny_model(4)
    three, _ = tiny_model(3)
    assert list(object_awareness([four], perfect, PartDataset.open(imperfect), predict, "cpu")) == [
        "pre-imperfect",
        "pre+post-imperfect",
        "pre-perfect",
        "pre+post-perfect",
    ]
    rows = object_awareness([three, four], perfect, None, predict, "cpu")
    assert list(rows) == ["none", "post-perfect", "pre-perfect", "pre+post-perfect"]
    assert all(0.0 <= row["AP"] <= 100.0 for row in rows.values())


def test_each_setting_uses_its_masks_and_filter(tiny_dataset: Path, imperfect: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows of Table 2 differ only in the mask source and the post filter: check the routing."""
    from openparts.engine.predict import Predictor

    calls = []

    def record(self, dataset, use_object_masks=True, progress=True):
        calls.append((self.model.in_channels, dataset.root.name, use_object_masks, self.config["post_aware"]))
        return []

    monkeypatch.setattr(Predictor, "predict_dataset", record)
    perfect = PartDataset.open(tiny_dataset)
    object_awareness([tiny_model(3)[0], tiny_model(4)[0]], perfect, PartDataset.open(imperfect), resolve("tiny")["predict"], "cpu")
    assert calls == [
        (3, "tiny", False, False),  # none
        (3, "imperfect", True, True),  # post-imperfect
        (3, "tiny", True, True),  # post-perfect
        (4, "imperfect", True, False),  # pre-imperfect
        (4, "imperfect", True, True),  # pre+post-imperfect
        (4, "tiny", True, False),  # pre-perfect
        (4, "tiny", True, True),  # pre+post-perfect
    ]


def test_rows_the_caller_predicted_already_are_scored_not_predicted_again(tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate's model column is the pre+post row: one prediction pass, not two."""
    from openparts.engine.predict import Predictor

    perfect = PartDataset.open(tiny_dataset)
    four, config = tiny_model(4)
    calls = []
    monkeypatch.setattr(Predictor, "predict_dataset", lambda self, dataset, **kwargs: calls.append(self.config["post_aware"]) or [])
    rows = object_awareness([four], perfect, None, config["predict"], "cpu", known={"pre+post-perfect": as_predictions(perfect)})
    assert calls == [False]  # pre-perfect only
    assert rows["pre+post-perfect"]["AP"] == pytest.approx(100.0)  # scored from the results given
    assert rows["pre-perfect"]["AP"] == 0.0


def test_a_copy_with_other_images_is_rejected(tiny_dataset: Path, tmp_path: Path) -> None:
    from openparts.data.dataset import DatasetWriter
    from tests.conftest import square_parts

    with DatasetWriter(tmp_path / "other", source="test") as writer:
        image, parts, obj = square_parts(40, 64)
        writer.add(image, "x.png", parts, object_mask=obj, object_mask_source="gt")
    four, _ = tiny_model(4)
    with pytest.raises(ValueError, match="is not .* with other object masks"):
        object_awareness([four], PartDataset.open(tiny_dataset), PartDataset.open(tmp_path / "other"), resolve("tiny")["predict"])


def test_ablate_command_writes_the_table(tiny_dataset: Path, imperfect: Path, tmp_path: Path, capsys) -> None:
    model, config = tiny_model(4)
    save_model(model, tmp_path / "model", {"config": config})
    out = tmp_path / "table2.json"
    args = [
        "ablate",
        "--model",
        str(tmp_path / "model"),
        "--data",
        str(tiny_dataset),
        "--imperfect-data",
        str(imperfect),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert set(json.loads(out.read_text())) == {"pre-imperfect", "pre+post-imperfect", "pre-perfect", "pre+post-perfect"}
    assert "pre+post-perfect" in capsys.readouterr().out
