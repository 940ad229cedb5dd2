"""MLflow glue: one parent run per pipeline run, one child run per stage, truthful statuses.

- Where: `MLFLOW_TRACKING_URI`, by default `sqlite:///mlflow.db` in the working directory
  (artifacts beside it in `mlruns/`); experiment `MLFLOW_EXPERIMENT_NAME` (default `openparts`).
  `OPENPARTS_ARTIFACT_LOCATION` (e.g. s3://bucket/mlflow; the endpoint from
  `MLFLOW_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL`) is where a new experiment keeps its artifacts.
- Parent: `openparts tracking start` opens the pipeline's run and prints its id; stages find
  it in `OPENPARTS_PARENT_RUN_ID` (DVC and `make run` pass the environment down) and open
  their child run under it; `openparts tracking end` closes it. A stage without a parent
  opens a top-level run.
- What a stage logs: its params (flattened configuration, the same keys in every run), its
  inputs as MLflow datasets with their content digests, per-step training metrics, its
  metrics.json (the report's key scheme), report.html, overlay PNGs and manifest.json.
- Status: FINISHED on success, FAILED on an exception, KILLED on SIGTERM.
- Off or unreachable: `OPENPARTS_TRACKING=off` switches it off. If the server cannot be
  reached, the stage logs a warning saying what will not be recorded and runs untracked,
  unless `OPENPARTS_TRACKING_REQUIRED=1`, which makes it fail before any work is done. If the
  server stops answering mid-stage, the stage finishes untracked and ends by listing what was
  not logged; with `OPENPARTS_TRACKING_REQUIRED=1` it fails at the first lost call instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from openparts.config import flat_keys
from openparts.engine.callbacks import NoTracking

log = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "openparts"
PARENT_ENV = "OPENPARTS_PARENT_RUN_ID"
BOUNDED_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
"""Defaults (the environment wins): a lost server costs a stage seconds, not minutes."""


class TrackingUnavailableError(RuntimeError):
    """Tracking is required (OPENPARTS_TRACKING_REQUIRED=1) but the server cannot be used."""


def enabled() -> bool:
    return os.environ.get("OPENPARTS_TRACKING", "on").lower() not in ("off", "0", "false", "no")


def experiment_name(params: dict[str, Any] | None = None) -> str:
    """A paper-table run's own experiment (`openparts-<name>`, from params' `experiment.name`),
    else MLFLOW_EXPERIMENT_NAME, else `openparts`."""
    name = ((params or {}).get("experiment") or {}).get("name")
    return f"openparts-{name}" if name else os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)


def _client_ready(experiment: str | None = None) -> bool:
    """Point MLflow at the configured store and check that it answers; say what happens if not."""
    try:
        import mlflow
    except ImportError:
        log.warning("mlflow is not installed: running untracked")
        return False
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
    mlflow.set_tracking_uri(uri)
    for name, value in BOUNDED_RETRIES.items():  # MLflow's defaults wait minutes on a dead server
        os.environ.setdefault(name, value)
    try:
        with _store_setup_lock(uri):
            if experiment is None:  # only the store is needed (closing a run): no experiment is made
                mlflow.search_experiments(max_results=1)
                return True
            if mlflow.get_experiment_by_name(experiment) is None:
                mlflow.create_experiment(experiment, artifact_location=os.environ.get("OPENPARTS_ARTIFACT_LOCATION") or None)
            mlflow.set_experiment(experiment)
        return True
    except Exception as error:  # any transport or store failure means the same: not reachable
        if os.environ.get("OPENPARTS_TRACKING_REQUIRED") == "1":
            raise TrackingUnavailableError(f"MLflow at {uri} is not usable ({error}); tracking is required") from error
        log.warning(
            "MLflow at %s is not usable (%s): running untracked; params, metrics and artifacts of this stage are not logged", uri, error
        )
        return False


_lost: Counter[str] | None = None
"""What this stage could not log since the server stopped answering (None while it answers)."""


def _required() -> bool:
    return os.environ.get("OPENPARTS_TRACKING_REQUIRED") == "1"


def _log(what: str, action: Callable[[], Any]) -> Any:
    """Run one MLflow call. When the server stops answering mid-stage, the stage goes on
    untracked and counts what is not logged (said at the stage's end), or, with
    OPENPARTS_TRACKING_REQUIRED=1, fails at once (its output is then never written)."""
    global _lost
    if _lost is not None:
        _lost[what] += 1
        return None
    try:
        with _signals_held():
            return action()
    except Exception as error:  # transport errors, 5xx after MLflow's own retries, store errors
        if _required():
            raise TrackingUnavailableError(f"MLflow stopped answering while logging {what} ({error}); tracking is required") from error
        log.warning("MLflow stopped answering while logging %s (%s): the rest of this stage runs untracked", what, error)
        _lost = Counter({what: 1})
        return None


_holding = 0  # how many holds are open: an MLflow call made inside another's hold nests
_deferred_signal: int | None = None
"""A SIGTERM that arrived during an MLflow call, raised when the call returns."""


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM waits until the MLflow call in flight returns. Raised inside it, the stage's
    KeyboardInterrupt could leave a SQLite write half done and its lock held, and then the
    end status KILLED could not be written: the run would stay RUNNING. Deferred in the
    Python-level handler, not by a signal mask: a process-directed signal goes to any thread
    that does not block it (torch's and MLflow's threads), and Python runs its handler in the
    main thread at once, mask or not."""
    global _holding, _deferred_signal
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding:  # the outermost hold lets the signal in, once every call in flight returned
            signum, _deferred_signal = _deferred_signal, None
            if signum is not None:
                _terminate(signum, None)


@contextlib.contextmanager
def _store_setup_lock(uri: str) -> Iterator[None]:
    """Two runs starting at once on a new SQLite store both create its schema and collide
    ("table experiments already exists"): one at a time, through a lock file beside the database."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    database = Path(uri[len("sqlite:///") :])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as lock:  # atomic-ok: an empty lock file, never read
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class MlflowCallback(NoTracking):
    """Training metrics per step into the active run."""

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        import mlflow

        _log("step metrics", lambda: mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step))


_active = False


def training_callback() -> NoTracking:
    return MlflowCallback() if _active else NoTracking()


def _terminate(signum: int, frame: Any) -> None:
    global _deferred_signal
    if _holding:
        _deferred_signal = signum
        return
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def stage_run(stage: str, params: dict[str, Any], inputs: dict[str, Path]) -> Iterator[None]:
    """A child run around a stage; a no-op when tracking is off or unreachable."""
    global _active
    if not enabled() or not _client_ready(experiment_name(params)):
        yield
        return
    import mlflow

    global _lost
    parent = os.environ.get(PARENT_ENV)
    _lost = None
    tags = {"openparts.stage": stage, **{f"openparts.{key}": value for key, value in (params.get("experiment") or {}).items()}}
    run = _log("the run", lambda: mlflow.start_run(run_name=stage, parent_run_id=parent, nested=parent is not None, tags=tags))
    if run is None:
        yield
        _report_lost(stage)
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    _active = True
    status = "FINISHED"
    try:
        _log("params", lambda: mlflow.log_params(_flat_params(params)))
        for role, path in sorted(inputs.items()):
            _log("inputs", lambda role=role, path=path: _log_input(role, path))
        yield
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        _active = False
        signal.signal(signal.SIGTERM, previous)
        _log(f"the end status ({status})", lambda: mlflow.end_run(status))
        if mlflow.active_run() is not None and mlflow.active_run().info.run_id == run.info.run_id:
            # the server was lost earlier, so _log skipped end_run: take the run off MLflow's local stack anyway
            with contextlib.suppress(Exception):
                mlflow.end_run(status)
        log.info("MLflow run %s (%s)", run.info.run_id, stage)
        _report_lost(stage)


def _report_lost(stage: str) -> None:
    """Say, once per stage, what did not reach the tracking server."""
    global _lost
    if _lost:
        summary = ", ".join(f"{what} x{count}" if count > 1 else what for what, count in _lost.items())
        log.warning("stage %s: not logged to MLflow (the server stopped answering): %s", stage, summary)
    _lost = None


def log_outputs(out_dir: Path) -> None:
    """Metrics, report and pictures of a finished stage folder, into the active run."""
    if not _active:  # tracking off or unreachable: a machine without MLflow installed runs stages too
        return
    import json

    import mlflow

    if mlflow.active_run() is None:
        return
    metrics_file = out_dir / "metrics.json"
    if metrics_file.is_file():
        values = json.loads(metrics_file.read_text(encoding="utf-8"))
        _log("metrics.json", lambda: mlflow.log_metrics({metric_name(k): float(v) for k, v in values.items()}))
    for name in ("report.html", "manifest.json", "baseline_parameters.json"):
        if (out_dir / name).is_file():
            _log(name, lambda name=name: mlflow.log_artifact(str(out_dir / name)))
    if (out_dir / "overlays").is_dir():
        _log("overlays", lambda: mlflow.log_artifacts(str(out_dir / "overlays"), artifact_path="overlays"))


def metric_name(key: str) -> str:
    """MLflow allows letters, digits, _ - . space / and :; our keys use @ for matched baselines
    and + in the ablation's pre+post rows (one bad name would lose the whole batch)."""
    return key.replace("@", ".at.").replace("+", ".plus.")


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    flat = {}
    for group, values in params.items():
        if isinstance(values, dict):
            for key, value in flat_keys(values).items():
                flat[f"{group}.{key}"] = str(value)[:500]
        else:
            flat[group] = str(values)[:500]
    return flat


def _log_input(role: str, path: Path) -> None:
    import mlflow
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    from openparts.fingerprint import content_hash

    digest = content_hash(path)[:36]
    source = HTTPDatasetSource(url=Path(path).resolve().as_uri())
    mlflow.log_input(MetaDataset(source=source, name=f"{role}:{Path(path).name}", digest=digest), context=role)


def start_pipeline_run(name: str = "pipeline", params: dict[str, Any] | None = None) -> str | None:
    """Open the parent run (left RUNNING for the stages) and return its id; None when off or unreachable.
    `params` with an `experiment` group put it in that table's experiment, tagged like its stages."""
    experiment_id = _ready_experiment(params)
    if experiment_id is None:
        return None
    from mlflow.tracking import MlflowClient

    tags = {"openparts.pipeline": "true", **{f"openparts.{k}": v for k, v in ((params or {}).get("experiment") or {}).items()}}
    return MlflowClient().create_run(experiment_id, run_name=name, tags=tags).info.run_id


def _ready_experiment(params: dict[str, Any] | None) -> str | None:
    name = experiment_name(params)
    if not enabled() or not _client_ready(name):
        return None
    import mlflow

    return mlflow.get_experiment_by_name(name).experiment_id


def end_pipeline_run(run_id: str, status: str = "FINISHED") -> None:
    if not run_id or not enabled() or not _client_ready():
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().set_terminated(run_id, status)


def register_if_better(model_dir: Path, metrics: dict[str, float], name: str, gate: str) -> int | None:
    """Register `model_dir` as a new version of model `name` if its `gate` metric beats the
    newest registered version's (higher is better); returns the new version number or None.

    Each version keeps the gate's name and value as tags, so the next comparison needs no
    rerun. Only inside an active stage run (the version points at that run's artifacts).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    run = mlflow.active_run()
    if run is None:
        log.info("model registry: tracking is off, %s not considered", model_dir)
        return None
    if gate not in metrics:
        raise KeyError(f"evaluate.register.gate {gate!r} is not a metric of this run; e.g. {sorted(metrics)[:5]}")
    value = float(metrics[gate])
    client = MlflowClient()
    versions = client.search_model_versions(f"name='{name}'") if _registered(client, name) else []
    best = max((float(v.tags["openparts.gate_value"]) for v in versions if "openparts.gate_value" in v.tags), default=None)
    if best is not None and value <= best:
        log.info("model registry: %s = %.4f does not beat the registered %.4f; %s not registered", gate, value, best, name)
        mlflow.set_tag("openparts.registered", "false")
        return None
    mlflow.log_artifacts(str(model_dir), artifact_path="model")
    if not versions and not _registered(client, name):
        client.create_registered_model(name)
    tags = {"openparts.gate": gate, "openparts.gate_value": str(value)}
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags)
    mlflow.set_tag("openparts.registered", f"{name}/{version.version}")
    log.info("model registry: %s version %s registered (%s = %.4f, before: %s)", name, version.version, gate, value, best)
    return int(version.version)


def _registered(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False
