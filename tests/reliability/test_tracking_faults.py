"""The MLflow server stops in the middle of a stage: the stage finishes and lists what was not
logged, or, with OPENPARTS_TRACKING_REQUIRED=1, fails at once and writes no output."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from openparts import tracking
from openparts.data import synth
from openparts.stages import run
from openparts.stages.params import stage_params

PARAMS = {"preset": "tiny", "overrides": {"train.iterations": 4, "train.log_every": 1}}


class Server:
    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.store = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow = Path(sys.executable).parent / "mlflow"
        command = [str(mlflow), "server", "--backend-store-uri", self.store, "--default-artifact-root", str(folder / "artifacts")]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        pytest.skip("mlflow server did not start within 90 s here")

    def stop(self) -> None:
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the server and its uvicorn workers
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    started = Server(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", started.url)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "faults")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    monkeypatch.delenv(tracking.PARENT_ENV, raising=False)
    yield started
    started.stop()


@pytest.fixture
def masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    data = synth.generate(tmp_path / "raw", count=2, size=48)
    return run("object_masks", {"data": data}, {"object_masks": {"method": "gt"}}, tmp_path / "masks")


def stop_at_first_step(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tracking.MlflowCallback.on_metrics

    def stop_then_log(self, step, metrics):
        if step == 1:
            server.stop()
        original(self, step, metrics)

    monkeypatch.setattr(tracking.MlflowCallback, "on_metrics", stop_then_log)


def params(tmp_path: Path) -> dict:
    import yaml

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return stage_params(tmp_path / "params.yaml", "train")


def test_server_lost_mid_stage_the_stage_finishes_and_says_what_was_not_logged(
    masks: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    train_params = params(tmp_path)
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    stop_at_first_step(server, monkeypatch)
    out = run("train", {"data": masks}, train_params, tmp_path / "model")
    assert (out / "manifest.json").is_file() and (out / "model" / "model.safetensors").is_file()
    assert "MLflow stopped answering while logging step metrics" in caplog.text
    lost = [record.message for record in caplog.records if "not logged to MLflow" in record.message]
    assert lost and "step metrics x4" in lost[0] and "manifest.json" in lost[0] and "the end status (FINISHED)" in lost[0]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server.store)  # the store itself: what did reach the server before it stopped
    (recorded,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert recorded.data.params["config.train.iterations"] == "4" and recorded.info.status == "RUNNING"


def test_server_lost_mid_stage_with_tracking_required_fails_without_output(
    masks: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_params = params(tmp_path)
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    monkeypatch.setenv("OPENPARTS_TRACKING_REQUIRED", "1")
    stop_at_first_step(server, monkeypatch)
    with pytest.raises(tracking.TrackingUnavailableError, match="tracking is required"):
        run("train", {"data": masks}, train_params, tmp_path / "model")
    assert not (tmp_path / "model").exists()
