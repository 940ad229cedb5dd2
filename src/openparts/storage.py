"""S3 for datasets and artifacts: what a cluster run reads its inputs from and writes to.

boto3 does the transfers; its `standard` retry mode retries throttling, 5xx answers and dropped
connections with exponential backoff (`OPENPARTS_S3_MAX_ATTEMPTS`, default 8). On top of that:
- a download lands in an atomic folder and each object's size is checked against the listing,
  so a cut transfer is never read as a complete dataset;
- an upload sends the files that declare a folder complete (`annotations.json`,
  `manifest.json`) last, so a reader that waits for them never sees a partial folder;
- S3's errors become one-line messages that name the URI and the fix, never a credential.
The endpoint comes from `AWS_ENDPOINT_URL` (MinIO, moto, a private cloud), as boto3 reads it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from openparts import atomic
from openparts.data.images import resolve_inside

log = logging.getLogger(__name__)

SCHEME = "s3://"
COMPLETION_FILES = ("annotations.json", "manifest.json")
"""Files that make a folder complete for its readers: uploaded last."""


class StorageError(RuntimeError):
    """S3 refused or failed a request; the message names the URI and what to check."""


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return str(uri).startswith(SCHEME)


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`), refusing what is not an S3 URI."""
    if not is_s3(uri):
        raise StorageError(f"{uri}: not an S3 URI (expected s3://bucket/prefix)")
    bucket, _, prefix = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: the S3 URI has no bucket")
    if any(part == ".." for part in PurePosixPath(prefix).parts):
        raise StorageError(f"{uri}: '..' is not allowed in an S3 prefix")
    return bucket, prefix.strip("/")


def client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client with bounded retries and timeouts."""
    import boto3
    from botocore.config import Config

    attempts = int(os.environ.get("OPENPARTS_S3_MAX_ATTEMPTS", "8"))
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client("s3", config=config, endpoint_url=endpoint_url or None)


def check(uri: str, endpoint_url: str | None = None) -> None:
    """Fail with a clear message unless the bucket of `uri` exists and the credentials may list it:
    run before a push or a cluster run, so a typo costs seconds, not a failed job."""
    bucket, prefix = split_uri(uri)
    try:
        client(endpoint_url).list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except Exception as error:
        raise explain(error, uri) from error


def explain(error: Exception, uri: str) -> StorageError:
    """Turn a boto3/botocore exception into a StorageError that names `uri` and the likely fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    error = _root_cause(error, ClientError)

    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return StorageError(f"{uri}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)")
    if isinstance(error, EndpointConnectionError):
        return StorageError(f"{uri}: cannot reach the S3 endpoint {getattr(error, 'kwargs', {}).get('endpoint_url', '')}".rstrip())
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        bucket = split_uri(uri)[0] if is_s3(uri) else uri
        if code == "NoSuchBucket":
            return StorageError(f"{uri}: S3 bucket {bucket!r} does not exist")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"):
            return StorageError(f"{uri}: S3 rejected the credentials ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        if code in ("AccessDenied", "403"):
            return StorageError(f"{uri}: access denied by S3: the credentials lack permission for bucket {bucket!r}")
        return StorageError(f"{uri}: S3 request failed ({code or type(error).__name__})")
    return StorageError(f"{uri}: S3 request failed ({type(error).__name__})")


def _root_cause(error: BaseException, wanted: type) -> BaseException:
    """boto3's transfer manager wraps S3's answer (S3UploadFailedError, RetriesExceededError): find it."""
    seen = error
    while seen is not None and not isinstance(seen, wanted):
        seen = seen.__cause__ or seen.__context__
    return seen if seen is not None else error


def list_objects(uri: str, s3: Any | None = None) -> list[dict[str, Any]]:
    """Every object under the prefix, as (relative key, size, ETag) dicts, sorted by key."""
    bucket, prefix = split_uri(uri)
    s3 = s3 or client()
    start = f"{prefix}/" if prefix else ""
    objects = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
            for item in page.get("Contents", []):
                relative = item["Key"][len(start) :]
                if relative and not relative.endswith("/"):
                    objects.append({"key": relative, "size": int(item["Size"]), "etag": item["ETag"].strip('"')})
    except Exception as error:
        raise explain(error, uri) from error
    return sorted(objects, key=lambda item: item["key"])


def prefix_hash(uri: str, s3: Any | None = None) -> str:
    """A content hash of everything under an S3 prefix from the listing alone (keys, sizes, ETags):
    what KFP's cache key and the watcher compare, without downloading."""
    objects = list_objects(uri, s3)
    if not objects:
        raise StorageError(f"{uri}: no objects under this S3 prefix")
    digest = hashlib.sha256()
    for item in objects:
        digest.update(f"{item['key']}\0{item['size']}\0{item['etag']}\n".encode())
    return digest.hexdigest()


def download(uri: str, destination: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Copy everything under `uri` into `destination`, atomically: the folder appears complete or not at all."""
    bucket, prefix = split_uri(uri)
    s3 = client()
    objects = list_objects(uri, s3)
    if not objects:
        raise StorageError(f"{uri}: no objects under this S3 prefix")
    with atomic.atomic_directory(destination, overwrite=overwrite) as staging:
        for item in tqdm(objects, desc=f"download {uri}", unit="file", disable=len(objects) < 20):
            target = resolve_inside(staging, item["key"])
            target.parent.mkdir(parents=True, exist_ok=True)
            key = f"{prefix}/{item['key']}" if prefix else item["key"]
            try:
                s3.download_file(bucket, key, str(target))
            except Exception as error:
                raise explain(error, f"{SCHEME}{bucket}/{key}") from error
            if target.stat().st_size != item["size"]:
                raise StorageError(f"{SCHEME}{bucket}/{key}: got {target.stat().st_size} bytes, the listing says {item['size']}")
    return Path(destination)


def upload(source: str | os.PathLike[str], uri: str) -> int:
    """Upload a folder under `uri`; the files that mark it complete go last. Returns the file count."""
    bucket, prefix = split_uri(uri)
    root = Path(source)
    if not root.is_dir():
        raise StorageError(f"{root}: not a folder; nothing to upload")
    files = sorted(_files(root), key=lambda path: (path.name in COMPLETION_FILES, str(path)))
    s3 = client()
    for path in tqdm(files, desc=f"upload {uri}", unit="file", disable=len(files) < 20):
        relative = path.relative_to(root).as_posix()
        key = f"{prefix}/{relative}" if prefix else relative
        try:
            s3.upload_file(str(path), bucket, key)
        except Exception as error:
            raise explain(error, f"{SCHEME}{bucket}/{key}") from error
    return len(files)


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_symlink():
            raise StorageError(f"{path}: symlinks are not uploaded (they could point outside {root})")
        if path.is_file() and not path.name.startswith(atomic.TEMP_PREFIX):
            yield path
