"""Rerun the pipeline when new unlabeled data lands: poll the drop zone, compare its content
hash with the last one that ran through, and rerun on a change.

Locally the rerun is `dvc repro` (DVC reruns only the stages downstream of the drop zone);
on a cluster it is a KFP run whose `unlabeled_hash` is the new hash. The hash is recorded
(atomically) only after the rerun succeeded, so a failed rerun is tried again at the next poll.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from openparts import atomic
from pipelines import local
from pipelines.submit import data_hash

log = logging.getLogger("pipelines")


def last_hash(state: Path) -> str | None:
    if not state.is_file():
        return None
    try:
        return json.loads(state.read_text(encoding="utf-8"))["hash"]
    except (ValueError, KeyError, TypeError):
        log.warning("%s: unreadable watch state; treating the drop zone as changed", state)
        return None


def watch(
    drop: str,
    rerun: Callable[[str], None],
    state: Path,
    interval: float = 60.0,
    max_polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Poll `drop` (a folder or s3:// prefix) `max_polls` times (forever if None); returns the reruns made."""
    reruns = polls = 0
    while max_polls is None or polls < max_polls:
        if polls:
            sleep(interval)
        polls += 1
        current = data_hash(drop)
        if current == last_hash(state):
            log.info("poll %d: %s unchanged (%s)", polls, drop, current[:12])
            continue
        log.info("poll %d: %s changed (now %s): rerunning", polls, drop, current[:12])
        rerun(current)
        atomic.write_json(state, {"drop": drop, "hash": current, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        reruns += 1
    return reruns


def dvc_repro(workdir: Path) -> Callable[[str], None]:
    """A rerun that runs `dvc repro` in `workdir` inside one MLflow parent run, as `make run` does."""

    def rerun(new_hash: str) -> None:
        local.dvc(workdir, ["repro"], f"new unlabeled data {new_hash[:12]}")

    return rerun
