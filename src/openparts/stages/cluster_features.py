"""Stage 4: pseudo parts by K-means on the base model's features (offline clustering)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts.engine.unlabeled import cluster_features
from openparts.model import load_model
from openparts.stages.manifest import artifact, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: model (a train output), data (the unlabeled object_masks output)."""
    model = load_model(artifact(inputs["model"], "model"))
    config = params["config"]
    with stage_output("cluster_features", out_dir, inputs, {"config": config}) as staging:
        cluster_features(
            model, artifact(inputs["data"], "dataset"), staging / "pseudo_parts", config["predict"], config["finetune"]["k"],
            config["train"]["seed"],
        )  # fmt: skip
    return out_dir
