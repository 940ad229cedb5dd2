"""Shared fixtures: the real data beside the repository, and tiny datasets made on the fly."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openparts.data.dataset import DatasetWriter, Part

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_source(name: str) -> Path:
    """A folder of ../shared/data, or a skip that says why the test cannot run."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (see ../shared/data/README.md); this test needs it")
    return path


def square_parts(height: int = 48, width: int = 64) -> tuple[np.ndarray, list[Part], np.ndarray]:
    """An image with two rectangular parts inside a rectangular object."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    left = np.zeros((height, width), bool)
    left[10:30, 8:30] = True
    right = np.zeros((height, width), bool)
    right[10:30, 30:50] = True
    obj = np.zeros((height, width), bool)
    obj[6:34, 4:54] = True
    return image, [Part(left, "left"), Part(right, "right")], obj


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    with DatasetWriter(root, source="test") as writer:
        for index in range(3):
            image, parts, obj = square_parts()
            writer.add(image, f"img{index}.png", parts, object_mask=obj, object_mask_source="gt", object_category="box")
    return root


@pytest.fixture(scope="session")
def car_parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """../shared/data/car-parts converted once per test session: {"train": path, "test": path}."""
    from openparts.data.adapters import convert

    written = convert("car-parts", shared_source("car-parts"), tmp_path_factory.mktemp("car-parts") / "out")
    return {path.name: path for path in written}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the whole session: boto3, dvc-s3 and MLflow all speak to it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Environment pointed at the moto server with test credentials; yields a client, with bucket `openparts` made."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key-do-not-log")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3")
    client.create_bucket(Bucket="openparts")
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="openparts"):
        for item in page.get("Contents", []):
            client.delete_object(Bucket="openparts", Key=item["Key"])
    client.delete_bucket(Bucket="openparts")


@pytest.fixture
def segmented(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The baselines that actually segmented images, by method, one entry per call (tuning makes
    one per candidate); each runs in one process: the tests' sets are a few tiny images."""
    from openparts.evaluation import baselines

    runs: list[str] = []
    real = baselines.predict_baseline

    def counting(dataset, method, params=None, indices=None, progress=True, workers=None):
        runs.append(method)
        return real(dataset, method, params, indices, progress, workers=1)

    monkeypatch.setattr(baselines, "predict_baseline", counting)
    return runs
