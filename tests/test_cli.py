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


def test_train_then_predict_a_dataset_and_a_single_picture(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    data = tmp_path / "train"
    assert main(["data", "synth", str(data), "--count", "4", "--size", "64"]) == 0
    model = tmp_path / "model"
    assert main(["train", "--data", str(data), "--out", str(model), "--preset", "tiny", "--set", "train.iterations=2"]) == 0
    assert main(["predict", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "preds.json")]) == 0
    predictions = json.loads((tmp_path / "preds.json").read_text())
    assert predictions and {"image_id", "category_id", "segmentation", "score"} <= set(predictions[0])
    picture = next((data / "images").iterdir())
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "parts.png"
    assert (
        main(["predict", "--model", str(model), "--image", str(picture), "--object-mask", str(tmp_path / "mask.png"), "--out", str(out)])
        == 0
    )
    assert Image.open(out).size == (128, 64)


def test_a_model_saved_before_a_prediction_setting_existed_gets_its_default(tmp_path: Path) -> None:
    """Saved configurations outlive the code: a key added since (here `partition`) takes the
    preset's default and can be set, instead of being refused as unknown."""
    from openparts.config import resolve
    from openparts.model import build_model, save_model

    config = resolve("tiny")
    del config["predict"]["partition"]
    save_model(build_model(config["model"]), tmp_path / "model", {"config": config})
    data = tmp_path / "data"
    assert main(["data", "synth", str(data), "--count", "1", "--size", "64"]) == 0
    for setting, expect_map in (([], True), (["--set", "partition=false"], False)):
        out = tmp_path / f"preds-{expect_map}.json"
        assert main(["predict", "--model", str(tmp_path / "model"), "--data", str(data), "--out", str(out), *setting]) == 0
        predictions = json.loads(out.read_text())
        assert predictions and all(("partition" in p) == expect_map for p in predictions)


def test_prediction_takes_a_null_test_size_from_the_crop_its_model_trained_on() -> None:
    """A model's own crop, not its preset's: one trained with train.crop_size=96 predicts at 96."""
    from types import SimpleNamespace

    from openparts.cli import _predict_config
    from openparts.config import resolve

    config = resolve("tiny", ["train.crop_size=96", "predict.shortest_edge=80"])
    config["predict"]["max_size"] = None  # as a model saved before sizes were resolved would hold it
    model = SimpleNamespace(description={"config": config})
    predict = _predict_config(model, [], False)
    assert (predict["shortest_edge"], predict["max_size"]) == (80, 96)
    assert _predict_config(model, ["shortest_edge=null"], False)["shortest_edge"] == 96


def test_unknown_preset_and_key_are_rejected(tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--data", "x", "--out", "y", "--preset", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert main(["train", "--data", "x", "--out", "y", "--set", "train.speed=9"]) == 1
    assert "unknown key 'train.speed'; valid keys:" in caplog.text


def test_user_mask_of_another_size_is_rejected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from PIL import Image

    from openparts.config import resolve
    from openparts.model import build_model, save_model

    save_model(build_model(resolve("tiny")["model"]), tmp_path / "model", {"config": resolve("tiny")})
    Image.new("RGB", (40, 30)).save(tmp_path / "photo.png")
    Image.new("L", (30, 30)).save(tmp_path / "mask.png")
    code = main(
        [
            "predict",
            "--model",
            str(tmp_path / "model"),
            "--image",
            str(tmp_path / "photo.png"),
            "--object-mask",
            str(tmp_path / "mask.png"),
            "--out",
            str(tmp_path / "o.png"),
        ]
    )
    assert code == 1 and "mask.png: mask is 30x30, the image is 40x30" in caplog.text
