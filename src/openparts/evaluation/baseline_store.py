"""The classical baselines' chosen parameters and segments, kept in a folder across runs.

SLIC, Felzenszwalb and NCut depend on no model, yet each evaluation of a new model (every rerun
after new unlabeled data lands) would tune them on the dev images and segment every test image
again, NCut at seconds per image. The store keeps each result in a file named by what it depends
on: the method, its parameters, the dataset's content, and the code and libraries that make it
(`baseline_code`), so a change to any of them (a new test image, an edited baselines.py, another
scikit-image) makes the result anew and nothing stale is ever read. Files are written whole
(atomic) and never changed, so runs may share a store; one that cannot be read is logged and made
again. A read sets the file's modification time, so `prune` can tell the results nobody has used
for a while.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from openparts import atomic
from openparts.data import masks as mask_io
from openparts.data.dataset import PartDataset
from openparts.evaluation import baselines, instance_ap
from openparts.fingerprint import content_hash

log = logging.getLogger(__name__)
TUNED, SEGMENTS = "tuned", "segments"  # the store's two folders: chosen parameters, segments


RESULT_SOURCES = (baselines, instance_ap, mask_io)
"""What a kept result depends on in our code: the segmenters, the AP that tuning picks parameters
by, and the encoding of the segments. Only these, so that an edit elsewhere in the evaluation
package (the report, the store itself) does not make hours of baselines anew."""
RESULT_LIBRARIES = ("scikit-image", "faster-coco-eval", "pycocotools")


def baseline_code() -> str:
    """sha256 of RESULT_SOURCES' source and RESULT_LIBRARIES' versions."""
    digest = hashlib.sha256()
    for module in RESULT_SOURCES:
        digest.update(module.__name__.encode() + Path(module.__file__).read_bytes())
    for library in RESULT_LIBRARIES:
        digest.update(f"{library}=={_version(library)}".encode())
    return digest.hexdigest()


def _version(library: str) -> str:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


class BaselineStore:
    """Baseline results made once per content; `folder` None keeps them for this process only."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.code = baseline_code()
        self._made: dict[str, Any] = {}
        self.counts = {"read": 0, "made": 0}  # results read from the folder or made, this process: is the store doing its job?

    def tuned(self, dev: PartDataset, method: str, indices: Sequence[int]) -> dict[str, Any]:
        """The parameters with the best AP on the dev images `indices` (baselines.tune)."""
        name = self._name(TUNED, method, [list(indices)], dev)
        return self._kept(name, dict, lambda: baselines.tune(dev, method, indices)[0])

    def predictions(self, dataset: PartDataset, method: str, params: dict[str, Any], progress: bool = True) -> list[dict[str, Any]]:
        """The baseline's segments of every image of `dataset`, as COCO results."""
        name = self._name(SEGMENTS, method, [params], dataset)
        return self._kept(name, list, lambda: baselines.predict_baseline(dataset, method, params, progress=progress))

    def path(self, name: str) -> Path | None:
        """Where the result `name` is kept; None without a folder."""
        return self.folder / f"{name}.json" if self.folder is not None else None

    def _name(self, folder: str, method: str, identity: list[Any], dataset: PartDataset) -> str:
        key = json.dumps([folder, method, *identity, content_hash(dataset.root), self.code], sort_keys=True)
        return f"{folder}/{method}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def _kept(self, name: str, kind: type, make: Callable[[], Any]) -> Any:
        """The result named `name` (a `kind`) from memory, else from its file, else made and kept."""
        if name not in self._made:
            path = self.path(name)
            value = _read(path, kind) if path is not None else None
            if value is not None:
                _mark_used(path)
                self.counts["read"] += 1
            else:
                self.counts["made"] += 1
                started = time.perf_counter()
                value = make()
                if path is not None:
                    atomic.write_json(path, value, indent=None)
                    log.info("%s: made in %.1f s, kept in %s", name, time.perf_counter() - started, path)
            self._made[name] = value
        return self._made[name]


def _read(path: Path, kind: type) -> Any:
    """A kept result, or None where there is none to trust (absent or unreadable: it is made again)."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("%s: unreadable (%s); the baseline is run again", path, error)
        return None
    if not isinstance(value, kind):
        log.warning("%s: not a JSON %s; the baseline is run again", path, "list" if kind is list else "object")
        return None
    return value


def _mark_used(path: Path) -> None:
    """The file's modification time becomes its last use (its content never changes)."""
    try:
        os.utime(path)
    except OSError as error:  # a store mounted read-only: still read, its files keep the time they were made
        log.debug("%s: last use not recorded (%s)", path, error)


def prune(folder: str | os.PathLike[str], unused_days: float) -> tuple[list[Path], int]:
    """Delete the results no evaluation has read or made for `unused_days`, and the leftovers of
    writers killed that long ago; returns the files removed and the bytes freed.

    The store only grows: a new test set or edited baseline code adds results and leaves
    the old ones. Which of those another checkout or a scheduled run still reads only their last
    use can tell, so pruning goes by age and is left to the operator (`openparts baseline-store
    prune`). A result pruned too early is made again on its next use; nothing is lost."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no baseline store here (not a folder)")
    if unused_days < 0:
        raise ValueError(f"unused_days must be 0 or more, got {unused_days}")
    cutoff = time.time() - unused_days * 86400
    removed, freed = [], 0
    for folder_name in (TUNED, SEGMENTS):
        if not (root / folder_name).is_dir():
            continue
        for entry in sorted((root / folder_name).iterdir()):
            try:
                status = entry.stat()
            except FileNotFoundError:  # pruned or renamed by another process meanwhile
                continue
            if entry.is_file() and status.st_mtime < cutoff:
                entry.unlink(missing_ok=True)
                removed.append(entry)
                freed += status.st_size
    return removed, freed
