"""Stage 5: joint fine-tuning with pseudo labels and pseudo parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts import tracking
from openparts.engine.finetune import finetune
from openparts.stages.curves import write_loss_curve
from openparts.stages.manifest import artifact, resumable_checkpoints, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: model (train output), labeled (object_masks output; more as labeled_2, labeled_3 ...,
    as train takes data_2 ...: fine-tuning keeps every source the base model learnt from),
    pseudo_labels, unlabeled (object_masks output), pseudo_parts (cluster_features output; not
    needed online)."""
    config = params["config"]
    section = config["finetune"]
    pseudo_labeled = [artifact(inputs["pseudo_labels"], "dataset")] if "st" in section["mode"] else []
    offline = "ss" in section["mode"] and section["clustering"] == "offline"
    recorded = {"config": config}
    with resumable_checkpoints(out_dir, inputs, recorded) as checkpoints, stage_output("finetune", out_dir, inputs, recorded) as staging:
        finetune(
            artifact(inputs["model"], "model"),
            staging / "model",
            config,
            labeled=[artifact(path, "dataset") for role, path in sorted(inputs.items()) if role.startswith("labeled")],
            pseudo_labeled=pseudo_labeled,
            unlabeled=artifact(inputs["unlabeled"], "dataset"),
            pseudo_parts=artifact(inputs["pseudo_parts"], "pseudo_parts") if offline else None,
            callback=tracking.training_callback(),
            checkpoint_dir=checkpoints,
        )
        write_loss_curve(staging / "model", staging / "loss.csv")
    return out_dir
