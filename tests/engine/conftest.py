from pathlib import Path

import pytest

from openparts.config import resolve
from openparts.data import synth
from openparts.engine.supervised import train_supervised


@pytest.fixture(scope="package")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny base model trained on seen demo categories, and unlabeled unseen ones."""
    root = tmp_path_factory.mktemp("ops")
    labeled = synth.generate(root / "labeled", count=6, seed=0, size=64)
    unlabeled = synth.generate(root / "unlabeled", count=4, split="unseen", seed=1, size=64)
    train_supervised([labeled], root / "base", resolve("tiny", ["train.iterations=3"]))
    return {"root": root, "labeled": labeled, "unlabeled": unlabeled, "model": root / "base"}
