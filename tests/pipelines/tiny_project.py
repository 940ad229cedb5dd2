"""A copy of the project's DVC pipeline on the tiny preset and tiny demo data, in a fresh git repository."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


def tiny_params() -> dict:
    """The project's params.yaml on the tiny preset and tiny demo data (every other group as shipped)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preset"] = "tiny"
    params["overrides"] = {"train.iterations": 2, "finetune.iterations": 2}
    sizes = {"train": ("seen", 4, 0), "dev": ("seen", 2, 3), "unlabeled": ("unseen", 3, 1), "test": ("unseen", 3, 2)}
    params["data"]["demo"] = {name: {"split": s, "count": c, "seed": seed, "size": 64} for name, (s, c, seed) in sizes.items()}
    params["evaluate"] = {"baselines": ["felzenszwalb"], "dev_images": 2, "post_aware": True}
    return params


def make_project(folder: Path, commit: bool = False) -> Path:
    """dvc.yaml, .dvc, src and tiny params in `folder`; `commit` makes the first commit (`dvc exp run` needs one)."""
    if shutil.which("git") is None:
        pytest.skip("dvc needs git here")
    folder.mkdir(parents=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / ".dvc", folder / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp", "config.local"))
    shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    (folder / "data" / "unlabeled").mkdir(parents=True)
    shutil.copy(REPO / "data" / "unlabeled" / "README.md", folder / "data" / "unlabeled")
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    if commit:
        for key, value in (("user.name", "openparts tests"), ("user.email", "tests@openparts.invalid")):
            subprocess.run(["git", "config", key, value], cwd=folder, check=True)
        subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "tiny project"], cwd=folder, check=True)
    return folder
