"""Score models on a dataset (AP/AP50 + oracle mIoU) and write JSON: used by the device run."""

import json
import sys

from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.evaluation.semantic import evaluate_semantic
from openparts.model import load_model

data, out, *models = sys.argv[1:]
dataset = PartDataset.open(data)
rows = {}
for spec in models:
    name, folder = spec.split("=")
    model = load_model(folder)
    predictions = Predictor(model, model.description["config"]["predict"]).predict_dataset(dataset, progress=False)
    rows[name] = {**evaluate_instances(dataset, predictions), **evaluate_semantic(dataset, predictions)}
    print(name, {k: rows[name][k] for k in ("AP", "AP50", "mIoU")}, flush=True)
with open(out, "w") as handle:
    json.dump(rows, handle, indent=1)
