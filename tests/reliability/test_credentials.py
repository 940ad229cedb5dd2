"""Credentials never leave the environment: after stages with tracking, S3 transfers (and a
failing one), and a KFP submission, no log line, manifest, report, metrics file or MLflow
record holds them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from openparts import storage
from openparts.data import synth
from openparts.stages import run
from openparts.stages.params import stage_params
from pipelines.__main__ import main as pipelines_main
from tests.pipelines.kfp_stub import KfpStub

CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIACANARY0000000001",
    "AWS_SECRET_ACCESS_KEY": "canary-secret-access-key-0000000000000001",
    "KFP_TOKEN": "canary-kfp-token-0000000001",
    "MLFLOW_TRACKING_TOKEN": "canary-mlflow-token-0000000001",
    "MLFLOW_TRACKING_PASSWORD": "canary-mlflow-password-0000000001",
}


def test_no_credential_is_written_anywhere(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "credentials")
    monkeypatch.delenv("OPENPARTS_TRACKING", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"preset": "tiny", "overrides": {"train.iterations": 2}}))

    def params(stage: str) -> dict:
        return stage_params(tmp_path / "params.yaml", stage)

    raw = synth.generate(tmp_path / "raw", count=2, size=48)
    storage.upload(raw, "s3://openparts/raw/set")
    fetched = storage.download("s3://openparts/raw/set", tmp_path / "fetched")
    with pytest.raises(storage.StorageError):
        storage.check("s3://no-such-bucket/x")
    masks = run("object_masks", {"data": fetched}, params("object_masks"), tmp_path / "masks")
    model = run("train", {"data": masks}, params("train"), tmp_path / "model")
    run("evaluate", {"model": model, "test": masks, "dev": masks}, params("evaluate"), tmp_path / "evaluate")
    with KfpStub() as stub:
        flags = [item for role in ("labeled", "unlabeled", "test", "dev") for item in (f"--{role}", str(masks))]
        assert pipelines_main(["submit", "--host", stub.url, *flags, "--params", str(tmp_path / "params.yaml")]) == 0

    texts = {"logs": caplog.text, "stdout/stderr": "".join(capsys.readouterr())}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts[str(path.relative_to(tmp_path))] = path.read_bytes().decode("latin-1")  # the SQLite store too
    leaks = [(where, name) for where, text in texts.items() for name, value in CANARIES.items() if value in text]
    assert not leaks, f"credentials found in: {leaks}"
    assert (tmp_path / "mlflow.db").is_file() and any(path.name == "report.html" for path in tmp_path.rglob("*"))
