"""The Kubeflow pipeline: its compiled form is reviewed (golden file) and it runs locally."""

import json
from pathlib import Path

import pytest
import yaml

from openparts import storage
from openparts.data import synth
from pipelines.__main__ import DEFAULT_IR, compile_pipeline, run_local


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
