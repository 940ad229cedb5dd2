"""Stage 2: class-agnostic training of the base model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts import tracking
from openparts.engine.supervised import train_supervised
from openparts.stages.curves import write_loss_curve
from openparts.stages.manifest import artifact, resumable_checkpoints, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: data (an object_masks output; more as data_2, data_3 ...). Checkpoints live in
    `<out_dir>.checkpoints/<fingerprint>` so that a rerun of the same work after a kill resumes."""
    datasets = [artifact(path, "dataset") for role, path in sorted(inputs.items()) if role.startswith("data")]
    recorded = {"config": params["config"]}
    with resumable_checkpoints(out_dir, inputs, recorded) as checkpoints, stage_output("train", out_dir, inputs, recorded) as staging:
        train_supervised(datasets, staging / "model", params["config"], tracking.training_callback(), checkpoints)
        write_loss_curve(staging / "model", staging / "loss.csv")
    return out_dir
