"""The local orchestrator: `dvc repro` runs the six stages, skips what did not change, and
reruns only what depends on new unlabeled data."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

TINY = {
    "preset": "tiny",
    "overrides": {"train.iterations": 2, "finetune.iterations": 2},
    "data": {
        "demo": {
            "train": {"split": "seen", "count": 4, "seed": 0, "size": 64},
            "dev": {"split": "seen", "count": 2, "seed": 3, "size": 64},
            "unlabeled": {"split": "unseen", "count": 3, "seed": 1, "size": 64},
            "test": {"split": "unseen", "count": 3, "seed": 2, "size": 64},
        }
    },
    "object_masks": {"method": "gt", "checkpoint": None},
    "evaluate": {"baselines": ["felzenszwalb"], "dev_images": 2, "post_aware": True},
}


def repro(folder: Path) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    environment = {**os.environ, "PATH": path, "OPENPARTS_TRACKING": "off"}  # tracking has its own tests
    dvc = Path(sys.executable).parent / "dvc"
    result = subprocess.run([str(dvc), "repro"], cwd=folder, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("dvc needs git here")
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / ".dvc", folder / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (folder / "params.yaml").write_text(yaml.safe_dump(TINY))
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    return folder


def test_pipeline_runs_skips_and_reruns_only_what_new_unlabeled_data_touches(project: Path) -> None:
    first = repro(project)
    assert {"train", "pseudo_labels", "cluster_features", "finetune", "evaluate"} <= ran(first)
    metrics = yaml.safe_load((project / "outputs" / "metrics.json").read_text())
    assert "demo-test/model/AP" in metrics and "demo-test/felzenszwalb/mIoU" in metrics
    assert (project / "outputs" / "evaluate" / "report.html").is_file()
    assert ran(repro(project)) == set()
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["demo"]["unlabeled"]["count"] = 4  # new unlabeled images land
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert ran(repro(project)) == {
        "demo_data@unlabeled",
        "object_masks@unlabeled",
        "pseudo_labels",
        "cluster_features",
        "finetune",
        "evaluate",
    }
