"""A scratch copy of this project's DVC pipeline on the tiny preset and tiny demo data.

The real dvc.yaml, stages and params.yaml (every group as shipped except the sizes), in a
fresh git repository: seconds-scale end-to-end runs of the whole DAG for the tests and the
pipeline benchmark, without touching the workspace's outputs or dvc.lock.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from openparts import atomic

REPO = Path(__file__).resolve().parents[1]


def tiny_params(iterations: int = 2, images: int = 4) -> dict[str, Any]:
    """The project's params.yaml on the tiny preset: `iterations` training and fine-tuning steps,
    `images` training pictures (one fewer unlabeled and test ones, two dev ones)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preset"] = "tiny"
    params["overrides"] = {"train.iterations": iterations, "finetune.iterations": iterations}
    sizes = {"train": ("seen", images, 0), "dev": ("seen", 2, 3), "unlabeled": ("unseen", images - 1, 1), "test": ("unseen", images - 1, 2)}
    params["data"]["demo"] = {name: {"split": s, "count": c, "seed": seed, "size": 64} for name, (s, c, seed) in sizes.items()}
    params["evaluate"] = {
        "baselines": ["felzenszwalb"],
        "dev_images": 2,
        "post_aware": True,
        "baseline_store": params["evaluate"]["baseline_store"],
    }
    return params


def make_project(folder: Path, params: dict[str, Any] | None = None, commit: bool = False) -> Path:
    """dvc.yaml, .dvc, src and `params` (default: `tiny_params()`) in the new folder `folder`;
    `commit` makes the first commit (`dvc exp run` needs one)."""
    if shutil.which("git") is None:
        raise RuntimeError("a DVC project needs git, which is not on PATH")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_directory(folder) as staging:  # a half-copied project never appears
        for name in ("dvc.yaml", ".dvcignore"):
            shutil.copy(REPO / name, staging / name)  # atomic-ok: inside the staging folder
        ignore = shutil.ignore_patterns("cache", "tmp", "config.local", "__pycache__", "*.egg-info")
        for name in (".dvc", "src"):
            shutil.copytree(REPO / name, staging / name, ignore=ignore)  # atomic-ok: inside the staging folder
        atomic.write_text(staging / "params.yaml", yaml.safe_dump(params or tiny_params()))
        (staging / "data" / "unlabeled").mkdir(parents=True)
        shutil.copy(REPO / "data" / "unlabeled" / "README.md", staging / "data" / "unlabeled")  # atomic-ok: inside the staging folder
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    if commit:
        for key, value in (("user.name", "openparts"), ("user.email", "openparts@openparts.invalid")):
            subprocess.run(["git", "config", key, value], cwd=folder, check=True)
        subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "tiny project"], cwd=folder, check=True)
    return folder
