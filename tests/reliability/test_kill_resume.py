"""SIGKILL at random points of every stage: training resumes from its last complete checkpoint
and ends bit-identical to an uninterrupted run; any other stage leaves nothing a later stage
would accept, and its rerun completes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from openparts.data import synth
from openparts.stages import run
from openparts.stages.manifest import IncompleteInputError, artifact, read_manifest

KILLER = Path(__file__).with_name("killer.py")
PARAMS = {
    "preset": "tiny",
    "overrides": {"train.iterations": 8, "train.checkpoint_every": 2, "finetune.iterations": 6, "finetune.mode": "ss+st"},
    "evaluate": {"baselines": ["felzenszwalb"], "dev_images": 2, "post_aware": True},
    "object_masks": {"method": "gt"},
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Tiny inputs for every stage, made in-process once: object masks, a base model, pseudo labels and parts."""
    environment = pytest.MonkeyPatch()
    environment.setenv("OPENPARTS_TRACKING", "off")
    root = tmp_path_factory.mktemp("reliability")
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    from openparts.stages.params import stage_params

    def params(stage: str) -> dict:
        return stage_params(root / "params.yaml", stage)

    paths = {"root": root, "params": root / "params.yaml"}
    raw = {
        "train": synth.generate(root / "raw" / "train", count=4, seed=0, size=64),
        "unlabeled": synth.generate(root / "raw" / "unlabeled", count=3, split="unseen", seed=1, size=64),
        "test": synth.generate(root / "raw" / "test", count=3, split="unseen", seed=2, size=64),
    }
    paths["raw_test"] = raw["test"]
    for name, folder in raw.items():
        paths[name] = run("object_masks", {"data": folder}, params("object_masks"), root / "masks" / name)
    paths["model"] = run("train", {"data": paths["train"]}, params("train"), root / "model")
    inputs = {"model": paths["model"], "data": paths["unlabeled"]}
    paths["pseudo_labels"] = run("pseudo_labels", inputs, params("pseudo_labels"), root / "pseudo_labels")
    paths["pseudo_parts"] = run("cluster_features", inputs, params("cluster_features"), root / "pseudo_parts")
    yield paths
    environment.undo()


def openparts(work: dict[str, Path], stage: str, inputs: dict[str, Path], out: Path, **fault: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(KILLER), "stage", stage, "--out", str(out), "--params", str(work["params"])]
    for role, path in inputs.items():
        command += ["--input", f"{role}={path}"]
    environment = {**os.environ, "OPENPARTS_TRACKING": "off", **{f"OPENPARTS_KILL_{k.upper()}": v for k, v in fault.items()}}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600, check=False)


def killed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == -signal.SIGKILL


def unaccepted(out: Path, name: str) -> bool:
    """True when a later stage would refuse `out` as input (no folder, or no manifest)."""
    try:
        artifact(out, name)
    except (IncompleteInputError, FileNotFoundError):
        return True
    return False


def training_inputs(work: dict[str, Path], stage: str) -> dict[str, Path]:
    if stage == "train":
        return {"data": work["train"]}
    return {
        "model": work["model"],
        "labeled": work["train"],
        "pseudo_labels": work["pseudo_labels"],
        "unlabeled": work["unlabeled"],
        "pseudo_parts": work["pseudo_parts"],
    }


# one random kill each (train: step 7, after a checkpoint; finetune: step 1, before any), besides the
# kill inside a checkpoint: both stages share the trainer, and every kill is two CLI runs of the suite's time
@pytest.mark.parametrize("stage,seed", [("train", 0), ("finetune", 2)])
def test_training_killed_anywhere_resumes_to_the_same_weights(work: dict, tmp_path: Path, stage: str, seed: int) -> None:
    inputs = training_inputs(work, stage)
    reference = tmp_path / "uninterrupted"
    assert openparts(work, stage, inputs, reference).returncode == 0
    weights = (reference / "model" / "model.safetensors").read_bytes()
    iterations = PARAMS["overrides"]["train.iterations" if stage == "train" else "finetune.iterations"]
    faults = [{"at_step": str(random.Random(seed).randrange(1, iterations))}, {"in_checkpoint": "1"}]
    for index, fault in enumerate(faults):
        out = tmp_path / f"run-{index}"
        first = openparts(work, stage, inputs, out, **fault)
        assert killed(first), f"{fault}: {first.returncode} {first.stderr[-2000:]}"
        assert unaccepted(out, "model"), f"{fault}: a killed {stage} left an output a later stage would take"
        second = openparts(work, stage, inputs, out)
        assert second.returncode == 0, second.stderr[-3000:]
        assert (out / "model" / "model.safetensors").read_bytes() == weights, f"{fault}: resumed weights differ"
        assert read_manifest(out)["output_sha256"] == read_manifest(reference)["output_sha256"]
        assert not out.with_name(out.name + ".checkpoints").exists()  # crash insurance removed once done
        step, every = int(fault.get("at_step", 0)), PARAMS["overrides"]["train.checkpoint_every"]
        if step > every:  # killed after the optimizer step, before that step's checkpoint: the one before it is the last complete
            assert f"(step {every * ((step - 1) // every)})" in second.stderr, f"{fault}: did not resume from the last checkpoint"
        elif "in_checkpoint" in fault:  # the checkpoint being written is incomplete: the run starts afresh
            assert "resuming from" not in second.stderr


@pytest.mark.parametrize(
    "stage,artifact_name,write",
    [("object_masks", "dataset", 2), ("pseudo_labels", "dataset", 2), ("cluster_features", "pseudo_parts", 2), ("evaluate", "", 3)],
)
def test_other_stages_killed_leave_nothing_acceptable_and_rerun(
    work: dict[str, Path], tmp_path: Path, stage: str, artifact_name: str, write: int
) -> None:
    inputs = {
        "object_masks": {"data": work["raw_test"]},
        "pseudo_labels": {"model": work["model"], "data": work["unlabeled"]},
        "cluster_features": {"model": work["model"], "data": work["unlabeled"]},
        "evaluate": {"model": work["model"], "test": work["test"], "dev": work["train"]},
    }[stage]
    out = tmp_path / stage
    first = openparts(work, stage, inputs, out, at_write=str(write))
    assert killed(first), first.stderr[-2000:]
    if artifact_name:
        assert unaccepted(out, artifact_name)
    assert not (out / "manifest.json").exists()
    second = openparts(work, stage, inputs, out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert read_manifest(out)["stage"] == stage
    assert not [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".openparts-tmp-")], (
        "the rerun left the killed run's debris"
    )
    if stage == "evaluate":
        assert any(key.endswith("/model/AP") for key in json.loads((out / "metrics.json").read_text()))


def test_sigterm_marks_the_stage_run_killed_and_the_rerun_resumes(work: dict[str, Path], tmp_path: Path) -> None:
    """SIGTERM (a node drained, a pod evicted) while train runs: the MLflow run says KILLED,
    no output is accepted, and the same command resumes from the checkpoint."""
    import time

    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "model"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**PARAMS, "overrides": {**PARAMS["overrides"], "train.iterations": 60}}))
    command = [
        sys.executable,
        str(KILLER),
        "stage",
        "train",
        "--input",
        f"data={work['train']}",
        "--out",
        str(out),
        "--params",
        str(params),
    ]
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_EXPERIMENT_NAME": "sigterm"}
    environment.pop("OPENPARTS_TRACKING", None)
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("model.checkpoints/*/step_*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode != 0 and unaccepted(out, "model"), "train ended before the signal: raise train.iterations"
    client = MlflowClient(store)
    (stage_run,) = client.search_runs([client.get_experiment_by_name("sigterm").experiment_id])
    assert stage_run.info.status == "KILLED"
    rerun = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    assert rerun.returncode == 0 and "resuming from" in rerun.stderr, rerun.stderr[-2000:]
    assert read_manifest(out)["stage"] == "train"
