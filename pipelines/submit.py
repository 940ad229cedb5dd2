"""Runs on a Kubeflow Pipelines cluster through `kfp.Client`: one run now, or a recurring one.

The data reach the run as URIs (s3:// on a cluster) with their content hashes: a hash is what
KFP's cache key sees, so a run over new data is never served from cache.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openparts import storage
from openparts.fingerprint import content_hash
from openparts.stages import STAGES
from openparts.stages.params import component_params

log = logging.getLogger("pipelines")

ROLES = ("labeled", "unlabeled", "test", "dev")
DEFAULT_EXPERIMENT = "openparts"


class SubmitError(RuntimeError):
    """The cluster cannot take the run; the message says why and what to check."""


def data_hash(uri: str) -> str:
    """The content hash of a dataset: from the S3 listing for s3:// URIs, from the bytes for folders."""
    if storage.is_s3(uri):
        return storage.prefix_hash(uri)
    if not Path(uri).exists():
        raise SubmitError(f"{uri}: dataset not found (a folder, or an s3://bucket/prefix)")
    return content_hash(uri)


def pipeline_arguments(uris: dict[str, str], params_file: str | Path, **extra: Any) -> dict[str, Any]:
    """The pipeline's parameters: every role's URI and content hash, and each stage's params as
    JSON (`<stage>_params`: what its component receives, so that KFP's cache keys on that alone)."""
    missing = [role for role in ROLES if not uris.get(role)]
    if missing:
        raise SubmitError(f"no dataset given for: {', '.join(missing)}")
    arguments: dict[str, Any] = {f"{stage}_params": json.dumps(component_params(params_file, stage)) for stage in STAGES}
    for role in ROLES:
        uri = uris[role] if storage.is_s3(uris[role]) else str(Path(uris[role]).resolve())
        arguments[f"{role}_uri"] = uri
        arguments[f"{role}_hash"] = data_hash(uris[role])
    arguments.update(extra)
    return arguments


def check_reachable(host: str, timeout: float = 10.0) -> None:
    """Fail in seconds with a clear message, instead of kfp.Client's minute of retries."""
    url = host.rstrip("/") + "/apis/v2beta1/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise SubmitError(f"{host}: Kubeflow Pipelines refused the request (HTTP {error.code}): check the token or cookies") from None
        raise SubmitError(f"{host}: Kubeflow Pipelines answered HTTP {error.code} to {url}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SubmitError(f"{host}: cannot reach the Kubeflow Pipelines API ({reason})") from None


def connect(host: str, namespace: str | None = None, token: str | None = None) -> Any:
    import kfp

    check_reachable(host)
    options: dict[str, Any] = {"host": host, "existing_token": token}
    if namespace:
        options["namespace"] = namespace
    return kfp.Client(**options)


def submit(
    client: Any,
    package: str | Path,
    arguments: dict[str, Any],
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    pipeline_root: str | None = None,
) -> str:
    """Start one run of the compiled pipeline; returns the run id."""
    with _printed_to_log():
        result = client.create_run_from_pipeline_package(
            str(package), arguments=arguments, run_name=run_name, experiment_name=experiment, pipeline_root=pipeline_root
        )
    log.info("submitted run %s to experiment %r", result.run_id, experiment)
    return result.run_id


def schedule(
    client: Any,
    package: str | Path,
    arguments: dict[str, Any],
    cron: str,
    experiment: str = DEFAULT_EXPERIMENT,
    name: str = "openparts-ops",
    max_concurrency: int = 1,
    enable_caching: bool = False,
    pipeline_root: str | None = None,
) -> str:
    """Create a recurring run (KFP's 6-field cron, seconds first); returns its id.

    Its arguments, hashes included, are fixed when it is created, while the data under the
    URIs may change between runs: so caching is off unless the URIs name immutable data."""
    fields = cron.split()
    if len(fields) != 6:
        raise SubmitError(f"cron {cron!r}: KFP expects 6 fields, seconds first (e.g. '0 0 3 * * *' for 03:00 daily)")
    with _printed_to_log():
        experiment_id = client.create_experiment(name=experiment).experiment_id
    recurring = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=True,
        params=arguments,
        pipeline_package_path=str(package),
        enable_caching=enable_caching,
        pipeline_root=pipeline_root,
    )
    log.info("scheduled %r (%s) in experiment %r: %s", name, cron, experiment, recurring.recurring_run_id)
    return recurring.recurring_run_id


@contextlib.contextmanager
def _printed_to_log() -> Iterator[None]:
    """kfp.Client prints its UI links; they go to the log, so stdout carries only our ids."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    for line in buffer.getvalue().splitlines():
        log.info("kfp: %s", line)
