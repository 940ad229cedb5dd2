"""The local orchestrator: `dvc repro` runs the six stages, skips what did not change, and
reruns only what depends on new unlabeled data."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from openparts.data.dataset import PartDataset
from pipelines.scratch import make_project


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
    return make_project(tmp_path / "project")


def stamps(project: Path) -> dict[str, int]:
    """When each output folder was last written: a rerun stage replaces its folder's marker file."""
    markers = {"unlabeled_pool": "outputs/unlabeled_pool/annotations.json", "evaluate": "outputs/evaluate/manifest.json"}
    markers.update({f"object_masks@{name}": f"outputs/object_masks/{name}/manifest.json" for name in ("train", "dev", "unlabeled", "test")})
    markers.update({stage: f"outputs/{stage}/manifest.json" for stage in ("train", "pseudo_labels", "cluster_features", "finetune")})
    return {stage: (project / marker).stat().st_mtime_ns for stage, marker in markers.items()}


def drop_pictures(folder: Path) -> None:
    """Two real photos (scikit-image's bundled ones) land in the drop zone, one in a sub-folder."""
    from PIL import Image
    from skimage import data

    (folder / "batch-1").mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).resize((64, 64)).save(folder / "astronaut.jpg", quality=90)
    Image.fromarray(data.coffee()).resize((80, 64)).save(folder / "batch-1" / "coffee.png")


def test_pipeline_runs_skips_and_reruns_only_what_new_unlabeled_data_touches(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openparts.cli import main as openparts
    from pipelines.__main__ import main

    first = repro(project)
    assert {"train", "pseudo_labels", "cluster_features", "finetune", "evaluate"} <= ran(first)
    metrics = yaml.safe_load((project / "outputs" / "metrics.json").read_text())
    assert "demo-test/model/AP" in metrics and "demo-test/felzenszwalb/mIoU" in metrics and "demo-test/base/AP" in metrics
    assert (project / "outputs" / "evaluate" / "report.html").is_file()
    curve = (project / "outputs" / "train" / "loss.csv").read_text().splitlines()
    assert curve[0].startswith("step,") and "loss" in curve[0].split(",") and len(curve) == 1 + 2
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "plots", "show", "--json"], cwd=project, capture_output=True, text=True
    )
    plots = json.loads(shown.stdout)["data"] if shown.returncode == 0 else shown.stderr
    assert {"base training loss", "fine-tuning loss"} <= set(plots), plots
    assert ran(repro(project)) == set()
    before = stamps(project)
    monkeypatch.setenv("OPENPARTS_TRACKING", "off")
    assert main(["repro", "--workdir", str(project)]) == 0  # make run: nothing changed, nothing rerun
    assert stamps(project) == before
    # a rewrite renames a new file into place (a new inode); a read only sets the time of last use
    kept = {path: path.stat().st_ino for path in (project / "outputs" / "baseline_store").rglob("*.json")}
    assert {path.parent.name for path in kept} == {"tuned", "segments"}
    drop_pictures(project / "data" / "unlabeled")
    watch = ["watch", "--once", "--workdir", str(project), "--drop", str(project / "data" / "unlabeled")]
    assert main([*watch, "--state", str(project / "outputs" / "watch.json")]) == 0
    after = stamps(project)
    rerun = {stage for stage in before if after[stage] != before[stage]}
    assert rerun == {"unlabeled_pool", "object_masks@unlabeled", "pseudo_labels", "cluster_features", "finetune", "evaluate"}
    # the new model is evaluated beside the baselines the last run kept: none segmented again
    assert {path: path.stat().st_ino for path in (project / "outputs" / "baseline_store").rglob("*.json")} == kept
    again = yaml.safe_load((project / "outputs" / "metrics.json").read_text())
    assert {k: v for k, v in again.items() if "felzenszwalb/" in k} == {k: v for k, v in metrics.items() if "felzenszwalb/" in k}
    pool = PartDataset.open(project / "outputs" / "object_masks" / "unlabeled" / "dataset")
    assert len(pool) == 3 + 2 and [record["object_mask_source"] for record in pool.images][-2:] == ["salient", "salient"]
    assert main([*watch, "--state", str(project / "outputs" / "watch.json")]) == 0
    assert stamps(project) == after  # nothing new: the watcher leaves everything alone
    # the store is evaluate's cache, not an output DVC tracks: pruning it reruns nothing
    store = project / "outputs" / "baseline_store"
    assert openparts(["baseline-store", "prune", str(store), "--unused-days", "0"]) == 0 and not list(store.rglob("*.json"))
    assert ran(repro(project)) == set()
    # a fine-tuning setting reruns fine-tuning and evaluation, never the base model or its pseudo labels
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["overrides"]["finetune.learning_rate"] = 3e-5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert ran(repro(project)) == {"configs", "finetune", "evaluate"}
    recorded = json.loads((project / "outputs" / "train" / "manifest.json").read_text())["params"]["config"]
    assert set(recorded) == {"model", "train"}  # what training reads, and no more
