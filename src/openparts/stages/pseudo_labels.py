"""Stage 3: pseudo labels on the unlabeled images (self-training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts.engine.unlabeled import generate_pseudo_labels
from openparts.model import load_model
from openparts.stages.manifest import artifact, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: model (a train output), data (the unlabeled object_masks output)."""
    model = load_model(artifact(inputs["model"], "model"))
    config = params["config"]
    with stage_output("pseudo_labels", out_dir, inputs, {"config": config}) as staging:
        section = config["finetune"]
        generate_pseudo_labels(
            model,
            artifact(inputs["data"], "dataset"),
            staging / "dataset",
            config["predict"],
            section["pseudo_label_score"],
            masks=section["pseudo_label_masks"],
        )
    return out_dir
