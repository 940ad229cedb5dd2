"""The stage contract's bookkeeping: atomic stage folders and their manifest.json.

A stage builds its whole output folder under a temporary sibling and renames it into place
when complete; `manifest.json` (stage, params, input content hashes, package version, git
revision, output hash) is written last inside it. A later stage accepts an input folder only
if its manifest is there, so a killed stage never feeds the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openparts import __version__, atomic
from openparts.fingerprint import MANIFEST, content_hash
from openparts.stages.params import READS, stage_config


class IncompleteInputError(FileNotFoundError):
    """An input folder without a manifest: a stage that did not finish, or the wrong path."""


def git_revision() -> str | None:
    """The commit of the openparts source that runs, with `+dirty` when that source has uncommitted
    changes; None outside a git checkout (an installed wheel). Asked where the package lives, not
    in the working directory: a stage run from another checkout must not record that one's HEAD."""
    package = Path(__file__).resolve().parent.parent
    head = _git(package, "rev-parse", "HEAD")
    if head is None:
        return None
    return f"{head}+dirty" if _git(package, "status", "--porcelain", "--", ".") else head


def _git(folder: Path, *arguments: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def artifact(folder: str | os.PathLike[str], name: str) -> Path:
    """`folder/name` from a finished stage output; an unfinished or foreign folder is refused."""
    read_manifest(folder)
    path = Path(folder) / name
    if not path.exists():
        raise IncompleteInputError(f"{folder}: has no {name!r}; is it the output of the right stage?")
    return path


@contextlib.contextmanager
def resumable_checkpoints(out_dir: Path, inputs: dict[str, Path], params: dict[str, Any]) -> Iterator[Path]:
    """A checkpoint folder for a training stage that survives a kill but never a change.

    `<out>.checkpoints/<fingerprint>`: the fingerprint covers the params and the inputs'
    content, so a rerun of the same work resumes while changed data or settings start afresh.
    Once the stage has finished, the checkpoints (crash insurance only) are removed.
    """
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for role, path in sorted(inputs.items()):
        digest.update(f"{role}={content_hash(path)}".encode())
    root = out_dir.parent / f"{out_dir.name}.checkpoints"
    folder = root / digest.hexdigest()[:16]
    if root.is_dir():
        for stale in root.iterdir():
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    yield folder
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def stage_output(stage: str, out_dir: str | os.PathLike[str], inputs: dict[str, Path], params: dict[str, Any]) -> Iterator[Path]:
    """Yield a staging folder; on success write its manifest and move it to `out_dir`."""
    input_hashes = {role: content_hash(path) for role, path in sorted(inputs.items())}
    started = time.perf_counter()
    atomic.remove_stale_temporaries(Path(out_dir).parent, Path(out_dir).name)  # what a killed run of this stage left
    with atomic.atomic_directory(out_dir, overwrite=True) as staging:
        yield staging
        manifest = {
            "stage": stage,
            "params": params,
            "inputs": {role: {"path": str(path), "sha256": input_hashes[role]} for role, path in sorted(inputs.items())},
            "openparts_version": __version__,
            "git_revision": git_revision(),
            "output_sha256": content_hash(staging),
            "seconds": round(time.perf_counter() - started, 1),
        }
        atomic.write_text(staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def is_current(out_dir: str | os.PathLike[str], inputs: dict[str, Path], params: dict[str, Any]) -> bool:
    """Whether `out_dir` already holds this work: a finished output whose stage recorded the
    same params groups and the same inputs' content. For drivers that rerun stages outside DVC
    and KFP (which have their own caches), e.g. the quality benchmark."""
    try:
        manifest = read_manifest(out_dir)
    except IncompleteInputError:
        return False
    wanted = json.loads(json.dumps(params, sort_keys=True, default=str))  # as the manifest stores it
    recorded = dict(manifest["params"])
    if "config" in wanted and "config" in recorded and manifest.get("stage") in READS:
        # only what the stage reads counts; manifests older than READS hold the whole configuration
        try:
            wanted["config"] = stage_config(wanted["config"], manifest["stage"])
            recorded["config"] = stage_config(recorded["config"], manifest["stage"])
        except KeyError:  # recorded by a version whose configuration lacked a key the stage reads now
            return False
    if any(wanted.get(group) != value for group, value in recorded.items()):
        return False
    hashes = {role: entry["sha256"] for role, entry in manifest["inputs"].items()}
    return hashes == {role: content_hash(path) for role, path in inputs.items()}


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise IncompleteInputError(f"{folder}: no {MANIFEST}; the stage that writes it did not finish")
    return json.loads(path.read_text(encoding="utf-8"))
