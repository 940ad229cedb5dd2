"""MLflow tracking: parent and child runs, params/metrics/inputs/artifacts, truthful statuses."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from openparts import tracking  # noqa: E402
from openparts.stages.manifest import stage_output  # noqa: E402
from tests.conftest import REPO  # noqa: E402


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tests")
    monkeypatch.chdir(tmp_path)  # artifacts go to ./mlruns
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    return uri


def runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tests")
    return client.search_runs([experiment.experiment_id])


def test_stage_runs_are_children_of_the_pipeline_run(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tracking.start_pipeline_run("demo")
    monkeypatch.setenv(tracking.PARENT_ENV, parent)
    source = tmp_path / "input.txt"
    source.write_text("x")
    params = {"config": {"train": {"iterations": 3}}, "evaluate": {"post_aware": True}}
    with tracking.stage_run("evaluate", params, {"test": source}):
        with stage_output("evaluate", tmp_path / "out", {"test": source}, params) as staging:
            (staging / "metrics.json").write_text('{"demo-test/model/AP": 12.5, "demo-test/slic@matched/mIoU": 3.0}')
            (staging / "report.html").write_text("<html></html>")
        tracking.training_callback().on_metrics(1, {"loss": 2.0})
        tracking.log_outputs(tmp_path / "out")
    tracking.end_pipeline_run(parent)
    found = {run.info.run_name: run for run in runs(store)}
    child = found["evaluate"]
    assert child.data.tags["mlflow.parentRunId"] == parent
    assert child.info.status == "FINISHED" and found["demo"].info.status == "FINISHED"
    assert child.data.params["config.train.iterations"] == "3"
    assert child.data.metrics["demo-test/model/AP"] == 12.5 and "demo-test/slic.at.matched/mIoU" in child.data.metrics
    assert child.data.metrics["loss"] == 2.0
    assert child.inputs.dataset_inputs[0].dataset.name == "test:input.txt"
    artifacts = {item.path for item in MlflowClient(store).list_artifacts(child.info.run_id)}
    assert {"report.html", "manifest.json"} <= artifacts


def test_artifacts_go_to_s3_when_configured(store: str, s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENPARTS_ARTIFACT_LOCATION", "s3://openparts/mlflow")
    params = {"evaluate": {"post_aware": True}}
    with tracking.stage_run("evaluate", params, {}):
        with stage_output("evaluate", tmp_path / "out", {}, params) as staging:
            (staging / "report.html").write_text("<html></html>")
        tracking.log_outputs(tmp_path / "out")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="openparts", Prefix="mlflow/")["Contents"]]
    assert any(key.endswith("/artifacts/report.html") for key in keys) and any(key.endswith("/manifest.json") for key in keys)
    assert not (tmp_path / "mlruns").exists()  # nothing went to the local store


def test_a_failing_stage_ends_failed(store: str) -> None:
    with pytest.raises(ValueError), tracking.stage_run("train", {}, {}):
        raise ValueError("bad data")
    assert runs(store)[0].info.status == "FAILED"


def test_sigterm_marks_the_run_killed(store: str, tmp_path: Path) -> None:
    script = tmp_path / "stage.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from openparts import tracking
            with tracking.stage_run("train", {}, {}):
                print("started", flush=True)
                for _ in range(600):  # Python code runs between sleeps, as in a stage: the handler runs
                    time.sleep(0.1)   # within 0.1 s even when another thread takes the signal
            """
        )
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen([sys.executable, str(script)], env=environment, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stdout.readline().strip() == "started"
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode != 0
    assert runs(store)[0].info.status == "KILLED"


def test_unreachable_server_runs_untracked_or_fails_fast(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    started = time.monotonic()
    with tracking.stage_run("train", {}, {}):
        pass
    assert "running untracked" in caplog.text
    monkeypatch.setenv("OPENPARTS_TRACKING_REQUIRED", "1")
    with pytest.raises(tracking.TrackingUnavailableError, match="tracking is required"), tracking.stage_run("train", {}, {}):
        pytest.fail("the stage must not start")
    assert time.monotonic() - started < 60


def test_tracking_off_touches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    with tracking.stage_run("train", {}, {}):
        assert isinstance(tracking.training_callback(), tracking.NoTracking)
    assert tracking.start_pipeline_run() is None
    assert not (tmp_path / "mlflow.db").exists()


def test_tracking_off_needs_no_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU node or slim image without MLflow still runs stages when tracking is off."""
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails
    (tmp_path / "metrics.json").write_text('{"AP": 1.0}')
    with tracking.stage_run("evaluate", {}, {}):
        tracking.log_outputs(tmp_path)


def test_a_model_is_registered_only_when_it_beats_the_registered_version(store: str, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    results = []
    for value in (10.0, 9.0, 11.0):
        with tracking.stage_run("evaluate", {}, {}):
            results.append(tracking.register_if_better(model, {"demo-test/model/AP": value}, "parts", "demo-test/model/AP"))
    assert results == [1, None, 2]
    versions = MlflowClient(store).search_model_versions("name='parts'")
    assert sorted(v.tags["openparts.gate_value"] for v in versions) == ["10.0", "11.0"]
    with pytest.raises(KeyError, match="is not a metric of this run"), tracking.stage_run("evaluate", {}, {}):
        tracking.register_if_better(model, {"AP": 1.0}, "parts", "demo-test/model/AP50")


def _write_while_terminated(send: Callable[[], None]) -> list[str]:
    """An MLflow call during which SIGTERM arrives, under the stage's handler: what the call
    got to do, and whether the stage was then interrupted."""
    events: list[str] = []

    def write() -> str:
        send()
        time.sleep(0.05)  # time for the handler to run, in whichever thread the signal lands
        events.append("written")
        return "written"

    previous = signal.signal(signal.SIGTERM, tracking._terminate)
    try:
        tracking._log("a write", write)
    except KeyboardInterrupt:
        events.append("interrupted")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return events


def test_sigterm_waits_for_the_mlflow_call_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt raised inside an MLflow write could leave its SQLite lock held, and the
    run could then not be marked KILLED: the signal lands after the call instead."""
    monkeypatch.setattr(tracking, "_lost", None)
    assert _write_while_terminated(lambda: signal.raise_signal(signal.SIGTERM)) == ["written", "interrupted"]


def test_sigterm_waits_for_the_outermost_call_when_calls_nest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking, "_lost", None)
    events: list[str] = []

    def inner() -> None:
        signal.raise_signal(signal.SIGTERM)
        events.append("inner written")

    def outer() -> None:
        tracking._log("the inner write", inner)
        events.append("outer written")  # the inner call's end must not let the signal in yet

    previous = signal.signal(signal.SIGTERM, tracking._terminate)
    try:
        with pytest.raises(KeyboardInterrupt):
            tracking._log("the outer write", outer)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["inner written", "outer written"] and tracking._holding == 0


def test_sigterm_waits_for_the_call_when_another_thread_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pod's SIGTERM is sent to the process, and the kernel hands it to any thread that does not
    block it (torch's, MLflow's); Python still runs the handler in the main thread, mid-call."""
    monkeypatch.setattr(tracking, "_lost", None)
    idle = threading.Event()
    threads = [threading.Thread(target=idle.wait) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(5):
            assert _write_while_terminated(lambda: os.kill(os.getpid(), signal.SIGTERM)) == ["written", "interrupted"]
    finally:
        idle.set()
        for thread in threads:
            thread.join()
