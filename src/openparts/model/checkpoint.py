"""Saving and loading model folders: transformers layout plus openparts' own description.

A model folder holds `config.json` and `model.safetensors` (transformers `save_pretrained`,
readable by `Mask2FormerForUniversalSegmentation.from_pretrained`) and `openparts.json`
(the openparts configuration, number and names of classes, package version). Weights are
safetensors: loading never unpickles anything. Training state (`train_state.pt`) is loaded
with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers.utils import logging as hf_logging

from openparts import __version__, atomic

OPENPARTS_FILE = "openparts.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A model folder or checkpoint that cannot be used; the message names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")


def save_model(model: Any, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> None:
    """Write a complete model folder at `directory` (atomically: all files or none)."""
    with atomic.atomic_directory(directory, overwrite=True) as staging:
        write_model_files(model, staging, extra)


@contextlib.contextmanager
def no_transformers_progress_bars() -> Iterator[None]:
    """save_pretrained draws a "Writing model shards" bar for our one shard at every checkpoint."""
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def write_model_files(model: Any, directory: Path, extra: dict[str, Any] | None = None) -> None:
    # transformers writes the files itself; they pass through openparts.atomic like every file we write
    with tempfile.TemporaryDirectory(prefix=atomic.TEMP_PREFIX, dir=directory) as scratch, no_transformers_progress_bars():
        model.mask2former.save_pretrained(scratch, safe_serialization=True)  # atomic-ok: scratch, copied in below
        for written in sorted(Path(scratch).iterdir()):
            atomic.copy_file(written, directory / written.name)
    description = {
        "openparts_version": __version__,
        "model": model.model_config,
        "num_classes": model.num_classes,
        **(extra or {}),
    }
    atomic.write_json(directory / OPENPARTS_FILE, description)


def read_description(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(directory) / OPENPARTS_FILE
    if not path.is_file():
        raise CheckpointError(path, "missing: not an openparts model folder (or an unfinished write)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(path, f"malformed JSON ({error.msg} at line {error.lineno})") from None


def load_weights(model: Any, directory: str | os.PathLike[str]) -> None:
    """Load `model.safetensors` into `model`, explaining any key or shape difference."""
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(path, "missing weights file")
    try:
        state = load_file(path)
    except Exception as error:  # safetensors raises its own error type for corrupt headers and short files
        raise CheckpointError(path, f"corrupted or truncated weights ({error})") from None
    own = model.mask2former.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches, e.g. {'; '.join(shapes[:3])}")
        if missing:
            parts.append(f"{len(missing)} keys missing from the file, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError(path, "weights were saved from another architecture or preset: " + "; ".join(parts))
    model.mask2former.load_state_dict(state, strict=True)


def save_train_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    with atomic.atomic_open(path, "wb") as handle:
        torch.save(state, handle)  # atomic-ok: the handle is atomic_open's


def load_train_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(path, "missing training state") from None
    except Exception as error:  # pickle refusal, truncated zip, bad magic number
        raise CheckpointError(path, f"corrupted, truncated or unsafe training state ({error})") from None
