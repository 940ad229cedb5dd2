"""A folder's content fingerprint: what stage manifests, checkpoints, DVC-free caches (the
baseline store), MLflow dataset inputs and KFP's cache keys all identify data and models by.

Its own module because every layer needs it: the stages record it, and the evaluation package
and tracking key on it without importing the stages.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from openparts import atomic

MANIFEST = "manifest.json"
"""A stage folder's manifest: written last, recording the folder's hash, so never part of it."""

_hashed: dict[tuple, str] = {}
"""content_hash results by (folder, every file's name, size and mtime): a stage hashes each input
for its checkpoint fingerprint, its manifest and its MLflow input; the bytes are read once."""


def content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 over the relative paths and bytes of every file (a folder's manifest excluded)."""
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    files = [file for file in files if atomic.TEMP_PREFIX not in file.name]
    stats = [file.stat() for file in files]
    key = (str(root.resolve()), *((str(file), stat.st_size, stat.st_mtime_ns) for file, stat in zip(files, stats, strict=True)))
    if key not in _hashed:
        if len(_hashed) >= 64:  # a process hashes a handful of folders; never let the memo grow without bound
            _hashed.clear()
        _hashed[key] = _digest(root, files)
    return _hashed[key]


def _digest(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
