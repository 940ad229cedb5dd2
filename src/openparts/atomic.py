"""Atomic writes: the one place where openparts puts bytes on disk.

A reader (a later stage, DVC, a user) must never see a half-written file or folder, even when
the writer is killed. Files are written to a temporary sibling, flushed and fsynced, then
renamed over the target; folders are built under a temporary sibling name and renamed into
place only when complete. Rename is atomic on POSIX file systems within one directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".openparts-tmp-"


def _fsync_directory(directory: Path) -> None:
    """Persist a rename: without this a power cut can undo it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[Any]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only, got mode {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_path, 0o644)
        os.replace(temp_path, target)
        _fsync_directory(target.parent)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike[str], payload: Any, indent: int | None = 2) -> None:
    with atomic_open(path, "w") as handle:
        json.dump(payload, handle, indent=indent)
        handle.write("\n")


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    with open(source, "rb") as reader, atomic_open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, length=1 << 20)


def save_image(path: str | os.PathLike[str], image: Any, format: str | None = None, **options: Any) -> None:
    """Save a PIL image atomically; the format comes from the target's suffix unless given."""
    target = Path(path)
    image_format = format or {".jpg": "JPEG", ".jpeg": "JPEG"}.get(target.suffix.lower(), "PNG")
    with atomic_open(target, "wb") as handle:
        image.save(handle, format=image_format, **options)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary sibling name and move it to `path` when complete.

    If the body raises (or the process dies), `path` keeps whatever it held before: an old
    output is replaced only by a complete new one. With `overwrite=False` an existing `path`
    is an error, raised before any work is done.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pass overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + target.name + "-", dir=target.parent))
    try:
        yield staging
        _fsync_tree(staging)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "old-", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    """Flush every file of a finished folder before it is renamed into place."""
    for directory, _, files in os.walk(root):
        for name in files:
            file_path = os.path.join(directory, name)
            try:
                fd = os.open(file_path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_directory(Path(directory))


def remove_stale_temporaries(directory: str | os.PathLike[str], target: str | None = None) -> list[Path]:
    """Delete leftovers of writers that were killed (only those building `target`, when given);
    returns what was removed. Call it where no other writer of the same target is running."""
    removed = []
    folder = Path(directory)
    if not folder.is_dir():
        return removed
    prefix = TEMP_PREFIX if target is None else f"{TEMP_PREFIX}{target}-"
    for entry in folder.iterdir():
        if entry.name.startswith(prefix):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
