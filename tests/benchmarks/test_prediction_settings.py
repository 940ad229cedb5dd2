import torch

from benchmarks import prediction_settings
from benchmarks.prediction_settings import Setting, images_per_second, settings, table
from openparts.config import resolve
from openparts.engine.predict import Predictor
from openparts.model import build_model


def test_bf16_is_tried_only_where_the_device_computes_it_natively(monkeypatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(prediction_settings, "native_bf16", lambda device: False)
    assert {s.precision for s in settings([2], [1, 4], cpu)} == {"fp32"}
    assert len(settings([2], [1, 4], cpu)) == 2 * 2 * 2  # batch sizes x channels-last x attention
    monkeypatch.setattr(prediction_settings, "native_bf16", lambda device: True)
    assert {s.precision for s in settings([2], [1, 4], cpu)} == {"fp32", "bf16"}
    assert len(settings([4, 8], [1, 4], cpu)) == 2 * 2 * 2 * 2 * 2


def test_the_table_lists_the_fastest_setting_first_with_its_ratio() -> None:
    slow = Setting(8, 4, False, "fp32", "transformers")
    fast = Setting(16, 1, True, "bf16", "ours")
    rendered = table(512, 4.0, [(slow, 2.0), (fast, 6.0)]).splitlines()
    assert rendered[0] == "512 px, over the plain forward's 4.00 images/s:"
    assert rendered[3] == "| 16 | 1 | yes | bf16 | ours | 6.00 | 1.50x |"
    assert rendered[4] == "| 8 | 4 | no | fp32 | transformers | 2.00 | 0.50x |"


def test_a_setting_is_timed_with_its_threads_and_the_default_comes_back(monkeypatch) -> None:
    config = resolve("tiny")
    model = build_model(config["model"]).eval()
    default = torch.get_num_threads()
    seen = []
    run_group = Predictor._predict_group
    monkeypatch.setattr(
        Predictor, "_predict_group", lambda self, images, masks: seen.append(torch.get_num_threads()) or run_group(self, images, masks)
    )
    setting = Setting(default + 1, 2, True, "fp32", "transformers")  # differs from the default on any machine
    speed = images_per_second(model, config["predict"], setting, 64, 2, torch.device("cpu"))
    assert speed > 0
    assert set(seen) == {default + 1}
    assert torch.get_num_threads() == default


def test_each_row_runs_its_batch_whole_whatever_the_cpu_pixel_budget(monkeypatch) -> None:
    config = resolve("tiny")
    model = build_model(config["model"]).eval()
    group_sizes = []
    run_group = Predictor._predict_group
    monkeypatch.setattr(
        Predictor, "_predict_group", lambda self, images, masks: group_sizes.append(len(images)) or run_group(self, images, masks)
    )
    predict_config = {**config["predict"], "cpu_batch_pixels": 1}  # would split every batch into single images
    images_per_second(model, predict_config, Setting(1, 2, False, "fp32", "ours"), 64, 4, torch.device("cpu"))
    assert group_sizes == [2, 2, 2]  # the warm-up batch, then the four images in two batches
