"""Stage 6: evaluation report: metrics.json, predictions, overlays, report.html."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from openparts import atomic, tracking
from openparts.data.dataset import PartDataset, dataset_key
from openparts.engine.predict import Predictor
from openparts.evaluation.ablation import object_awareness
from openparts.evaluation.baseline_store import BaselineStore
from openparts.evaluation.report import write_report
from openparts.model import load_model
from openparts.objects import make_masker
from openparts.objects.apply import write_with_object_masks
from openparts.stages.manifest import artifact, stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: model (train or finetune output), base (optional: the base model, scored beside
    it as `base`), test (object_masks output; more as test_2 ...), dev (object_masks output on
    which baselines are tuned; optional). params: evaluate.baselines, evaluate.post_aware,
    evaluate.dev_images, evaluate.imperfect_masks (a method: each test set is also scored with
    the object masks it predicts, keyed `<set>-<method>`, against the set's own parts),
    evaluate.ablation (true: the object-awareness rows of Table 2 this model can fill, keyed
    `<set>/ablation/<row>/AP`), evaluate.register ({name, gate}: register the model in MLflow's
    registry when its gate metric beats the registered version's), evaluate.baseline_store (a
    folder where the baselines' parameters and segments are kept for the next evaluation: they
    depend on no model; null: made anew each time)."""
    group = params.get("evaluate", {})
    model = load_model(artifact(inputs["model"], "model"))
    predict_config = {**params["config"]["predict"], "post_aware": bool(group.get("post_aware", False))}
    datasets = [PartDataset.open(artifact(path, "dataset")) for role, path in sorted(inputs.items()) if role.startswith("test")]
    dev = PartDataset.open(artifact(inputs["dev"], "dataset")) if "dev" in inputs else None
    baselines = tuple(group.get("baselines", ())) if dev is not None else ()
    output = stage_output("evaluate", out_dir, inputs, {"config": params["config"], "evaluate": group})
    with output as staging, tempfile.TemporaryDirectory(prefix="openparts-imperfect-") as scratch:
        copies = _imperfect_copies(datasets, group, Path(scratch))
        scored = [*datasets, *copies.values()]
        predictor = Predictor(model, predict_config)
        predictions = {dataset_key(d): predictor.predict_dataset(d) for d in scored}
        others = {}
        if "base" in inputs:
            base = Predictor(load_model(artifact(inputs["base"], "model")), predict_config)
            others["base"] = {dataset_key(d): base.predict_dataset(d) for d in scored}
        truth = {dataset_key(copies[dataset_key(d)]): d for d in datasets if dataset_key(d) in copies}
        metrics = write_report(
            staging,
            scored,
            predictions,
            "model",
            baselines,
            dev,
            int(group.get("dev_images", 20)),
            others=others,
            truth=truth,
            store=BaselineStore(group.get("baseline_store")),
        )
        if group.get("ablation"):
            for original in datasets:
                imperfect = copies.get(dataset_key(original))
                # the model column is one of the rows already: pre(+post), given or predicted masks
                setting = "pre+post" if predict_config["post_aware"] else "pre"
                known = {f"{setting}-perfect": predictions[dataset_key(original)]}
                if imperfect is not None:
                    known[f"{setting}-imperfect"] = predictions[dataset_key(imperfect)]
                rows = object_awareness([model], original, imperfect, params["config"]["predict"], known=known)
                for row, values in rows.items():
                    for name in ("AP", "AP50"):
                        metrics[f"{dataset_key(original)}/ablation/{row}/{name}"] = values[name]
            atomic.write_json(staging / "metrics.json", dict(sorted(metrics.items())))
    register = group.get("register") or {}
    if register:
        tracking.register_if_better(artifact(inputs["model"], "model"), metrics, register["name"], register["gate"])
    return out_dir


def _imperfect_copies(datasets: list[PartDataset], group: dict[str, Any], scratch: Path) -> dict[str, PartDataset]:
    """{test set key: the same set with object masks predicted by evaluate.imperfect_masks}."""
    method = group.get("imperfect_masks")
    if not method:
        return {}
    masker = make_masker(method, group.get("imperfect_checkpoint"))
    copies = {}
    for index, dataset in enumerate(datasets):
        key = dataset_key(dataset)
        folder = write_with_object_masks(dataset.root, scratch / str(index), masker, method, name=f"{key}-{method}")
        copies[key] = PartDataset.open(folder)
    return copies
