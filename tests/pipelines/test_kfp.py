"""The Kubeflow pipeline: its compiled form is reviewed (golden file) and it runs locally."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from components import evaluate
from openparts import stages, storage
from openparts.data import synth
from pipelines.__main__ import DEFAULT_IR, compile_pipeline, run_local
from pipelines.pipeline import STORE_MOUNT


def test_compiled_pipeline_matches_the_reviewed_file(tmp_path: Path) -> None:
    """Regenerate with `python -m pipelines compile` and review the diff when the DAG changes."""
    fresh = compile_pipeline(tmp_path / "ops.yaml").read_text()
    assert fresh == DEFAULT_IR.read_text(), "pipelines/openparts-ops.yaml is stale: run `python -m pipelines compile`"


def test_cluster_settings_are_in_the_compiled_pipeline() -> None:
    documents = list(yaml.safe_load_all(DEFAULT_IR.read_text()))
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = next(spec for name, spec in executors.items() if name.startswith("exec-train"))
    assert train["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert train["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert train["emptyDirMounts"][0]["mountPath"] == "/dev/shm"
    assert {secret["secretName"] for secret in train["secretAsEnv"]} == {"openparts-s3", "openparts-mlflow"}
    text = DEFAULT_IR.read_text()
    assert "pipelinechannel--accelerator" in text and "retryPolicy" in text


def test_evaluate_keeps_its_baselines_on_the_claim_a_run_names() -> None:
    """With `baseline_store_claim` set, evaluate mounts it and keeps the store there; without,
    the other branch runs evaluate with params' folder in the pod and mounts nothing."""
    documents = list(yaml.safe_load_all(DEFAULT_IR.read_text()))
    components = documents[0]["components"]
    branches = components["comp-condition-branches-1"]["dag"]["tasks"].values()
    conditions = {task["taskInfo"]["name"]: task["triggerPolicy"]["condition"] for task in branches}
    claim = "inputs.parameter_values['pipelinechannel--baseline_store_claim']"
    assert conditions == {"kept-baselines": f"{claim} != ''", "baselines-in-pod": f"!({claim} != '')"}
    (kept,) = components["comp-condition-2"]["dag"]["tasks"].values()
    (in_pod,) = components["comp-condition-3"]["dag"]["tasks"].values()
    assert kept["inputs"]["parameters"]["baseline_store"]["runtimeValue"]["constant"] == STORE_MOUNT
    assert "baseline_store" not in in_pod["inputs"]["parameters"]
    executors = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    mounts = {name: spec.get("pvcMount") for name, spec in executors.items() if name.startswith("exec-evaluate")}
    assert mounts[kept["componentRef"]["name"].replace("comp-", "exec-")][0]["mountPath"] == STORE_MOUNT
    assert mounts[in_pod["componentRef"]["name"].replace("comp-", "exec-")] is None


def test_the_evaluate_component_puts_the_mounted_store_in_place_of_params_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = []

    def stage(name: str, inputs: dict, params: dict, out: str) -> str:
        received.append(params["evaluate"]["baseline_store"])
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "report.html").write_text("<html></html>")
        (Path(out) / "metrics.json").write_text(json.dumps({"data-test/model/AP": 1.0}))
        return out

    monkeypatch.setattr(stages, "run", stage)
    params = json.dumps({"evaluate": {"baseline_store": "outputs/baseline_store"}})
    for store in ("", "/mnt/claim"):
        folder = tmp_path / (store.strip("/").replace("/", "-") or "pod")
        artifacts = {name: SimpleNamespace(path=str(folder / name), metadata={}) for name in ("report", "summary")}
        artifacts["metrics"] = SimpleNamespace(path=str(folder / "metrics"), log_metric=lambda *_: None)
        inputs = {name: SimpleNamespace(path=str(folder / name)) for name in ("model", "base", "test", "dev")}
        evaluate.python_func(**inputs, params=params, **artifacts, baseline_store=store)
    assert received == ["outputs/baseline_store", "/mnt/claim"]


def test_run_local_runs_the_whole_pipeline_on_tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3) -> None:
    """The unlabeled set comes from S3 (the moto server), as on a cluster; the others from folders."""
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    sets = {
        "labeled": synth.generate(tmp_path / "data" / "train", count=4, seed=0, size=64),
        "unlabeled": synth.generate(tmp_path / "data" / "unlabeled", count=3, split="unseen", seed=1, size=64),
        "test": synth.generate(tmp_path / "data" / "test", count=3, split="unseen", seed=2, size=64),
        "dev": synth.generate(tmp_path / "data" / "dev", count=2, seed=3, size=64),
    }
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "preset": "tiny",
                "overrides": {"train.iterations": 2, "finetune.iterations": 2},
                "evaluate": {"baselines": ["felzenszwalb"], "dev_images": 2},
            }
        )
    )
    storage.upload(sets["unlabeled"], "s3://openparts/raw/unlabeled")
    uris = {**{role: str(path) for role, path in sets.items()}, "unlabeled": "s3://openparts/raw/unlabeled"}
    run_local(*(uris[role] for role in ("labeled", "unlabeled", "test", "dev")), str(params), tmp_path / "root")
    reports = list((tmp_path / "root").rglob("report.html"))
    assert reports, "the evaluate stage wrote no report"
    metrics = json.loads(next((tmp_path / "root").rglob("metrics.json")).read_text())
    assert "data-test/model/AP" in metrics  # named after the test set's folder, as in DVC runs
    names = {json.loads(path.read_text())["info"].get("name") for path in (tmp_path / "root").rglob("annotations.json")}
    assert "raw-unlabeled" in names  # the set fetched from S3 is named as its folder would be
