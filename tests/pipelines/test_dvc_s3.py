"""DVC's S3 remote (dvc-s3) against the moto server: what `make remote-s3` configures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openparts.fingerprint import content_hash

DVC = str(Path(sys.executable).parent / "dvc")


def dvc(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([DVC, *args], cwd=folder, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture
def project(tmp_path: Path, tiny_dataset: Path, moto_endpoint: str) -> Path:
    if shutil.which("git") is None:
        pytest.skip("dvc needs git here")
    folder = tmp_path / "project"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    dvc(folder, "init", "-q")
    shutil.copytree(tiny_dataset, folder / "data")
    return folder


def use_s3(folder: Path, url: str, endpoint: str) -> None:
    dvc(folder, "remote", "add", "--local", "--force", "-d", "s3", url)
    dvc(folder, "remote", "modify", "--local", "s3", "endpointurl", endpoint)


def test_data_round_trips_through_the_s3_remote(s3, project: Path, moto_endpoint: str) -> None:
    use_s3(project, "s3://openparts/dvc", moto_endpoint)
    original = content_hash(project / "data")
    dvc(project, "add", "data")
    dvc(project, "push")
    assert s3.list_objects_v2(Bucket="openparts", Prefix="dvc/")["KeyCount"] > 0
    shutil.rmtree(project / "data")
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "pull")
    assert content_hash(project / "data") == original
    assert "endpointurl" not in (project / ".dvc" / "config").read_text()  # machine settings stay in config.local


def test_a_missing_bucket_is_named_before_the_push(s3, project: Path, moto_endpoint: str) -> None:
    """`make push` runs `openparts storage-check` on the remote first: DVC alone does not name the bucket."""
    use_s3(project, "s3://no-such-bucket/dvc", moto_endpoint)
    dvc(project, "add", "data")
    assert dvc(project, "push", check=False).returncode != 0
    check = [str(Path(sys.executable).parent / "openparts"), "storage-check", "s3://no-such-bucket/dvc", "--endpoint-url", moto_endpoint]
    result = subprocess.run(check, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and "S3 bucket 'no-such-bucket' does not exist" in result.stderr
    assert "testing-secret-key" not in result.stderr + result.stdout
