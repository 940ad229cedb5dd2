import io
import logging
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openparts.config import resolve
from openparts.data import synth
from openparts.engine.callbacks import MetricsRecorder
from openparts.engine.supervised import train_supervised
from openparts.engine.trainer import NonFiniteLossError, checkpoint_dir_for, latest_checkpoint


@pytest.fixture(scope="module")
def train_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("synth") / "train", count=6, seed=0, size=64)


class StopAt(MetricsRecorder):
    """Simulates a killed job: raises right after `step` (a checkpoint was written before it)."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.stop_step = step

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        super().on_metrics(step, metrics)
        if step == self.stop_step:
            raise KeyboardInterrupt(f"stopped at {step}")


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(train_data: Path, tmp_path: Path) -> None:
    config = resolve("tiny", ["train.iterations=6", "train.checkpoint_every=2"])
    train_supervised([train_data], tmp_path / "straight", config)
    recorder = StopAt(5)
    with pytest.raises(KeyboardInterrupt):
        train_supervised([train_data], tmp_path / "resumed", config, recorder)
    assert recorder.status == "FAILED"
    assert not (tmp_path / "resumed").exists()
    assert latest_checkpoint(tmp_path / "resumed")[0] == 4
    result = train_supervised([train_data], tmp_path / "resumed", config)
    assert result.resumed_from == 4 and result.steps == 6
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)


def test_training_reports_metrics_and_keeps_the_newest_checkpoints(
    train_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # no terminal: a pod's or CI's log
    recorder = MetricsRecorder()
    config = resolve("tiny", ["train.iterations=4", "train.checkpoint_every=1", "train.keep_checkpoints=2"])
    with caplog.at_level(logging.INFO, logger="openparts"):
        train_supervised([train_data], tmp_path / "model", config, recorder)
    assert "\r" not in sys.stderr.getvalue()  # no progress-bar redraws in a log
    assert [line for line in caplog.messages if line.startswith("train step 4/4: loss ")]
    assert [entry["step"] for entry in recorder.history] == [1, 2, 3, 4]
    assert {"loss", "learning_rate", "seconds_per_step", "images_per_second"} <= set(recorder.history[0])
    assert recorder.status == "FINISHED"
    assert sorted(p.name for p in checkpoint_dir_for(tmp_path / "model").iterdir()) == ["step_0000002", "step_0000003"]


def test_learning_rate_warms_up_then_decays_at_two_thirds_and_eight_ninths() -> None:
    from openparts.engine.schedule import lr_factor

    factors = [lr_factor(step, 90, 10, [2 / 3, 8 / 9], 0.1) for step in (0, 5, 10, 59, 60, 79, 80, 89)]
    assert factors == pytest.approx([0.1, 0.55, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def test_non_finite_loss_stops_training_naming_the_step(train_data: Path, tmp_path: Path, monkeypatch) -> None:
    from openparts.model.segmenter import PartSegmenter

    original = PartSegmenter.forward
    calls = {"count": 0}

    def poisoned(self, inputs, targets=None):
        output = original(self, inputs, targets)
        calls["count"] += 1
        if calls["count"] == 3:
            output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(PartSegmenter, "forward", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 2"):
        train_supervised([train_data], tmp_path / "model", resolve("tiny"))
    assert not (tmp_path / "model").exists()


def test_checkpoint_of_another_configuration_is_not_resumed(train_data: Path, tmp_path: Path) -> None:
    from openparts.model import CheckpointError

    with pytest.raises(KeyboardInterrupt):
        train_supervised([train_data], tmp_path / "m", resolve("tiny", ["train.checkpoint_every=1"]), StopAt(2))
    with pytest.raises(CheckpointError, match="another model configuration"):
        train_supervised([train_data], tmp_path / "m", resolve("tiny", ["model.num_queries=4"]))
    with pytest.raises(CheckpointError, match=r"other training settings \(iterations: 6 -> 9\)"):
        train_supervised([train_data], tmp_path / "m", resolve("tiny", ["train.iterations=9", "train.checkpoint_every=2"]))


def test_dataset_that_fails_validation_is_rejected_before_training(tmp_path: Path) -> None:
    from openparts.data.errors import DataError

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "annotations.json").write_text("[]")
    with pytest.raises(DataError, match="top level is not a JSON object"):
        train_supervised([tmp_path / "bad"], tmp_path / "model", resolve("tiny"))


@pytest.mark.parametrize("native", [True, False])
def test_training_steps_run_in_bf16_where_the_cpu_computes_it(
    train_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    """train.mixed_precision takes bf16 autocast on CPUs with native bf16 (AMX, AVX512-BF16), and
    not where torch would emulate it, much slower than fp32."""
    from openparts.engine import precision
    from openparts.model.segmenter import PartSegmenter

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    original = PartSegmenter.forward
    autocast_seen = []

    def recording(self, inputs, targets=None):
        if targets is not None:
            autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return original(self, inputs, targets)

    monkeypatch.setattr(PartSegmenter, "forward", recording)
    train_supervised([train_data], tmp_path / "model", resolve("tiny", ["train.iterations=2"]))
    assert autocast_seen == [native, native]
