"""Transient S3 faults (throttling, 500s, dropped connections, cut-short bodies) through a
fault-injecting proxy in front of moto: transfers retry with backoff and end complete, and a
transfer that cannot complete leaves nothing that looks complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from openparts import storage
from openparts.data.validate import validate
from openparts.fingerprint import content_hash
from tests.reliability.s3_faults import FaultyS3Proxy


def test_uploads_and_downloads_survive_transient_faults(s3, moto_endpoint: str, tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    plan = ["throttle", None, "error", None, "drop", None, "truncate", None]
    with FaultyS3Proxy(moto_endpoint, plan) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
        before = storage.prefix_hash("s3://openparts/raw/tiny")
        copy = storage.download("s3://openparts/raw/tiny", tmp_path / "copy")
    validate(copy)
    assert content_hash(copy) == content_hash(tiny_dataset)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert storage.prefix_hash("s3://openparts/raw/tiny") == before  # what landed in S3 is complete too
    assert set(proxy.injected) == {"throttle", "error", "drop", "truncate"}, proxy.injected
    assert sum(proxy.injected.values()) >= 6


def test_a_download_that_never_completes_leaves_nothing(s3, moto_endpoint: str, tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
    monkeypatch.setenv("OPENPARTS_S3_MAX_ATTEMPTS", "2")
    with FaultyS3Proxy(moto_endpoint, ["truncate"]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with pytest.raises(storage.StorageError):
            storage.download("s3://openparts/raw/tiny", tmp_path / "copy")
    assert proxy.injected["truncate"] >= 2
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["tiny"]  # no copy, no temporary


def test_throttling_beyond_the_retry_budget_is_reported(s3, moto_endpoint: str, tiny_dataset: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENPARTS_S3_MAX_ATTEMPTS", "2")
    with FaultyS3Proxy(moto_endpoint, ["throttle"]) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        with pytest.raises(storage.StorageError, match="SlowDown"):
            storage.upload(tiny_dataset, "s3://openparts/raw/throttled")
    assert proxy.injected["throttle"] >= 2  # tried and retried before giving up
