"""Stage 6: evaluation report: metrics.json, predictions, overlays, report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts import tracking
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.report import dataset_key, write_report
from openparts.model import load_model
from openparts.stages.manifest import artifact, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: model (train or finetune output), test (object_masks output; more as test_2 ...),
    dev (object_masks output on which baselines are tuned; optional). params: evaluate.baselines,
    evaluate.post_aware, evaluate.dev_images, evaluate.register ({name, gate}: register the
    model in MLflow's registry when its gate metric beats the registered version's)."""
    group = params.get("evaluate", {})
    model = load_model(artifact(inputs["model"], "model"))
    predict_config = {**params["config"]["predict"], "post_aware": bool(group.get("post_aware", False))}
    predictor = Predictor(model, predict_config)
    datasets = [PartDataset.open(artifact(path, "dataset")) for role, path in sorted(inputs.items()) if role.startswith("test")]
    dev = PartDataset.open(artifact(inputs["dev"], "dataset")) if "dev" in inputs else None
    baselines = tuple(group.get("baselines", ())) if dev is not None else ()
    with stage_output("evaluate", out_dir, inputs, {"config": params["config"], "evaluate": group}) as staging:
        predictions = {dataset_key(d): predictor.predict_dataset(d) for d in datasets}
        metrics = write_report(staging, datasets, predictions, "model", baselines, dev, int(group.get("dev_images", 20)))
    register = group.get("register") or {}
    if register:
        tracking.register_if_better(artifact(inputs["model"], "model"), metrics, register["name"], register["gate"])
    return out_dir
