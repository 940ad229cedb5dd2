"""S3 transfers against a moto server: complete copies, truthful hashes, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from openparts import storage
from openparts.data.validate import validate
from openparts.fingerprint import content_hash


def test_upload_then_download_gives_the_same_dataset(s3, tiny_dataset: Path, tmp_path: Path) -> None:
    count = storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="openparts", Prefix="raw/tiny/")["Contents"]]
    assert count == len(keys) and "raw/tiny/annotations.json" in keys
    copy = storage.download("s3://openparts/raw/tiny", tmp_path / "copy")
    validate(copy)
    assert content_hash(copy) == content_hash(tiny_dataset)


def test_completion_files_are_uploaded_last(s3, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    real = storage.client

    def recording_client():
        inner = real()
        original = inner.upload_file
        inner.upload_file = lambda path, bucket, key: (sent.append(key), original(path, bucket, key))[1]
        return inner

    monkeypatch.setattr(storage, "client", recording_client)
    storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
    assert sent[-1].endswith("annotations.json") and all(not key.endswith("annotations.json") for key in sent[:-1])


def test_prefix_hash_changes_with_content_and_not_without(s3, tiny_dataset: Path) -> None:
    storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
    before = storage.prefix_hash("s3://openparts/raw/tiny")
    assert storage.prefix_hash("s3://openparts/raw/tiny/") == before
    s3.put_object(Bucket="openparts", Key="raw/tiny/images/new.png", Body=b"new")
    assert storage.prefix_hash("s3://openparts/raw/tiny") != before


def test_a_short_download_is_refused_and_leaves_nothing(s3, tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.upload(tiny_dataset, "s3://openparts/raw/tiny")
    real = storage.client

    def truncating_client():
        inner = real()
        original = inner.download_file

        def download_file(bucket, key, path):
            original(bucket, key, path)
            if key.endswith("annotations.json"):
                Path(path).write_bytes(Path(path).read_bytes()[:10])

        inner.download_file = download_file
        return inner

    monkeypatch.setattr(storage, "client", truncating_client)
    with pytest.raises(storage.StorageError, match="annotations.json: got 10 bytes"):
        storage.download("s3://openparts/raw/tiny", tmp_path / "copy")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny"]  # no copy, no temporary left


def test_a_missing_bucket_is_named(s3, tmp_path: Path) -> None:
    with pytest.raises(storage.StorageError, match="bucket 'no-such-bucket' does not exist"):
        storage.download("s3://no-such-bucket/data", tmp_path / "copy")


def test_an_empty_prefix_is_refused(s3, tmp_path: Path) -> None:
    with pytest.raises(storage.StorageError, match="no objects under this S3 prefix"):
        storage.download("s3://openparts/nothing-here", tmp_path / "copy")


def test_wrong_credentials_are_explained_without_the_secret() -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "InvalidAccessKeyId", "Message": "key AKIA-SECRET-ID unknown"}}, "ListObjectsV2")
    message = str(storage.explain(error, "s3://openparts/data"))
    assert "rejected the credentials" in message and "AKIA-SECRET-ID" not in message


def test_missing_credentials_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import NoCredentialsError

    assert "set AWS_ACCESS_KEY_ID" in str(storage.explain(NoCredentialsError(), "s3://b/p"))


@pytest.mark.parametrize("uri", ["/data/x", "s3://", "s3://bucket/../etc"])
def test_bad_uris_are_refused(uri: str) -> None:
    with pytest.raises(storage.StorageError):
        storage.split_uri(uri)


def test_traversal_keys_cannot_escape_the_download_folder(s3, tmp_path: Path) -> None:
    s3.put_object(Bucket="openparts", Key="evil/../../outside.txt", Body=b"x")
    with pytest.raises(ValueError, match="escapes"):
        storage.download("s3://openparts/evil", tmp_path / "copy")
    assert not (tmp_path / "outside.txt").exists()
